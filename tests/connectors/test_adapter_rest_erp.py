"""``rest_erp`` against the cloud sandbox ERP (OAuth2): canonical payment batches and master data, deduplicated;
journals posted once by journal_id, rejections answered (not raised, not counted against the circuit); payment
status pushed once; transient faults retried; credentials never in runs, cases or logs."""

from __future__ import annotations

import json
import logging

import pytest
from django.utils import timezone

from apps.connectors.errors import AuthenticationFailed, ConnectorUnavailable, PermanentError
from apps.connectors.models import Connection, SyncRun, SyncRunDocument
from apps.connectors.services import get_erp_adapter
from apps.core.models import Event
from apps.exceptions.models import ExceptionCase
from apps.sandbox.erp_services import sandbox_cost_centre_set_active, sandbox_erp_faults_set
from apps.sandbox.models import SandboxErpPaymentBatch, SandboxJournal, SandboxPaymentStatusUpdate
from tests.sandbox.partner_builders import (
    API_KEY,
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    batch,
    cloud_erp,
    journal,
    outbound_document,
    queue,
    read_json,
)

ENDPOINT = f"{BASE}/erps/erp-cloud/"


@pytest.fixture
def conn(db, clock, sandbox_http, partner_connection):
    cloud_erp()
    return partner_connection("erp-cloud-api", kind="erp", partner="erp-cloud", adapter="rest_erp", endpoint=ENDPOINT,
                              credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                              options={"token_url": f"{ENDPOINT}oauth/token"})




def test_pull_payment_batches_canonical_then_acknowledged(conn, sandbox_http):
    queue("erp-cloud", batch("RUN-1"), batch("RUN-2", amounts=("10.00",)))
    erp = get_erp_adapter(conn)
    docs = erp.pull_payment_batches()
    assert [read_json(d) for d in docs] == [{"schema": "finops.payment_batch.v1", **batch("RUN-1")},
                                          {"schema": "finops.payment_batch.v1", **batch("RUN-2", amounts=("10.00",))}]
    assert [(d.filename, d.media_type) for d in docs] == [("payment-batch-RUN-1.json", "application/json"),
                                                          ("payment-batch-RUN-2.json", "application/json")]
    run = erp.last_run
    assert (run.status, run.operation, run.counts) == ("succeeded", "pull_payment_batches",
                                                       {"received": 2, "acknowledged": 2})
    assert set(SandboxErpPaymentBatch.objects.values_list("status", flat=True)) == {"picked_up"}
    event = Event.objects.get(type="connection.documents_received")
    assert event.payload["operation"] == "pull_payment_batches" and event.payload["documents"] == [d.pk for d in docs]
    assert ("POST", "/sandbox/erps/erp-cloud/oauth/token") in sandbox_http.requests
    assert erp.pull_payment_batches() == [] and erp.last_run.counts == {}


def test_a_lost_ack_gives_a_duplicate_not_a_second_batch(conn):
    queue("erp-cloud", batch("RUN-1"))
    erp = get_erp_adapter(conn)
    [doc] = erp.pull_payment_batches()
    SandboxErpPaymentBatch.objects.update(status="ready")  # as if the ack had never arrived
    assert erp.pull_payment_batches() == []
    assert erp.last_run.counts == {"duplicates": 1, "acknowledged": 1}
    assert list(erp.last_run.moved.values_list("document_id", "role")) == [(doc.pk, "duplicate")]
    assert SandboxErpPaymentBatch.objects.get().status == "picked_up"


