"""API and console: who may do what, the secret shown once and nowhere else, replay over HTMX, the failing case."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from apps.core.models import Event, IdempotencyKey
from apps.exceptions.models import CaseStatus, ExceptionCase
from apps.webhooks.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription
from apps.webhooks.services import webhook_delivery_replay, webhook_delivery_send, webhook_health_check_all

SUBS = "/api/v1/webhook-subscriptions/"
DELIVERIES = "/api/v1/webhook-deliveries/"


def _create_body(receiver, name="erp", **kw) -> dict:
    return {"name": name, "url": receiver.url, "event_types": ["case.*"], "reason": "ERP integration", **kw}


def _everything_stored() -> str:
    parts = []
    for model in (Event, IdempotencyKey, WebhookSubscription.history.model, WebhookDelivery,
                  WebhookDelivery.history.model, DeliveryAttempt, ExceptionCase):
        for row in model.objects.all().values():
            parts.append(json.dumps(row, cls=DjangoJSONEncoder, default=str))
    for row in WebhookSubscription.objects.all().values():
        row.pop("secret_ciphertext")
        parts.append(json.dumps(row, cls=DjangoJSONEncoder, default=str))
    return "\n".join(parts)


def test_secret_shown_once_and_never_again(db, make_user, api_client, client, receiver, relay_event, caplog):
    caplog.set_level(logging.DEBUG)
    admin = make_user("admin", all_entities=True, username="boss")
    auditor = make_user("auditor", all_entities=True)
    api = api_client(admin)
    created = api.post(SUBS, _create_body(receiver), format="json", HTTP_IDEMPOTENCY_KEY="create-erp-1")
    assert created.status_code == 201 and "no-store" in created["Cache-Control"]
    secret = created.json()["secret"]
    sub_id = created.json()["id"]
    assert secret.startswith("whsec_") and len(secret) > 40
    sub = WebhookSubscription.objects.get(pk=sub_id)
    assert secret.encode() not in bytes(sub.secret_ciphertext) and bytes(sub.secret_ciphertext).startswith(b"gAAAAA")
    assert sub.created_by == admin
    # an Idempotency-Key replay answers without the secret
    again = api.post(SUBS, _create_body(receiver), format="json", HTTP_IDEMPOTENCY_KEY="create-erp-1")
    assert again["Idempotent-Replayed"] == "true" and again.json()["secret"] is None
    assert WebhookSubscription.objects.count() == 1
    # rotation shows the new one once
    rotated = api.post(f"{SUBS}{sub_id}/rotate-secret/", {"reason": "leaked in a ticket"}, format="json")
    new_secret = rotated.json()["secret"]
    assert rotated.status_code == 200 and new_secret != secret
    # deliveries, attempts, failures: signed with the new secret, which appears nowhere
    receiver.fail(1, status=500, body=b"boom")
    delivery = WebhookDelivery.objects.get(event_id=relay_event("case.opened").pk)
    webhook_delivery_send(delivery_id=delivery.pk)
    webhook_delivery_send(delivery_id=delivery.pk, now=timezone.now() + timedelta(hours=1))
    assert [r["status"] for r in receiver.requests] == [500, 200]

    answers = [
        api.get(SUBS).content, api.get(f"{SUBS}{sub_id}/").content, api.get(DELIVERIES).content,
        api.get(f"{DELIVERIES}{delivery.pk}/").content, api_client(auditor).get(SUBS).content,
        api.patch(f"{SUBS}{sub_id}/", {"name": "erp-2", "reason": "rename"}, format="json").content,
        api.post(f"{SUBS}{sub_id}/deactivate/", {}, format="json").content,
    ]
    client.force_login(admin)
    for url in ("/webhooks/", f"/webhooks/{sub_id}/", "/webhooks/deliveries/", f"/webhooks/deliveries/{delivery.pk}/"):
        page = client.get(url)
        assert page.status_code == 200, url
        answers.append(page.content)
    for text in (secret, new_secret):
        for answer in answers:
            assert text.encode() not in answer
        assert text not in caplog.text
        assert text not in _everything_stored()
    history = list(WebhookSubscription.history.filter(id=sub_id).order_by("history_id")
                   .values_list("history_user__username", "history_change_reason"))
    assert history == [("boss", "ERP integration"), ("boss", "secret rotated: leaked in a ticket"),
                       ("boss", "rename"), ("boss", "deactivated")]


def test_console_create_shows_the_secret_once(db, make_user, client, receiver):
    admin = make_user("admin", all_entities=True)
    client.force_login(admin)
    page = client.post("/webhooks/new/", {"name": "treasury-bot", "url": receiver.url, "event_types": "case.*, statement.received",
                                          "max_attempts": "5", "active": "on", "reason": "bot"})
    assert page.status_code == 201 and "no-store" in page["Cache-Control"]
    sub = WebhookSubscription.objects.get(name="treasury-bot")
    assert sub.event_types == ["case.*", "statement.received"] and sub.max_attempts == 5
    secret = page.context["secret"]
    assert secret.encode() in page.content
    assert secret.encode() not in client.get(f"/webhooks/{sub.pk}/").content


@pytest.mark.parametrize("settings_production,url,ok", [
    (True, "http://erp.example.com/hooks", False), (True, "https://erp.example.com/hooks", True),
    (False, "http://erp.example.com/hooks", True), (False, "ftp://erp.example.com/", False),
    (False, "https://user:pw@erp.example.com/", False),
])
def test_https_required_in_production(db, make_user, api_client, settings, settings_production, url, ok):
    settings.PRODUCTION = settings_production
    admin = make_user("admin", all_entities=True)
    answer = api_client(admin).post(SUBS, {"name": "x", "url": url, "event_types": ["*"]}, format="json")
    assert answer.status_code == (201 if ok else 400)
    assert WebhookSubscription.objects.count() == (1 if ok else 0)
    if not ok:
        assert answer.json()["message"].startswith("url:")


def test_clerk_cannot_manage_or_read_subscriptions(db, make_user, api_client, client, receiver, entity_a):
    clerk = make_user("ap_clerk", entities=[entity_a])
    api = api_client(clerk)
    assert api.post(SUBS, _create_body(receiver), format="json").status_code == 403
    assert not WebhookSubscription.objects.exists()
    assert api.get(SUBS).status_code == 403
    assert api.get(DELIVERIES).status_code == 403
    client.force_login(clerk)
    assert client.get("/webhooks/").status_code == 403
    assert client.post("/webhooks/new/", {"name": "x", "url": receiver.url, "event_types": "*"}).status_code == 403
    assert not WebhookSubscription.objects.exists()


def test_auditor_and_treasury_read_but_change_nothing(db, make_user, api_client, client, subscribe, relay_event,
                                                      receiver):
    sub, _ = subscribe()
    delivery = WebhookDelivery.objects.get(event_id=relay_event("case.opened").pk)
    webhook_delivery_send(delivery_id=delivery.pk)
    for role in ("auditor", "treasury"):
        reader = make_user(role, all_entities=True)
        api = api_client(reader)
        listed = api.get(SUBS).json()
        assert [s["name"] for s in listed["results"]] == ["erp-hook"]
        assert "secret" not in listed["results"][0]
        detail = api.get(f"{DELIVERIES}{delivery.pk}/").json()
        assert detail["status"] == "delivered" and [a["status_code"] for a in detail["attempts"]] == [200]
        assert detail["event"]["id"] == str(delivery.event_id)
        assert api.post(SUBS, _create_body(receiver, name="mine"), format="json").status_code == 403
        assert api.patch(f"{SUBS}{sub.pk}/", {"active": False}, format="json").status_code == 403
        assert api.post(f"{SUBS}{sub.pk}/rotate-secret/", {}, format="json").status_code == 403
        assert api.post(f"{DELIVERIES}{delivery.pk}/replay/", {}, format="json").status_code == 403
        client.force_login(reader)
        assert client.get("/webhooks/").status_code == 200
        assert client.post(f"/webhooks/deliveries/{delivery.pk}/replay/").status_code == 403
    sub.refresh_from_db()
    delivery.refresh_from_db()
    assert sub.active and sub.name == "erp-hook" and delivery.sequence == 1 and len(receiver.requests) == 1


def test_entity_limited_reader_sees_only_their_entitys_subscriptions(db, make_user, api_client, subscribe,
                                                                    entity_a, entity_b):
    subscribe("de", legal_entity_code="DE01")
    subscribe("us", legal_entity_code="US01")
    subscribe("everything")
    reader = make_user("treasury", entities=[entity_a])
    assert [s["name"] for s in api_client(reader).get(SUBS).json()["results"]] == ["de"]


def test_api_filters_and_replay_with_idempotency_key(db, admin_user, api_client, subscribe, relay_event, receiver):
    sub, _ = subscribe()
    other, _ = subscribe("other", event_types=["statement.*"])
    receiver.fail(1, status=400)
    opened = relay_event("case.opened")
    relay_event("statement.received")
    failed = WebhookDelivery.objects.get(event_id=opened.pk)
    webhook_delivery_send(delivery_id=failed.pk)
    api = api_client(admin_user)

    def ids(query):
        return [d["id"] for d in api.get(f"{DELIVERIES}?{query}").json()["results"]]

    assert ids(f"subscription={sub.pk}") == [failed.pk]
    assert ids("status=failed") == [failed.pk]
    assert ids("event_type=case.*") == [failed.pk]
    assert ids(f"subscription={other.pk}&event_type=statement.received") == \
        list(WebhookDelivery.objects.filter(subscription=other).values_list("pk", flat=True))

    first = api.post(f"{DELIVERIES}{failed.pk}/replay/", {"reason": "receiver fixed"}, format="json",
                     HTTP_IDEMPOTENCY_KEY="replay-1")
    assert first.status_code == 202
    second = api.post(f"{DELIVERIES}{failed.pk}/replay/", {"reason": "receiver fixed"}, format="json",
                      HTTP_IDEMPOTENCY_KEY="replay-1")
    assert second.status_code == 202 and second["Idempotent-Replayed"] == "true"
    failed.refresh_from_db()
    assert failed.sequence == 2 and failed.status == DeliveryStatus.PENDING
    webhook_delivery_send(delivery_id=failed.pk)
    failed.refresh_from_db()
    assert failed.status == DeliveryStatus.DELIVERED
    assert receiver.event_ids() == [str(opened.pk), str(opened.pk)]
    # queued already: a replay now is a conflict
    webhook_delivery_replay(delivery_id=failed.pk, actor=admin_user)
    assert api.post(f"{DELIVERIES}{failed.pk}/replay/", {}, format="json").status_code == 409


def test_console_replay_button_answers_with_the_row(db, admin_user, client, subscribe, relay_event, receiver,
                                                    django_capture_on_commit_callbacks):
    subscribe()
    receiver.fail(1, status=410)
    event = relay_event("case.opened")
    delivery = WebhookDelivery.objects.get(event_id=event.pk)
    webhook_delivery_send(delivery_id=delivery.pk)
    client.force_login(admin_user)
    page = client.get("/webhooks/deliveries/?status=failed")
    assert f'id="delivery-{delivery.pk}"'.encode() in page.content and b'data-testid="replay"' in page.content
    with django_capture_on_commit_callbacks(execute=True):  # on commit, the (eager) task sends it
        answer = client.post(f"/webhooks/deliveries/{delivery.pk}/replay/", HTTP_HX_REQUEST="true",
                             HTTP_HX_TARGET=f"delivery-{delivery.pk}")
    assert answer.status_code == 200
    text = answer.content.decode()
    assert text.lstrip().startswith(f'<tr id="delivery-{delivery.pk}"') and "<html" not in text
    assert 'data-testid="status">Pending' in text and "Replayed." in text  # the test transaction commits later
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.sequence == 2
    assert receiver.event_ids() == [str(event.pk), str(event.pk)]
    detail = client.get(f"/webhooks/deliveries/{delivery.pk}/")
    assert detail.content.count(b'data-testid="attempt-row"') == 2


def test_failing_endpoint_opens_one_case_and_resolves_it_when_healthy(db, subscribe, relay_event, receiver):
    sub, _ = subscribe()
    receiver.fail(4, status=400)  # permanent: the first four deliveries fail at once

    def deliver(n):
        for _ in range(n):
            delivery = WebhookDelivery.objects.get(event_id=relay_event("case.opened").pk)
            webhook_delivery_send(delivery_id=delivery.pk)

    deliver(9)  # 4 of 9 failed: fewer than 10 deliveries, no verdict yet
    assert not ExceptionCase.objects.filter(kind="webhook.endpoint_failing").exists()
    receiver.fail(1, status=422)
    deliver(1)  # 5 of 10 = 50%
    case = ExceptionCase.objects.get(kind="webhook.endpoint_failing")
    assert (case.status, case.severity, case.legal_entity, case.subject_id) == ("open", "high", None, str(sub.pk))
    assert case.message.startswith(f"Webhook subscription erp-hook ({receiver.url}) failed 5 of its 10 deliveries "
                                   "in the last 24 h (50%; the threshold is 30% of at least 10).")
    receiver.fail(2, status=400)
    deliver(2)  # 7 of 12 failed: still the same single case, not re-opened or duplicated
    assert webhook_health_check_all() == {"opened": 0, "resolved": 0, "unchanged": 1}
    case.refresh_from_db()
    assert ExceptionCase.objects.filter(kind="webhook.endpoint_failing").count() == 1 and case.occurrences == 1
    deliver(10)  # 7 of 22 = 31.8%: still failing
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN
    deliver(2)  # 7 of 24 = 29.2%: healthy again
    case.refresh_from_db()
    assert case.status == CaseStatus.RESOLVED and case.resolution == "fixed"
    assert case.resolution_note == "System: failure rate back to 29% (7 of 24 in the window)."
    assert ExceptionCase.objects.filter(kind="webhook.endpoint_failing").count() == 1


def test_periodic_check_opens_the_case_too(db, subscribe, relay_event, receiver):
    sub, _ = subscribe()
    for _ in range(10):
        relay_event("case.opened")
    WebhookDelivery.objects.filter(pk__in=list(WebhookDelivery.objects.values_list("pk", flat=True)[:4])).update(
        status=DeliveryStatus.FAILED)  # as if they had failed while the check was not running
    assert webhook_health_check_all() == {"opened": 1, "resolved": 0, "unchanged": 0}
    assert webhook_health_check_all() == {"opened": 0, "resolved": 0, "unchanged": 1}
    assert ExceptionCase.objects.filter(kind="webhook.endpoint_failing", subject_id=str(sub.pk)).count() == 1
