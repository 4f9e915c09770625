"""The API fuzzed with schemathesis against its own OpenAPI schema: no request may cause a server error."""

import json

import pytest
import schemathesis
from django.core.serializers.json import DjangoJSONEncoder
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

_spec = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), cls=DjangoJSONEncoder))
schema = schemathesis.openapi.from_dict(_spec)
schema.app = get_wsgi_application()


@pytest.fixture
def keep_test_connection():
    """Like Django's test client: the raw WSGI app must not close the test transaction's connection."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(keep_test_connection, make_user, open_case, entity_a, account_a, account_b, entity_b):
    user = make_user("treasury", all_entities=True, username="fuzzer")
    open_case(account_a, entity=entity_a, amount="250.00", currency="EUR")
    open_case(account_b, kind="statement.gap", entity=entity_b)
    return Token.objects.create(user=user).key


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_with_a_server_error(case, token):
    response = case.call(headers={"Authorization": f"Token {token}"})
    case.validate_response(response, checks=[not_a_server_error])
