"""The cloud sandbox ERP's REST API: OAuth2 client credentials and API key, paginated master data per entity,
payment batches and their ack, journals (posted once per external reference, business rejections with a
structured error), payment status updates deduplicated by event id."""

from __future__ import annotations

import base64
import time

import pytest
from django.test import Client

from apps.sandbox.auth import partner_credentials
from apps.sandbox.erp_services import (
    sandbox_cost_centre_set_active,
    sandbox_erp_ensure,
    sandbox_period_set_status,
)
from apps.sandbox.models import SandboxErp, SandboxJournal, SandboxPaymentStatusUpdate
from tests.sandbox.partner_builders import (
    API_KEY,
    api_client,
    CLIENT_ID,
    CLIENT_SECRET,
    batch,
    cloud_erp,
    erp_journal_body,
    journal,
    legacy_erp,
    queue,
)

BASE = "/sandbox/erps/erp-cloud"


@pytest.fixture
def erp(db):
    return cloud_erp()


@pytest.fixture
def api(erp):
    client = api_client(BASE)
    client.post_journal = lambda doc: client.call("post", "journals", erp_journal_body(doc))
    return client


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_oauth2_client_credentials_token_opens_the_api(erp):
    client = Client()
    answer = client.post(f"{BASE}/oauth/token", {"grant_type": "client_credentials"},
                         HTTP_AUTHORIZATION=_basic(CLIENT_ID, CLIENT_SECRET))
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    token = answer.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token['access_token']}"}
    assert client.get(f"{BASE}/gl-accounts", **bearer).status_code == 200
    assert client.get(f"{BASE}/gl-accounts").status_code == 401
    assert client.get(f"{BASE}/gl-accounts", HTTP_AUTHORIZATION="Bearer forged.token.value").status_code == 401


