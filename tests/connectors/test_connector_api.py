"""API, console pages, config_load section and tasks of the connectors app."""

from __future__ import annotations

import os

import pytest
from django_celery_beat.models import PeriodicTask

from apps.connectors.models import Connection, SyncRun
from apps.connectors.services import sync_run_execute
from apps.connectors.tasks import connection_operation_task, sync_run_execute_task
from apps.core.config import config_load
from apps.core.models import Event

CAMT = b"<Document><BkToCstmrStmt/></Document>"


@pytest.fixture
def drop_connection(make_connection, tmp_path):
    drop = tmp_path / "drop"
    (drop / "inbox").mkdir(parents=True)
    return make_connection(endpoint=str(drop), credentials={"token": "api-T0ken-Secret"}), drop


def test_connection_list_and_detail_for_readers(db, drop_connection, make_user, api_client):
    conn, _ = drop_connection
    for role in ("treasury", "auditor", "admin"):
        user = make_user(role)
        body = api_client(user).get("/api/v1/connections/").json()
        assert [(c["code"], c["has_credentials"], c["circuit_state"]) for c in body["results"]] == [
            ("deut-files", True, "closed")]
        detail = api_client(user).get(f"/api/v1/connections/{conn.pk}/").json()
        assert "credentials" not in detail and "credentials_ciphertext" not in detail
        assert detail["health"] == {"runs": 0, "failed": 0, "error_rate": None, "avg_latency_ms": None}
    clerk = make_user("ap_clerk")
    assert api_client(clerk).get("/api/v1/connections/").status_code == 403
    assert api_client(clerk).get("/api/v1/sync-runs/").status_code == 403


def test_run_now_is_queued_executed_and_idempotent(db, clock, drop_connection, make_user, api_client,
                                                   django_capture_on_commit_callbacks):
    conn, drop = drop_connection
    (drop / "inbox" / "a.xml").write_bytes(CAMT)
    treasury = make_user("treasury")
    client = api_client(treasury)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/connections/{conn.pk}/run/", {"operation": "fetch_statements"},
                               format="json", HTTP_IDEMPOTENCY_KEY="run-1")
    assert response.status_code == 202
    run = SyncRun.objects.get(pk=response.json()["id"])
    assert (response.json()["status"], run.status, run.counts, run.requested_by) == (
        "queued", "succeeded", {"received": 1, "archived": 1}, treasury)
    with django_capture_on_commit_callbacks(execute=True):
        replay = client.post(f"/api/v1/connections/{conn.pk}/run/", {"operation": "fetch_statements"},
                             format="json", HTTP_IDEMPOTENCY_KEY="run-1")
    assert (replay.status_code, replay.json()["id"], SyncRun.objects.count()) == (202, run.pk, 1)
    assert sync_run_execute(run_id=run.pk).status == "succeeded"  # a second delivery of the task is a no-op
    assert SyncRun.objects.get(pk=run.pk).counts == {"received": 1, "archived": 1}

    bad = client.post(f"/api/v1/connections/{conn.pk}/run/", {"operation": "post_journal"}, format="json")
    assert bad.status_code == 400 and bad.json()["message"].startswith("operation: 'post_journal' cannot be started")
    auditor = make_user("auditor")
    assert api_client(auditor).post(f"/api/v1/connections/{conn.pk}/run/", {"operation": "check"},
                                    format="json").status_code == 403
    assert SyncRun.objects.count() == 1


def test_sync_runs_filter_by_connection_status_and_operation(db, clock, drop_connection, make_connection,
                                                             make_user, api_client, tmp_path):
    conn, _ = drop_connection
    other = make_connection("other", endpoint=str(tmp_path / "missing"), max_attempts=1)
    connection_operation_task(conn.pk, "fetch_statements")
    connection_operation_task(conn.pk, "check")
    connection_operation_task(other.pk, "fetch_statements")
    client = api_client(make_user("auditor"))

    def ids(query):
        return [(r["connection"], r["operation"], r["status"])
                for r in client.get(f"/api/v1/sync-runs/?{query}").json()["results"]]

    assert ids("connection=deut-files") == [("deut-files", "check", "succeeded"),
                                             ("deut-files", "fetch_statements", "succeeded")]
    assert ids("status=failed") == [("other", "fetch_statements", "failed")]
    assert ids("operation=check") == [("deut-files", "check", "succeeded")]
    assert ids(f"connection_id={other.pk}&status=succeeded") == []


