"""Fault injection: outage 503, 429 with Retry-After, 5xx rate, latency, timeouts, truncated downloads; the
stand-alone server (sandbox_serve) that connectors point at."""

from __future__ import annotations

import datetime as dt
import io
import threading

import httpx
import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.sandbox import faults
from apps.sandbox.management.commands.sandbox_serve import make_sandbox_server
from apps.sandbox.models import SandboxBank, SandboxMessage
from apps.sandbox.services import sandbox_faults_set
from tests.sandbox.builders import one
from tests.sandbox.conftest import make_bank


@pytest.fixture
def slept(monkeypatch):
    calls: list[float] = []
    monkeypatch.setattr(faults.clock, "sleep", calls.append)
    return calls


def test_outage_window_answers_503_with_retry_after(bank_client):
    now = timezone.now()
    sandbox_faults_set(bank_code="SBX", outage_start=now - dt.timedelta(minutes=1),
                       outage_end=now + dt.timedelta(minutes=10))
    response = bank_client.post_pain(one())
    assert response.status_code == 503 and 590 <= int(response["Retry-After"]) <= 600
    assert bank_client.call("get", "statements").status_code == 503
    assert SandboxMessage.objects.count() == 0
    # the faults endpoint itself is never faulted: clear the outage over HTTP
    assert bank_client.call("post", "faults", data={"clear": True}, content_type="application/json").status_code == 200
    assert bank_client.post_pain(one()).status_code == 202


def test_outage_in_the_past_or_future_does_not_apply(bank_client):
    now = timezone.now()
    sandbox_faults_set(bank_code="SBX", outage_start=now + dt.timedelta(hours=1), outage_end=now + dt.timedelta(hours=2))
    assert bank_client.call("get", "statements").status_code == 200


def test_429_with_retry_after(bank_client):
    response = bank_client.call("post", "faults", data={"throttle_rate": 100, "retry_after_seconds": 7},
                                content_type="application/json")
    assert response.status_code == 200 and response.json()["throttle_rate"] == 100
    answer = bank_client.call("get", "status-reports")
    assert answer.status_code == 429 and answer["Retry-After"] == "7"


def test_error_rate_100_gives_500s_and_0_gives_none(bank_client):
    sandbox_faults_set(bank_code="SBX", error_rate=100)
    assert [bank_client.call("get", "statements").status_code for _ in range(5)] == [500] * 5
    assert bank_client.post_pain(one()).status_code == 500 and SandboxMessage.objects.count() == 0
    sandbox_faults_set(bank_code="SBX", error_rate=0)
    assert bank_client.call("get", "statements").status_code == 200


def test_error_rate_is_a_rate(bank_client, monkeypatch):
    sandbox_faults_set(bank_code="SBX", error_rate=30)
    rolls = iter([10.0, 50.0, 29.9, 30.0])
    monkeypatch.setattr(faults, "chance", lambda: next(rolls))
    assert [bank_client.call("get", "statements").status_code for _ in range(4)] == [500, 200, 500, 200]


def test_latency_and_timeout_sleep(bank_client, slept):
    sandbox_faults_set(bank_code="SBX", latency_ms=250)
    assert bank_client.call("get", "statements").status_code == 200
    assert slept == [0.25]
    sandbox_faults_set(bank_code="SBX", clear=True, timeout_seconds=45)
    bank_client.call("get", "statements")
    assert slept == [0.25, 45]


def test_malformed_documents_are_truncated(bank_client):
    bank_client.post_pain(one())
    item = bank_client.call("get", "status-reports").json()["items"][0]
    whole = bank_client.call("get", f"status-reports/{item['id']}/content").content
    sandbox_faults_set(bank_code="SBX", malformed_documents=True)
    cut = bank_client.call("get", f"status-reports/{item['id']}/content").content
    assert whole.startswith(cut) and len(cut) < len(whole) and not cut.rstrip().endswith(b"</Document>")


def test_fault_settings_are_validated(bank_client):
    response = bank_client.call("post", "faults", data={"error_rate": 150}, content_type="application/json")
    assert response.status_code == 400 and response.json()["extra"] == {"field": "error_rate"}
    assert bank_client.call("post", "faults", data={"explode": 1}, content_type="application/json").status_code == 400
    assert SandboxBank.objects.get(code="SBX").error_rate == 0


@pytest.mark.django_db(transaction=True)
def test_served_on_its_own_port_and_times_out_beyond_client_timeout():
    _bank, key = make_bank()
    server = make_sandbox_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            assert client.get("/api/v1/connections/").status_code == 404  # only /sandbox/ is served
            answer = client.post("/sandbox/banks/SBX/payment-files", content=one("LIVE-1"),
                                 headers={"X-API-Key": key, "Content-Type": "application/xml"})
            assert answer.status_code == 202
            listing = client.get("/sandbox/banks/SBX/status-reports", headers={"X-API-Key": key}).json()
            report = client.get(listing["items"][0]["href"], headers={"X-API-Key": key})
            assert b"LIVE-1" in report.content
            sandbox_faults_set(bank_code="SBX", timeout_seconds=1)
            with pytest.raises(httpx.TimeoutException):
                client.get("/sandbox/banks/SBX/statements", headers={"X-API-Key": key}, timeout=0.3)
    finally:
        server.shutdown()
        server.server_close()


def test_sandbox_setup_command_is_idempotent(db, sandbox_root):
    out = io.StringIO()
    call_command("sandbox_setup", "--bank", "DEMO:SBXBDEFFXXX:DE89370400440532013000,DE65100700000123456789",
                 "--api-key", "demo-key", "--balance", "5000", stdout=out)
    call_command("sandbox_setup", "--bank", "DEMO:SBXBDEFFXXX:DE89370400440532013000", stdout=out)
    bank = SandboxBank.objects.get(code="DEMO")
    assert bank.accounts.count() == 2 and "api_key=demo-key" in out.getvalue().splitlines()[-1]
    assert str(bank.accounts.get(iban="DE89370400440532013000").balance) == "5000.00000"
    assert (sandbox_root / "DEMO" / "inbox").is_dir() and (sandbox_root / "DEMO" / "outbox" / "statements").is_dir()