def test_token_refused_for_wrong_secret_or_grant(erp):
    client = Client()
    wrong = client.post(f"{BASE}/oauth/token", {"grant_type": "client_credentials"},
                        HTTP_AUTHORIZATION=_basic(CLIENT_ID, "not-the-secret"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    grant = client.post(f"{BASE}/oauth/token", {"grant_type": "password"},
                        HTTP_AUTHORIZATION=_basic(CLIENT_ID, CLIENT_SECRET))
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    form = client.post(f"{BASE}/oauth/token", {"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                               "client_secret": CLIENT_SECRET})
    assert form.status_code == 200  # client credentials in the form body are accepted too (RFC 6749 2.3.1)


def test_token_dies_when_the_secret_is_rotated_or_expired(erp):
    client = Client()
    token = client.post(f"{BASE}/oauth/token", {"grant_type": "client_credentials"},
                        HTTP_AUTHORIZATION=_basic(CLIENT_ID, CLIENT_SECRET)).json()["access_token"]
    sandbox_erp_ensure(code="erp-cloud", name="Cloud ERP", client_secret="R0tated-secret-value")
    assert client.get(f"{BASE}/periods", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    token = client.post(f"{BASE}/oauth/token", {"grant_type": "client_credentials"},
                        HTTP_AUTHORIZATION=_basic(CLIENT_ID, "R0tated-secret-value")).json()["access_token"]
    SandboxErp.objects.filter(code="erp-cloud").update(token_ttl_seconds=0)
    time.sleep(0.01)
    assert client.get(f"{BASE}/periods", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_master_data_is_paginated_and_filtered_by_entity(api):
    first = api.call("get", "cost-centres?entity=DE01&limit=3")
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 3
    assert page["next"] == "http://testserver/sandbox/erps/erp-cloud/cost-centres?entity=DE01&limit=3&offset=3"
    second = api.get(page["next"], HTTP_X_API_KEY=API_KEY).json()
    assert len(second["items"]) == 1 and second["next"] is None
    centres = {c["cost_centre"]: c for c in page["items"] + second["items"]}
    assert sorted(centres) == ["CC-OLD", "CC100", "CC200", "CC300"]
    assert centres["CC-OLD"] == {"company": "DE01", "cost_centre": "CC-OLD", "description": "Old projects (closed)",
                                 "active": False, "valid_from": "2015-01-01", "valid_to": "2026-08-31"}
    assert api.call("get", "cost-centres?entity=US01").json() == {"items": [], "next": None}
    assert api.call("get", "gl-accounts?limit=0").status_code == 400
    tax = api.call("get", "tax-codes?entity=DE01").json()["items"]
    assert {t["tax_code"]: t["rate_percent"] for t in tax} == {"V0": "0.00", "V19": "19.00", "V7": "7.00"}
    employees = {e["personnel_number"]: e for e in api.call("get", "employees").json()["items"]}
    assert employees["E-0042"]["bank"]["iban"] == "DE80500105175407324380" and employees["E-0044"]["active"] is False
    periods = {p["fiscal_period"]: p["status"] for p in api.call("get", "periods").json()["items"]}
    assert periods == {"2026-09": "closed", "2026-10": "closed", "2026-11": "open", "2026-12": "open"}
    [entity] = api.call("get", "entities").json()["items"]
    assert entity["accounts"] == {"employee_payable": "1760", "rounding": "6960"} and entity["as_of"].endswith("Z")


def test_payment_batches_ready_then_acknowledged(api):
    queue("erp-cloud", batch("RUN-1"), batch("RUN-2", amounts=("10.00",)))
    ready = api.call("get", "payment-batches?status=ready").json()["items"]
    assert [(b["batch"]["erp_reference"], b["total"], b["currency"]) for b in ready] == [
        ("RUN-1", "1330.10", "EUR"), ("RUN-2", "10.00", "EUR")]
    assert ready[0]["batch"]["instructions"][0]["amount"] == "1250.00"
    ack = api.call("post", f"payment-batches/{ready[0]['id']}/ack")
    assert ack.status_code == 200 and ack.json()["status"] == "picked_up"
    assert api.call("post", f"payment-batches/{ready[0]['id']}/ack").status_code == 200  # again: harmless
    assert [b["batch"]["erp_reference"] for b in api.call("get", "payment-batches?status=ready").json()["items"]] == [
        "RUN-2"]
    assert api.call("get", "payment-batches?status=nonsense").status_code == 400


def test_queueing_a_batch_twice_or_with_bad_amounts_is_refused(erp):
    from apps.core.errors import ValidationFailed

    queue("erp-cloud", batch("RUN-1"))
    with pytest.raises(ValidationFailed, match="RUN-1 is queued already"):
        queue("erp-cloud", batch("RUN-1"))
    with pytest.raises(ValidationFailed, match=r"batches\[0\].instructions\[0\].amount"):
        queue("erp-cloud", batch("RUN-3", amounts=("10.001",)))


def test_journal_posted_once_per_external_reference(api):
    first = api.post_journal(journal("JRN-1"))
    assert first.status_code == 201
    number = first.json()["document_number"]
    assert number == "JE-2026-000001" and first.json()["already_posted"] is False
    again = api.post_journal(journal("JRN-1", description="sent again"))
    assert again.status_code == 200
    assert (again.json()["document_number"], again.json()["already_posted"]) == (number, True)
    assert api.post_journal(journal("JRN-2")).json()["document_number"] == "JE-2026-000002"
    assert SandboxJournal.objects.filter(external_reference="JRN-1").count() == 1
    found = api.call("get", "journals?external_reference=JRN-1").json()["items"]
    assert [(j["status"], j["document_number"], j["company"]) for j in found] == [("posted", number, "DE01")]
    assert api.call("get", "journals?external_reference=JRN-404").json()["items"] == []


@pytest.mark.parametrize("doc, code, field", [
    (journal(period="2026-10", posting_date="2026-10-15"), "period_closed", "period"),
    (journal(period="2027-05", posting_date="2027-05-02"), "period_closed", "period"),
    (journal(lines=[{"account": "6400", "cost_centre": "CC-OLD", "debit": "10.00", "credit": "0"},
                    {"account": "1760", "debit": "0", "credit": "10.00"}]), "inactive_cost_centre",
     "lines[0].cost_centre"),
    (journal(lines=[{"account": "6400", "cost_centre": "CC999", "debit": "10.00", "credit": "0"},
                    {"account": "1760", "debit": "0", "credit": "10.00"}]), "unknown_cost_centre",
     "lines[0].cost_centre"),
    (journal(lines=[{"account": "6400", "debit": "10.00", "credit": "0"},
                    {"account": "9999", "debit": "0", "credit": "10.00"}]), "unknown_account", "lines[1].account"),
    (journal(lines=[{"account": "6499", "debit": "10.00", "credit": "0"},
                    {"account": "1760", "debit": "0", "credit": "10.00"}]), "unknown_account", "lines[0].account"),
    (journal(lines=[{"account": "6400", "debit": "10.00", "credit": "0", "tax_code": "V16"},
                    {"account": "1760", "debit": "0", "credit": "10.00"}]), "unknown_tax_code", "lines[0].tax_code"),
    (journal(lines=[{"account": "6400", "debit": "10.00", "credit": "0"},
                    {"account": "1760", "debit": "0", "credit": "9.99"}]), "unbalanced", "lines"),
    (journal(lines=[{"account": "6400", "debit": "10.001", "credit": "0"},
                    {"account": "1760", "debit": "0", "credit": "10.001"}]), "invalid", "lines[0].debit"),
    (journal(posting_date="2026-12-01"), "invalid", "posting_date"),
    (journal(entity="XX99"), "invalid", "entity"),
])
def test_journal_rejections_are_structured(api, doc, code, field):
    answer = api.post_journal(doc)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert (error["code"], error["field"], error["period"]) == (code, field, doc["period"])
    assert error["message"]
    assert SandboxJournal.objects.get(external_reference=doc["journal_id"]).document_number == ""


def test_rejected_journal_is_validated_again_after_the_fix(api):
    doc = journal("JRN-CC", lines=[{"account": "6400", "cost_centre": "CC-OLD", "debit": "10.00", "credit": "0"},
                                   {"account": "1760", "debit": "0", "credit": "10.00"}])
    first = api.post_journal(doc).json()["error"]
    assert first["message"] == "lines[0]: cost centre CC-OLD of DE01 is inactive."
    sandbox_cost_centre_set_active(erp_code="erp-cloud", entity_code="DE01", code="CC-OLD", active=True)
    assert api.post_journal(doc).status_code == 422  # active again, but its validity ended on 2026-08-31
    sandbox_period_set_status(erp_code="erp-cloud", entity_code="DE01", period="2026-11", status="closed")
    assert api.post_journal(journal("JRN-P")).json()["error"]["code"] == "period_closed"
    sandbox_period_set_status(erp_code="erp-cloud", entity_code="DE01", period="2026-11", status="open")
    posted = api.post_journal(journal("JRN-P"))
    assert posted.status_code == 201
    row = SandboxJournal.objects.get(external_reference="JRN-P")
    assert (row.status, row.attempts, row.error) == ("posted", 2, {})


def test_journal_without_reference_is_a_bad_request(api):
    body = erp_journal_body(journal())
    body.pop("external_reference")
    answer = api.call("post", "journals", body)
    assert answer.status_code == 400 and answer.json()["extra"] == {"field": "external_reference"}


def test_payment_status_deduplicated_by_event_id(api):
    queue("erp-cloud", batch("RUN-1"))
    body = {"event_id": "6f1c0d2e", "company": "DE01", "payment_run": "RUN-1", "hub_batch_id": 12,
            "run_status": "partially_accepted", "occurred_at": "2026-11-25T09:12:00Z",
            "items": [{"end_to_end_id": "RUN-1-1", "document_ref": "DOC-1", "status": "rejected",
                       "reason_code": "AC04", "reason": "Account closed", "amount": "1250.00", "currency": "EUR"}]}
    first = api.call("post", "payment-status", body)
    assert first.status_code == 202 and first.json()["status"] == "accepted"
    again = api.call("post", "payment-status", {**body, "run_status": "accepted"})
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    update = SandboxPaymentStatusUpdate.objects.get()
    assert (update.event_id, update.status, update.batch_reference) == ("6f1c0d2e", "partially_accepted", "RUN-1")
    assert update.erp.payment_batches.get().last_status == "partially_accepted"
    assert api.call("post", "payment-status", {"company": "DE01"}).status_code == 400


def test_legacy_erp_has_no_rest_api(db, settings, tmp_path):
    settings.SANDBOX_ROOT = str(tmp_path)
    key = partner_credentials(legacy_erp())["api_key"]
    answer = Client().get("/sandbox/erps/erp-legacy/periods", HTTP_X_API_KEY=key)
    assert answer.status_code == 404 and "legacy ERP" in answer.json()["message"]
    assert Client().get("/sandbox/erps/erp-legacy/", HTTP_X_API_KEY=key).json()["flavour"] == "legacy"