def test_task_twice_in_a_row_imports_once(db, clock, drop_connection):
    conn, drop = drop_connection
    (drop / "inbox" / "a.xml").write_bytes(CAMT)
    connection_operation_task(conn.pk, "fetch_statements")
    connection_operation_task(conn.pk, "fetch_statements")
    assert list(SyncRun.objects.order_by("pk").values_list("status", "counts")) == [
        ("succeeded", {"received": 1, "archived": 1}), ("succeeded", {})]
    assert Event.objects.filter(type="connection.documents_received").count() == 1
    sync_run_execute_task(999999)  # a vanished run is a no-op


def test_disabled_connection_is_skipped_by_schedule_and_refused_by_run_now(db, drop_connection, make_user,
                                                                            api_client):
    conn, _ = drop_connection
    admin = make_user("admin")
    assert api_client(admin).post(f"/api/v1/connections/{conn.pk}/disable/", {"reason": "bank maintenance"},
                                  format="json").json()["active"] is False
    connection_operation_task(conn.pk, "fetch_statements")
    assert SyncRun.objects.count() == 0
    response = api_client(admin).post(f"/api/v1/connections/{conn.pk}/run/", {"operation": "check"}, format="json")
    assert (response.status_code, response.json()["message"]) == (400, "Connection deut-files is disabled; enable it first.")
    assert conn.history.first().history_change_reason == "bank maintenance"


def test_pages_show_health_and_run_now_via_htmx(db, clock, drop_connection, make_user, client,
                                                django_capture_on_commit_callbacks):
    conn, drop = drop_connection
    (drop / "inbox" / "a.xml").write_bytes(CAMT)
    treasury = make_user("treasury")
    client.force_login(treasury)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/connections/{conn.pk}/run/", {"operation": "fetch_statements"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()  # the page answered before the (eager) worker ran after commit
    assert response.status_code == 200 and 'data-testid="run-result"' in html and "Queued" in html
    run = SyncRun.objects.get()
    assert 'hx-trigger="load delay:2s"' in html
    polled = client.get(f"/connections/runs/{run.pk}/status/", HTTP_HX_REQUEST="true").content.decode()
    assert "Succeeded" in polled and "hx-trigger" not in polled
    page = client.get("/connections/").content.decode()
    assert 'data-code="deut-files"' in page and "0% of 1" in page and "Closed (healthy)" in page
    detail = client.get(f"/connections/runs/{run.pk}/").content.decode()
    assert "a.xml" in detail and "archive/a.xml" in detail and "received: 1" in detail
    doc_id = run.moved.get().document_id
    assert client.get(f"/connections/runs/{run.pk}/documents/{doc_id}/").getvalue() == CAMT
    # treasury may run but not manage: no credentials form, and posting one is refused
    assert 'data-testid="credentials-form"' not in client.get(f"/connections/{conn.pk}/").content.decode()
    assert client.post(f"/connections/{conn.pk}/credentials/", {"credentials": '{"a": "bcde"}'}).status_code == 403
    clerk = make_user("ap_clerk")
    client.force_login(clerk)
    assert client.get("/connections/").status_code == 403


def test_admin_page_replaces_credentials_write_only(db, drop_connection, make_user, client):
    conn, _ = drop_connection
    client.force_login(make_user("admin"))
    page = client.get(f"/connections/{conn.pk}/").content.decode()
    assert 'data-testid="credentials-form"' in page and "set (write-only)" in page and "api-T0ken-Secret" not in page
    response = client.post(f"/connections/{conn.pk}/credentials/", {"credentials": '{"token": "N3w-T0ken"}',
                                                                    "reason": "rotation"})
    assert response.status_code == 302
    from apps.core.crypto import credentials_decrypt

    conn.refresh_from_db()
    assert credentials_decrypt(conn.credentials_ciphertext) == {"token": "N3w-T0ken"}
    assert "N3w-T0ken" not in client.get(f"/connections/{conn.pk}/").content.decode()