def test_pull_master_data_one_canonical_document_per_entity(conn, sandbox_http):
    conn.options = {**conn.options, "page_size": 2}
    conn.save()
    erp = get_erp_adapter(conn)
    [doc] = erp.pull_master_data()
    data = read_json(doc)
    assert (data["schema"], data["entity"]) == ("finops.master_data.v1", "DE01")
    assert data["as_of"].endswith("Z") and doc.filename.startswith("master-data-DE01-")
    centres = {c["code"]: c for c in data["cost_centres"]}
    assert len(data["cost_centres"]) == len(centres) == 4  # every page once
    assert centres["CC-OLD"] == {"code": "CC-OLD", "name": "Old projects (closed)", "active": False,
                                 "valid_from": "2015-01-01", "valid_to": "2026-08-31"}
    assert {t["code"]: (t["rate"], t["gl_account"], t["country"]) for t in data["tax_codes"]} == {
        "V0": ("0.00", "", "DE"), "V19": ("19.00", "1576", "DE"), "V7": ("7.00", "1571", "DE")}
    jana = next(e for e in data["employees"] if e["id"] == "E-0042")
    assert jana == {"id": "E-0042", "name": "Jana Kowalski", "entity": "DE01", "active": True,
                    "email": "jana.kowalski@acme.example", "iban": "DE80500105175407324380", "bic": "INGDDEFFXXX",
                    "account_number": "", "routing": "", "currency": "EUR", "street": "Lindenstr. 12",
                    "postal_code": "10969", "town": "Berlin", "country": "DE"}
    assert {p["period"]: p["status"] for p in data["periods"]} == {
        "2026-09": "closed", "2026-10": "closed", "2026-11": "open", "2026-12": "open"}
    assert {"category": "travel", "gl_account": "6400"} in data["category_accounts"]
    assert {"date": "2026-11-24", "base": "EUR", "quote": "USD", "rate": "1.085"} in data["fx_rates"]
    assert data["accounts"] == {"employee_payable": "1760", "rounding": "6960"}
    assert not next(a for a in data["gl_accounts"] if a["code"] == "6499")["active"]
    assert sandbox_http.requests.count(("GET", "/sandbox/erps/erp-cloud/cost-centres")) == 2  # 4 centres, pages of 2
    # unchanged master data: the same document, a duplicate; a change: a new document
    assert erp.pull_master_data() == [] and erp.last_run.counts == {"duplicates": 1}
    sandbox_cost_centre_set_active(erp_code="erp-cloud", entity_code="DE01", code="CC200", active=False)
    [changed] = erp.pull_master_data()
    assert not {c["code"]: c for c in read_json(changed)["cost_centres"]}["CC200"]["active"]


def test_unknown_entity_in_options_is_named(conn):
    conn.options = {**conn.options, "entities": ["DE01", "FR01"]}
    conn.save()
    with pytest.raises(PermanentError, match="the ERP keeps no entity FR01 \\(it has DE01\\)"):
        get_erp_adapter(conn).pull_master_data()


def test_post_journal_posts_once(conn, sandbox_http):
    doc = outbound_document(journal("JRN-000123"), "JRN-000123.json")
    erp = get_erp_adapter(conn)
    assert erp.post_journal(doc) == {"status": "posted", "document_number": "JE-2026-000001",
                                     "already_posted": False}
    assert list(erp.last_run.moved.values_list("document_id", "role")) == [(doc.pk, SyncRunDocument.Role.SENT)]
    posts = sandbox_http.requests.count(("POST", "/sandbox/erps/erp-cloud/journals"))
    assert erp.post_journal(doc) == {"status": "posted", "document_number": "JE-2026-000001",
                                     "already_posted": True}
    assert sandbox_http.requests.count(("POST", "/sandbox/erps/erp-cloud/journals")) == posts  # asked, not posted
    assert SandboxJournal.objects.get().attempts == 1
    assert erp.journal_status("JRN-000123")["document_number"] == "JE-2026-000001"
    assert erp.journal_status("JRN-999") == {"status": "unknown"}


def test_rejection_is_an_answer_not_a_failure(conn):
    lines = [{"account": "6400", "cost_centre": "CC-OLD", "debit": "10.00", "credit": "0.00"},
             {"account": "1760", "cost_centre": "", "debit": "0.00", "credit": "10.00"}]
    doc = outbound_document(journal("JRN-7", lines=lines), "JRN-7.json")
    erp = get_erp_adapter(conn)
    answer = erp.post_journal(doc)
    assert answer == {"status": "rejected", "error": {
        "code": "inactive_cost_centre", "message": "lines[0]: cost centre CC-OLD of DE01 is inactive.",
        "field": "lines[0].cost_centre", "period": "2026-11"}}
    assert (erp.last_run.status, erp.last_run.attempts, erp.last_run.counts["rejected"]) == ("succeeded", 1, 1)
    conn.refresh_from_db()
    assert (conn.consecutive_failures, conn.circuit_state) == (0, "closed")
    assert not ExceptionCase.objects.exists()
    assert erp.journal_status("JRN-7") == answer
    unknown_entity = outbound_document(journal("JRN-8", entity="XX99"), "JRN-8.json")
    assert erp.post_journal(unknown_entity)["error"]["field"] == "entity"


def test_a_document_of_the_wrong_schema_is_refused(conn):
    doc = outbound_document({"schema": "finops.payment_status.v1", "event_id": "x"}, "x.json")
    with pytest.raises(PermanentError, match="is not a finops.journal.v1 document"):
        get_erp_adapter(conn).post_journal(doc)
    bad_id = outbound_document(journal("JRN 1/2"), "bad.json")
    with pytest.raises(PermanentError, match="journal_id 'JRN 1/2' must be"):
        get_erp_adapter(conn).post_journal(bad_id)


