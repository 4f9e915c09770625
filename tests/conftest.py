"""Shared fixtures: users per role with entity access, organisation records, cases."""

from __future__ import annotations

import itertools
from decimal import Decimal

import factory
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from apps.core.roles import roles_sync
from apps.org import services as org_services
from apps.org.models import BankAccount, BankPartner, LegalEntity

_seq = itertools.count(1)


class EntityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LegalEntity
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"E{n:03d}")
    name = factory.LazyAttribute(lambda o: f"Entity {o.code}")
    country = "DE"
    base_currency = "EUR"


class BankPartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BankPartner
        django_get_or_create = ("code",)

    code = "DEUT"
    name = "Deutsche Bank"
    bic = "DEUTDEFFXXX"


IBANS = ["DE89370400440532013000", "DE65100700000123456789", "DE12500400000987654321", "DE12100700000555444333"]


class BankAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BankAccount

    entity = factory.SubFactory(EntityFactory)
    bank = factory.SubFactory(BankPartnerFactory)
    iban = factory.Sequence(lambda n: IBANS[n % len(IBANS)])
    currency = "EUR"
    name = factory.Sequence(lambda n: f"Account {n}")


@pytest.fixture
def roles(db):
    roles_sync()


@pytest.fixture
def make_user(roles):
    def make(role: str | None = None, *, entities=(), all_entities: bool = False, username: str | None = None,
             password: str = "correct-horse-battery"):
        user = get_user_model().objects.create_user(
            username=username or f"{role or 'user'}{next(_seq)}", password=password
        )
        if role:
            user.groups.add(Group.objects.get(name=role))
        org_services.access_grant(user=user, entities=list(entities), all_entities=all_entities)
        return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions

    return make


@pytest.fixture
def entity_a(db):
    return EntityFactory(code="DE01", name="Acme GmbH", country="DE", base_currency="EUR")


@pytest.fixture
def entity_b(db):
    return EntityFactory(code="US01", name="Acme Inc.", country="US", base_currency="USD")


@pytest.fixture
def bank_partner(db):
    return BankPartnerFactory()


@pytest.fixture
def account_a(entity_a):
    return BankAccountFactory(entity=entity_a, iban="DE89370400440532013000")


@pytest.fixture
def account_b(entity_b):
    return BankAccountFactory(
        entity=entity_b, iban=None, account_number="000123456789", routing_code="021000021", currency="USD",
        bank=BankPartnerFactory(code="CHAS", name="JPMorgan Chase", bic="CHASUS33XXX"),
    )


@pytest.fixture
def open_case():
    """Open a case through the service, as the owning apps do."""
    from apps.exceptions.services import case_open

    def make(subject, *, kind="statement.unbalanced", entity=None, amount=None, currency="", message=None, **kw):
        case, _ = case_open(
            kind=kind, subject=subject, legal_entity=entity, amount=Decimal(amount) if amount else None,
            currency=currency, message=message or f"{kind} for {subject}", **kw,
        )
        return case

    return make


@pytest.fixture
def api_client():
    def make(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def no_connector_wait(monkeypatch):
    """Connector retries and file-settle pauses without real sleeping (jitter at its lowest)."""
    from apps.connectors import resilience

    class NoWait:
        def sleep(self, seconds: float) -> None:
            pass

        def uniform(self, low: float, high: float) -> float:
            return low

    monkeypatch.setattr(resilience, "clock", NoWait())