CONFIG = {
    "bank_partners": [{"code": "DEUT", "name": "Deutsche Bank", "bic": "DEUTDEFFXXX"}],
    "connections": [
        {"code": "deut-drop", "name": "Deutsche drop", "partner_kind": "bank", "partner": "DEUT",
         "transport": "directory", "endpoint": "/srv/drop/deut"},
        {"code": "deut-sftp", "name": "Deutsche SFTP", "partner_kind": "bank", "partner": "DEUT",
         "transport": "sftp", "endpoint": "sftp://sftp.db.example:22/finops", "schedule": "*/5 * * * *",
         "options": {"host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB", "inbox_dir": "out", "archive_dir": "done"},
         "credentials_env": "FINOPS_TEST_DEUT_SFTP", "fallback": "deut-drop", "failure_threshold": 4},
    ],
}


def test_config_load_connections_is_idempotent(db, monkeypatch):
    monkeypatch.setenv("FINOPS_TEST_DEUT_SFTP", '{"username": "acme", "password": "Conf1g-Secret"}')
    results = config_load(CONFIG)
    assert [(r.section, r.key, r.action) for r in results] == [
        ("bank_partners", "DEUT", "created"), ("connections", "deut-drop", "created"),
        ("connections", "deut-sftp", "created")]
    conn = Connection.objects.get(code="deut-sftp")
    assert (conn.fallback.code, conn.failure_threshold, conn.has_credentials) == ("deut-drop", 4, True)
    assert list(PeriodicTask.objects.filter(name__startswith="connection:").order_by("name").values_list(
        "name", "queue")) == []  # beat entries are written after commit
    events = Event.objects.count()
    history = Connection.history.count()

    again = config_load(CONFIG)
    assert [r.action for r in again] == ["unchanged", "unchanged", "unchanged"]
    assert (Event.objects.count(), Connection.history.count()) == (events, history)
    assert "Conf1g-Secret" not in repr([r.changes for r in results])

    monkeypatch.setenv("FINOPS_TEST_DEUT_SFTP", '{"username": "acme", "password": "R0tated"}')
    rotated = config_load(CONFIG)
    assert [r.action for r in rotated] == ["unchanged", "unchanged", "updated"]
    assert Connection.history.filter(code="deut-sftp").first().history_change_reason == \
        "config_load; credentials replaced"


def test_schedule_becomes_beat_entries(db, drop_connection):
    from apps.connectors.schedule import connection_schedule_sync

    conn, _ = drop_connection
    Connection.objects.filter(pk=conn.pk).update(schedule="300")
    assert connection_schedule_sync(connection_id=conn.pk) == 2
    tasks = PeriodicTask.objects.filter(name__startswith="connection:deut-files:").order_by("name")
    assert [(t.name, t.queue, t.interval.every, t.args) for t in tasks] == [
        ("connection:deut-files:fetch_statements", "connectors", 300, f'[{conn.pk}, "fetch_statements"]'),
        ("connection:deut-files:fetch_status_reports", "connectors", 300, f'[{conn.pk}, "fetch_status_reports"]')]
    Connection.objects.filter(pk=conn.pk).update(active=False)
    assert connection_schedule_sync(connection_id=conn.pk) == 0
    assert not PeriodicTask.objects.filter(name__startswith="connection:deut-files:").exists()


def test_config_load_rejects_unknown_partner_and_bad_schedule(db, bank_partner):
    from apps.core.config import ConfigError

    item = dict(CONFIG["connections"][0])
    with pytest.raises(ConfigError, match=r"connections\[0\]: partner: no bank partner with code 'NOPE'"):
        config_load({"connections": [{**item, "partner": "NOPE"}]})
    with pytest.raises(ConfigError, match="schedule: 'sometimes' is neither"):
        config_load({"connections": [{**item, "schedule": "sometimes"}]})
    assert not Connection.objects.exists()
    assert os.environ.get("FINOPS_TEST_DEUT_SFTP") is None
