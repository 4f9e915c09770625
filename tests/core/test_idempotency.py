"""Idempotency-Key: replay, mismatch, scope, and 20 concurrent identical POSTs with exactly one effect."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rest_framework.authtoken.models import Token

from apps.core.models import Event, IdempotencyKey


@pytest.fixture
def clerk(make_user, entity_a):
    return make_user("ap_clerk", entities=[entity_a], username="clara")


@pytest.fixture
def case(open_case, account_a, entity_a):
    return open_case(account_a, entity=entity_a)


def assign(client, case, key, assignee="clara", reason=""):
    return client.post(
        f"/api/v1/cases/{case.pk}/assign/", {"assignee": assignee, "reason": reason}, format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_same_key_same_body_returns_the_first_response(api_client, clerk, case):
    client = api_client(clerk)
    first = assign(client, case, "k-1")
    second = assign(client, case, "k-1")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert Event.objects.filter(type="case.assigned").count() == 1


def test_same_key_different_body_is_422(api_client, clerk, case):
    client = api_client(clerk)
    assert assign(client, case, "k-2", reason="first").status_code == 200
    response = assign(client, case, "k-2", reason="second")
    assert response.status_code == 422
    assert "different request body" in response.json()["message"]
    assert Event.objects.filter(type="case.assigned").count() == 1


def test_key_is_scoped_per_endpoint_and_per_user(api_client, clerk, make_user, entity_a, case):
    client = api_client(clerk)
    assert assign(client, case, "shared").status_code == 200
    start = client.post(f"/api/v1/cases/{case.pk}/start/", {}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert start.status_code == 200 and start.json()["status"] == "in_progress"
    other = make_user("ap_clerk", entities=[entity_a])
    response = assign(api_client(other), case, "shared", assignee=other.username)
    assert response.status_code == 200 and response.json()["assignee"] == other.username
    assert IdempotencyKey.objects.filter(key="shared").count() == 3


def test_in_flight_duplicate_is_409(api_client, clerk, case):
    from apps.core.idempotency import fingerprint

    body = json.dumps({"assignee": "clara", "reason": ""}).encode()
    # A first request with this key and body has claimed it and is still running (fingerprint rule: sha256 of
    # the body's sha256, see apps.core.api.idempotency).
    IdempotencyKey.objects.create(
        user=clerk, key="k-3", method="POST", path=f"/api/v1/cases/{case.pk}/assign/",
        fingerprint=fingerprint(fingerprint(body).encode()),
    )
    response = api_client(clerk).post(
        f"/api/v1/cases/{case.pk}/assign/", data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-3"
    )
    assert response.status_code == 409
    assert "still being processed" in response.json()["message"]
    assert not Event.objects.filter(type="case.assigned").exists()


def test_server_error_releases_the_key(api_client, clerk, case, monkeypatch):
    from apps.exceptions import services

    def boom(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "case_assign", boom)
    response = assign(api_client(clerk), case, "k-4")
    assert response.status_code == 500
    assert response.json()["message"].startswith("Internal error")
    assert "database went away" not in response.content.decode()
    assert not IdempotencyKey.objects.filter(key="k-4").exists()


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_identical_posts_have_exactly_one_effect(live_server, make_user, entity_a, open_case,
                                                                   account_a):
    clerk = make_user("ap_clerk", entities=[entity_a], username="clara")
    case = open_case(account_a, entity=entity_a)
    token = Token.objects.create(user=clerk).key
    url = f"{live_server.url}/api/v1/cases/{case.pk}/assign/"
    body = json.dumps({"assignee": "clara", "reason": "taking it"})
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Idempotency-Key": "same-key"}

    def post(_):
        return requests.post(url, data=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(post, range(20)))

    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 409}, statuses
    assert statuses.count(200) >= 1
    assert Event.objects.filter(type="case.assigned").count() == 1
    assert case.history.filter(history_change_reason="taking it").count() == 1
    # Once the first finished, the same request replays its response.
    replay = requests.post(url, data=body, headers=headers, timeout=30)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert Event.objects.filter(type="case.assigned").count() == 1


def test_a_response_echoing_a_nul_character_is_still_stored(api_client, clerk, case):
    response = api_client(clerk).post(
        f"/api/v1/cases/{case.pk}/assign/", {"assignee": "clara", "bad\x00field": 1}, format="json",
        HTTP_IDEMPOTENCY_KEY="nul",
    )
    assert response.status_code == 400
    stored = IdempotencyKey.objects.get(key="nul")
    assert stored.state == "completed" and stored.response_status == 400