def test_push_payment_status_once_by_event_id(conn):
    queue("erp-cloud", batch("RUN-1"))
    status = {"schema": "finops.payment_status.v1", "event_id": "6f1c-42", "entity": "DE01",
              "batch": {"id": 12, "erp_reference": "RUN-1", "status": "partially_accepted"},
              "instructions": [{"end_to_end_id": "RUN-1-1", "erp_reference": "DOC-1", "status": "rejected",
                                "reason_code": "AC04", "reason": "Account closed", "amount": "1250.00",
                                "currency": "EUR"}],
              "occurred_at": "2026-11-25T09:12:00Z"}
    doc = outbound_document(status, "status-6f1c-42.json")
    erp = get_erp_adapter(conn)
    assert erp.push_payment_status(doc) == {"status": "delivered", "duplicate": False}
    assert erp.push_payment_status(doc) == {"status": "delivered", "duplicate": True}
    update = SandboxPaymentStatusUpdate.objects.get()
    assert (update.batch_reference, update.status) == ("RUN-1", "partially_accepted")
    assert update.payload["items"][0] == {"end_to_end_id": "RUN-1-1", "document_ref": "DOC-1", "status": "rejected",
                                          "reason_code": "AC04", "reason": "Account closed", "amount": "1250.00",
                                          "currency": "EUR"}


def test_500_and_429_are_retried(conn, clock):
    queue("erp-cloud", batch("RUN-1"))
    sandbox_erp_faults_set(erp_code="erp-cloud", throttle_rate=100, retry_after_seconds=7)
    clock.on_sleep = lambda seconds: sandbox_erp_faults_set(erp_code="erp-cloud", clear=True, error_rate=100) \
        if seconds == 7 else sandbox_erp_faults_set(erp_code="erp-cloud", clear=True)
    erp = get_erp_adapter(conn)
    [doc] = erp.pull_payment_batches()
    assert clock.sleeps == [7, 2.0]  # Retry-After exactly, then the backoff after the 500
    assert (erp.last_run.status, erp.last_run.attempts) == ("succeeded", 3)
    assert read_json(doc)["erp_reference"] == "RUN-1"


def test_outage_opens_one_case_closed_on_recovery(conn, clock):
    now = timezone.now()
    sandbox_erp_faults_set(erp_code="erp-cloud", outage_start=now, outage_end=now + timezone.timedelta(minutes=10))
    erp = get_erp_adapter(conn)
    for _ in range(2):
        with pytest.raises(ConnectorUnavailable, match="503"):
            erp.pull_master_data()
    assert clock.sleeps == []  # Retry-After 600 s is beyond the cap: the schedule tries later
    case = ExceptionCase.objects.get(kind="connector.unavailable")
    assert case.status == "open" and case.occurrences == 2
    sandbox_erp_faults_set(erp_code="erp-cloud", clear=True)
    assert len(erp.pull_master_data()) == 1
    case.refresh_from_db()
    assert case.status == "resolved"


def test_malformed_answer_is_refused_naming_the_call(conn):
    sandbox_erp_faults_set(erp_code="erp-cloud", malformed_documents=True)
    with pytest.raises(PermanentError, match="GET entities: the answer is not JSON"):
        get_erp_adapter(conn).pull_master_data()
    assert SyncRun.objects.get().attempts == 1


def test_credentials_never_in_runs_cases_or_logs(db, clock, sandbox_http, partner_connection, caplog):
    caplog.set_level(logging.DEBUG)
    cloud_erp()
    wrong_secret = "Wr0ng-Cl1ent-S3cret-never-logged"
    oauth = partner_connection("erp-oauth-wrong", kind="erp", partner="erp-cloud", adapter="rest_erp",
                               endpoint=ENDPOINT, credentials={"client_id": CLIENT_ID, "client_secret": wrong_secret},
                               options={"token_url": f"{ENDPOINT}oauth/token"})
    with pytest.raises(AuthenticationFailed):
        get_erp_adapter(oauth).pull_payment_batches()
    wrong_key = "Wr0ng-Api-K3y-never-logged"
    keyed = partner_connection("erp-key-wrong", kind="erp", partner="erp-cloud", adapter="rest_erp",
                               endpoint=ENDPOINT, credentials={"api_key": wrong_key})
    with pytest.raises(AuthenticationFailed, match="HTTP 401"):
        get_erp_adapter(keyed).check()
    good = partner_connection("erp-key", kind="erp", partner="erp-cloud", adapter="rest_erp", endpoint=ENDPOINT,
                              credentials={"api_key": API_KEY})
    assert get_erp_adapter(good).check() == {"erp": "erp-cloud", "entities": ["DE01"]}
    stored = json.dumps([list(SyncRun.objects.values_list("error", flat=True)),
                         list(ExceptionCase.objects.values_list("message", flat=True)),
                         list(Connection.objects.values_list("last_error", flat=True))])
    assert ExceptionCase.objects.filter(reason_code="auth_failed").count() == 2
    for secret in (wrong_secret, wrong_key, API_KEY, CLIENT_SECRET):
        assert secret not in stored and secret not in caplog.text
