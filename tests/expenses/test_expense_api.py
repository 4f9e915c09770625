"""The expense-report API, the platform webhook and the console pages."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from apps.connectors.services import connection_upsert
from apps.exceptions.models import ExceptionCase
from apps.expenses.masterdata import master_data_apply
from apps.expenses.models import ExpenseReport, ReportStatus
from apps.org.models import LegalEntity
from tests.conftest import EntityFactory
from tests.expenses.expense_builders import LAST_MONTH, fake_erp_connection, master_data, report

pytestmark = pytest.mark.django_db

SECRET = "whsec-test-0123456789"


@pytest.fixture
def de01(db, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    entity = EntityFactory(code="DE01", name="Acme GmbH", country="DE", base_currency="EUR")
    LegalEntity.objects.filter(pk=entity.pk).update(erp_connection=fake_erp_connection(tmp_path))
    master_data_apply(payload=master_data("DE01"))
    return LegalEntity.objects.get(pk=entity.pk)


@pytest.fixture
def platform(db, tmp_path):
    return connection_upsert(code="concur-test", name="Concur (test)", partner_kind="expense", partner_ref="concur",
                             transport="rest", endpoint="http://127.0.0.1:9/expense/", reason="test",
                             options={"adapter": "rest_expense"}, credentials={"webhook_secret": SECRET}).obj


def test_post_report_idempotent_and_duplicate_safe(api_client, make_user, de01, django_capture_on_commit_callbacks):
    client = api_client(make_user("ap_clerk", entities=[de01]))
    payload = report()
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/api/v1/expense-reports/", payload, format="json", HTTP_IDEMPOTENCY_KEY="x1")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["status"] == "received"
    body = client.get(f"/api/v1/expense-reports/{body['id']}/").json()
    assert body["status"] == "posted" and body["erp_document_number"] and len(body["journals"]) == 1
    replay = client.post("/api/v1/expense-reports/", payload, format="json", HTTP_IDEMPOTENCY_KEY="x1")
    assert replay.status_code == 201 and replay.json()["id"] == body["id"]
    other_key = client.post("/api/v1/expense-reports/", payload, format="json", HTTP_IDEMPOTENCY_KEY="x2")
    assert other_key.status_code == 200 and other_key.json()["id"] == body["id"]  # same platform + report id
    assert ExpenseReport.objects.count() == 1


def test_bad_reports_get_clear_400s_and_nothing_is_stored(api_client, make_user, de01):
    client = api_client(make_user("ap_clerk", entities=[de01]))
    negative = client.post("/api/v1/expense-reports/", report(total="-5.00"), format="json", HTTP_IDEMPOTENCY_KEY="b1")
    assert negative.status_code == 400 and "total" in negative.json()["message"]
    payload = report()
    payload["lines"][0]["amount"] = "abc"
    bad_amount = client.post("/api/v1/expense-reports/", payload, format="json", HTTP_IDEMPOTENCY_KEY="b2")
    assert bad_amount.status_code == 400 and "lines[0].amount" in bad_amount.json()["message"]
    typo = client.post("/api/v1/expense-reports/", {**report(), "employe": "x"}, format="json",
                       HTTP_IDEMPOTENCY_KEY="b3")
    assert typo.status_code == 400 and "employe" in typo.json()["message"]
    malformed = client.post("/api/v1/expense-reports/", data="{nope", content_type="application/json",
                            HTTP_IDEMPOTENCY_KEY="b4")
    assert malformed.status_code == 400
    assert not ExpenseReport.objects.exists()


def test_other_entities_reports_are_invisible_and_auditors_cannot_post(api_client, make_user, de01):
    other = EntityFactory(code="US01", country="US", base_currency="USD")
    clerk = api_client(make_user("ap_clerk", entities=[de01]))
    report_id = clerk.post("/api/v1/expense-reports/", report(), format="json", HTTP_IDEMPOTENCY_KEY="p1").json()["id"]
    outsider = api_client(make_user("ap_clerk", entities=[other]))
    assert outsider.get(f"/api/v1/expense-reports/{report_id}/").status_code == 404
    assert outsider.get("/api/v1/expense-reports/").json()["count"] == 0
    auditor = api_client(make_user("auditor", all_entities=True))
    assert auditor.get(f"/api/v1/expense-reports/{report_id}/").status_code == 200
    assert auditor.post("/api/v1/expense-reports/", report(), format="json",
                        HTTP_IDEMPOTENCY_KEY="p2").status_code == 403
    assert api_client().get("/api/v1/expense-reports/").status_code in (401, 403)


def test_repost_over_the_api_needs_a_second_person(api_client, make_user, de01, django_capture_on_commit_callbacks):
    clerk_user = make_user("ap_clerk", entities=[de01])
    clerk = api_client(clerk_user)
    with django_capture_on_commit_callbacks(execute=True):
        created = clerk.post("/api/v1/expense-reports/", report(day=LAST_MONTH), format="json",
                             HTTP_IDEMPOTENCY_KEY="r1")
    body = clerk.get(f"/api/v1/expense-reports/{created.json()['id']}/").json()
    assert body["status"] == "blocked" and body["problems"][0]["code"] == "period_closed"
    asked = clerk.post(f"/api/v1/expense-reports/{body['id']}/repost/", {"reason": "late receipt"}, format="json")
    assert asked.status_code == 200 and asked.json()["status"] == "repost_pending"
    assert clerk.post(f"/api/v1/expense-reports/{body['id']}/repost/approve/", {}, format="json").status_code == 403
    approver = api_client(make_user("approver", entities=[de01]))
    done = approver.post(f"/api/v1/expense-reports/{body['id']}/repost/approve/", {}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "posted"


def _signed(body: bytes, secret: str = SECRET, ts: int | None = None) -> dict:
    ts = ts or int(time.time())
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_SANDBOX_TIMESTAMP": str(ts), "HTTP_X_SANDBOX_SIGNATURE": f"sha256={digest}"}


def test_webhook_with_valid_signature_takes_the_report_once(client, de01, platform,
                                                            django_capture_on_commit_callbacks):
    body = json.dumps(report(report_id="R-WH-1")).encode()
    url = "/api/v1/expense-platforms/concur/webhook/"
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, data=body, content_type="application/json", **_signed(body))
    assert first.status_code == 202 and first.json()["status"] == "accepted"
    again = client.post(url, data=body, content_type="application/json", **_signed(body))
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    assert ExpenseReport.objects.get(external_id="R-WH-1").status == ReportStatus.POSTED


def test_webhook_with_bad_signature_or_old_timestamp_is_refused(client, de01, platform):
    body = json.dumps(report(report_id="R-WH-2")).encode()
    url = "/api/v1/expense-platforms/concur/webhook/"
    wrong = client.post(url, data=body, content_type="application/json", **_signed(body, secret="guess"))
    assert wrong.status_code == 401 and "signature does not match" in wrong.json()["message"]
    old = client.post(url, data=body, content_type="application/json", **_signed(body, ts=int(time.time()) - 3600))
    assert old.status_code == 401 and "replay" in old.json()["message"]
    unsigned = client.post(url, data=body, content_type="application/json")
    assert unsigned.status_code == 401
    unknown = client.post("/api/v1/expense-platforms/nope/webhook/", data=body, content_type="application/json",
                          **_signed(body))
    assert unknown.status_code == 401
    assert not ExpenseReport.objects.exists()
    assert SECRET not in wrong.content.decode()


def test_webhook_with_signed_garbage_keeps_it_and_opens_a_case(client, de01, platform):
    body = b'{"report_id": "R-9", "lines": "not a list"}'
    response = client.post("/api/v1/expense-platforms/concur/webhook/", data=body, content_type="application/json",
                           **_signed(body))
    assert response.status_code == 400
    case = ExceptionCase.objects.get(kind="expense.intake_rejected")
    assert case.raw_document is not None and "lines" in case.message


def test_console_pages(client, make_user, de01, platform):
    user = make_user("ap_clerk", entities=[de01])
    client.force_login(user)
    from apps.expenses.services import expense_report_receive

    from apps.expenses.services import expense_reports_process

    blocked, _ = expense_report_receive(payload=report(report_id="R-PG-1", day=LAST_MONTH), source="api")
    other, _ = expense_report_receive(payload=report(report_id="R-PG-2"), source="api")
    expense_reports_process(report_ids=[blocked.pk, other.pk])
    page = client.get("/expenses/")
    assert page.status_code == 200 and "R-PG-1" in page.content.decode() and "R-PG-2" in page.content.decode()
    filtered = client.get("/expenses/?status=blocked", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="reports")
    assert "R-PG-1" in filtered.content.decode() and "R-PG-2" not in filtered.content.decode()
    detail = client.get(f"/expenses/{blocked.pk}/").content.decode()
    assert "is closed" in detail and "Request repost" in detail
    assert client.get("/expenses/master-data/").status_code == 200
    outsider = make_user("ap_clerk", entities=[EntityFactory(code="US01")])
    client.force_login(outsider)
    assert client.get(f"/expenses/{blocked.pk}/").status_code == 404
