"""Retries, Retry-After, circuit breaker, fallback and the connector.unavailable case, against a mocked partner
(httpx.MockTransport) with a clock that never waits."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from apps.connectors.errors import AuthenticationFailed, ConnectorUnavailable, PermanentError
from apps.connectors.models import Connection, SyncRun
from apps.connectors.resilience import CircuitOpen
from apps.connectors.services import get_bank_channel
from apps.connectors.transports.rest import TOKENS, use_http_transport
from apps.exceptions.models import ExceptionCase

CLIENT_SECRET = "oauth-Cl1ent-S3cret-xyz"  # as in conftest
STATEMENT = b"<Document><BkToCstmrStmt/></Document>"


class Partner:
    """A scripted REST bank: each request to /statements pops the next planned answer (default 200)."""

    def __init__(self, plan=()):
        self.plan = list(plan)
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/oauth/token":
            self.tokens_issued += 1
            return httpx.Response(200, json={"access_token": f"tok-{self.tokens_issued}", "expires_in": 600})
        if request.url.path.endswith("/content"):
            return httpx.Response(200, content=STATEMENT, headers={"Content-Type": "application/xml"})
        if self.plan:
            step = self.plan.pop(0)
            if isinstance(step, Exception):
                raise step
            if isinstance(step, httpx.Response):
                return step
        return httpx.Response(200, json={"items": [{"id": "s1", "filename": "camt053.xml"}]})

    def calls(self, path_suffix: str) -> int:
        return sum(1 for r in self.requests if r.url.path.endswith(path_suffix))


@pytest.fixture
def rest_connection(make_connection):
    def make(code="deut-api", **kw):
        options = {"token_url": "https://bank.test/oauth/token", "scope": "statements", **kw.pop("options", {})}
        return make_connection(code, transport="rest", endpoint="https://bank.test/api/",
                               credentials={"client_id": "finops", "client_secret": CLIENT_SECRET},
                               options=options, **kw)

    return make


def _fetch(conn, partner):
    channel = get_bank_channel(conn)
    with use_http_transport(httpx.MockTransport(partner)):
        try:
            return channel.fetch_statements(), channel.last_run
        finally:
            pass


def test_transient_errors_are_retried_with_backoff_then_succeed(db, clock, rest_connection):
    conn = rest_connection()
    partner = Partner([httpx.Response(503), httpx.ConnectError("refused"), None])
    docs, run = _fetch(conn, partner)
    assert [d.filename for d in docs] == ["camt053.xml"]
    assert (run.status, run.attempts) == ("succeeded", 3)
    assert clock.sleeps == [1.0, 2.0]  # exponential bound 1 s, 2 s (fake jitter returns the bound)
    assert partner.calls("/statements") == 3
    conn.refresh_from_db()
    assert (conn.circuit_state, conn.consecutive_failures, conn.last_error) == ("closed", 0, "")


def test_timeouts_are_transient(db, clock, rest_connection):
    conn = rest_connection(max_attempts=2)
    partner = Partner([httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow")])
    with pytest.raises(ConnectorUnavailable, match="timed out after 30 s"):
        _fetch(conn, partner)
    assert SyncRun.objects.get().attempts == 2


def test_4xx_is_permanent_and_not_retried(db, clock, rest_connection):
    conn = rest_connection()
    partner = Partner([httpx.Response(404, text="no such mailbox")])
    with pytest.raises(PermanentError, match="HTTP 404: no such mailbox"):
        _fetch(conn, partner)
    run = SyncRun.objects.get()
    assert (run.status, run.attempts, run.error) == ("failed", 1, "GET statements: HTTP 404: no such mailbox.")
    assert clock.sleeps == []
    assert not ExceptionCase.objects.exists()


def test_429_retry_after_is_honoured(db, clock, rest_connection):
    conn = rest_connection()
    partner = Partner([httpx.Response(429, headers={"Retry-After": "7"}), None])
    docs, run = _fetch(conn, partner)
    assert (run.status, run.attempts, len(docs)) == ("succeeded", 2, 1)
    assert clock.sleeps == [7.0]


def test_retry_after_longer_than_the_cap_ends_the_call(db, clock, rest_connection):
    conn = rest_connection(options={"retry_after_cap": 60})
    partner = Partner([httpx.Response(503, headers={"Retry-After": "3600"})])
    with pytest.raises(ConnectorUnavailable):
        _fetch(conn, partner)
    assert (SyncRun.objects.get().attempts, clock.sleeps) == (1, [])


def test_circuit_opens_rejects_half_opens_and_closes(db, clock, rest_connection):
    conn = rest_connection(max_attempts=1, failure_threshold=3, cooldown_seconds=60)
    down = Partner([httpx.Response(502)] * 10)
    for _ in range(3):
        with pytest.raises(ConnectorUnavailable):
            _fetch(conn, down)
    conn.refresh_from_db()
    assert (conn.circuit_state, conn.consecutive_failures) == ("open", 3)
    assert down.calls("/statements") == 3

    with pytest.raises(CircuitOpen):  # rejected without touching the partner
        _fetch(conn, down)
    assert down.calls("/statements") == 3
    assert SyncRun.objects.filter(status="failed").count() == 4

    # cool-down over: one probe; it fails, the circuit opens again
    Connection.objects.filter(pk=conn.pk).update(opened_at=timezone.now() - timedelta(seconds=61))
    with pytest.raises(ConnectorUnavailable):
        _fetch(conn, down)
    conn.refresh_from_db()
    assert conn.circuit_state == "open"
    assert down.calls("/statements") == 4

    Connection.objects.filter(pk=conn.pk).update(opened_at=timezone.now() - timedelta(seconds=61))
    up = Partner()
    docs, run = _fetch(conn, up)
    assert (run.status, len(docs)) == ("succeeded", 1)
    conn.refresh_from_db()
    assert (conn.circuit_state, conn.consecutive_failures, conn.opened_at) == ("closed", 0, None)
    states = list(conn.history.order_by("history_id").values_list("circuit_state", "history_change_reason"))
    assert states[1:] == [
        ("open", "circuit opened after 3 consecutive failures"),
        ("half_open", "circuit: cool-down over, probing"),
        ("open", "circuit opened after 4 consecutive failures"),
        ("half_open", "circuit: cool-down over, probing"),
        ("closed", "circuit closed: call succeeded"),
    ]


def test_one_case_across_many_failures_resolved_on_recovery(db, clock, rest_connection):
    conn = rest_connection(max_attempts=2, failure_threshold=100)
    down = Partner([httpx.Response(500)] * 20)
    for _ in range(5):
        with pytest.raises(ConnectorUnavailable):
            _fetch(conn, down)
    case = ExceptionCase.objects.get(kind="connector.unavailable")
    assert (case.status, case.occurrences, case.subject_id, case.reason_code) == ("open", 5, str(conn.pk),
                                                                                  "retries_exhausted")
    assert "deut-api" in case.message and "HTTP 500" in case.message

    _fetch(conn, Partner())
    case.refresh_from_db()
    assert case.status == "resolved"
    assert case.resolution_note.startswith("System: connection deut-api recovered (fetch_statements succeeded")
    assert ExceptionCase.objects.filter(kind="connector.unavailable").count() == 1
    conn.refresh_from_db()
    assert conn.unavailable_case_id is None


def test_fallback_is_used_when_the_primary_is_down(db, clock, tmp_path, make_connection, rest_connection):
    drop = tmp_path / "drop"
    (drop / "inbox").mkdir(parents=True)
    (drop / "inbox" / "camt.xml").write_bytes(STATEMENT)
    fallback = make_connection("deut-drop", endpoint=str(drop))
    primary = rest_connection(fallback_code="deut-drop", max_attempts=2)

    docs, run = _fetch(primary, Partner([httpx.Response(503)] * 5))
    assert [d.filename for d in docs] == ["camt.xml"]
    assert (run.status, run.via_fallback, run.served_by_id, run.connection_id, run.attempts) == (
        "succeeded", True, fallback.pk, primary.pk, 3)
    assert ExceptionCase.objects.get(kind="connector.unavailable").subject_id == str(primary.pk)

    # circuit open on the primary: straight to the fallback, no call to the primary at all
    Connection.objects.filter(pk=primary.pk).update(circuit_state="open", opened_at=timezone.now())
    (drop / "inbox" / "camt2.xml").write_bytes(STATEMENT + b" ")
    partner = Partner()
    docs, run = _fetch(primary, partner)
    assert ([d.filename for d in docs], run.via_fallback, partner.requests) == (["camt2.xml"], True, [])
    assert ExceptionCase.objects.filter(kind="connector.unavailable").count() == 1


def test_oauth_token_is_reused_refreshed_before_expiry_and_on_401(db, clock, rest_connection, monkeypatch):
    conn = rest_connection()
    now = [1000.0]
    monkeypatch.setattr(TOKENS, "clock", lambda: now[0])
    partner = Partner()
    _fetch(conn, partner)
    _fetch(conn, partner)
    assert partner.tokens_issued == 1
    auth = [r.headers["Authorization"] for r in partner.requests if r.url.path == "/api/statements"]
    assert auth == ["Bearer tok-1", "Bearer tok-1"]
    token_request = next(r for r in partner.requests if r.url.path == "/oauth/token")
    assert b"grant_type=client_credentials" in token_request.content and b"scope=statements" in token_request.content

    now[0] += 600 - 29  # within the 30 s refresh margin: a new token before the old one expires
    _fetch(conn, partner)
    assert partner.tokens_issued == 2

    revoked = Partner([httpx.Response(401), None])
    revoked.tokens_issued = 2
    docs, run = _fetch(conn, revoked)
    assert (run.status, run.attempts, docs, run.counts) == ("succeeded", 1, [], {"duplicates": 1})
    assert [r.headers.get("Authorization") for r in revoked.requests if r.url.path == "/api/statements"] == [
        "Bearer tok-2", "Bearer tok-3"]


def test_credentials_refused_open_a_case_without_retrying(db, clock, rest_connection):
    conn = rest_connection()
    partner = Partner([httpx.Response(401), httpx.Response(401)])
    with pytest.raises(AuthenticationFailed):
        _fetch(conn, partner)
    assert (SyncRun.objects.get().attempts, clock.sleeps) == (1, [])
    case = ExceptionCase.objects.get(kind="connector.unavailable")
    assert case.reason_code == "auth_failed"


def test_rest_payment_file_carries_an_idempotency_key(db, clock, rest_connection):
    from apps.core.services import document_store

    conn = rest_connection()
    doc, _ = document_store(content=b"<pain.001/>", source="test", media_type="application/xml",
                            filename="pain.xml", direction="outbound")
    partner = Partner([httpx.Response(201, json={"reference": "BANK-1"})])
    channel = get_bank_channel(conn)
    with use_http_transport(httpx.MockTransport(partner)):
        assert channel.send_payment_file(doc) == {"already_sent": False, "response": {"reference": "BANK-1"}}
        assert channel.send_payment_file(doc) == {"already_sent": True}
    sent = [r for r in partner.requests if r.url.path == "/api/payment-files"]
    assert [(r.headers["Idempotency-Key"], r.content) for r in sent] == [(doc.sha256, b"<pain.001/>")]


def test_rate_limit_waits_for_the_next_window(db, clock, rest_connection):
    from django.core.cache import cache

    conn = rest_connection(rate_limit_per_minute=1)
    cache.delete_many([f"connectors:rate:{conn.pk}:{w}" for w in range(0, 10)])
    partner = Partner()
    with pytest.raises(ConnectorUnavailable, match="Rate limit of 1 requests per minute"):
        _fetch(conn, partner)  # token + list + download need 3 requests; the fake clock never reaches the next minute
    assert len(clock.sleeps) >= 1 and all(0 < s <= 60.05 for s in clock.sleeps)
    assert json.loads(json.dumps(SyncRun.objects.get().counts)) == {}
