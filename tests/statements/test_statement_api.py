from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.models import RawDocument
from apps.statements.models import ImportRun, StatementEntry
from tests.statements.builders import E, camt


def upload(client, content, key="k1", name="s.xml", **extra):
    return client.post(
        "/api/v1/statement-files/", {"file": SimpleUploadedFile(name, content, "application/xml"), **extra},
        format="multipart", HTTP_IDEMPOTENCY_KEY=key,
    )


def test_upload_imports_and_replays(api_client, make_user, account_a, entity_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = api_client(make_user("treasury", entities=[entity_a]))
    content = camt(entries=[E("12.00", ref="U1")])
    first = upload(client, content)
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["status"] == "imported" and body["entries_created"] == 1
    assert body["statements"][0]["closing_balance"] == "1012.00"
    replay = upload(client, content)
    assert replay.status_code == 201 and replay.json() == body and replay.headers["Idempotent-Replayed"] == "true"
    other_key = upload(client, content, key="k2")
    assert other_key.status_code == 200 and other_key.json()["status"] == "duplicate"
    assert StatementEntry.objects.count() == 1 and ImportRun.objects.count() == 1
    runs = client.get("/api/v1/statement-files/").json()["results"]
    assert [r["status"] for r in runs] == ["imported"] and runs[0]["entries_so_far"] == 1
    statements = client.get("/api/v1/statements/").json()["results"]
    assert statements[0]["account"] == "DE89370400440532013000" and statements[0]["balances_reconcile"] is True
    entries = client.get(f"/api/v1/statement-entries/?statement={statements[0]['id']}").json()["results"]
    assert [e["amount"] for e in entries] == ["12.00000"]
    positions = client.get("/api/v1/cash-positions/?entity=DE01").json()["results"]
    assert positions[0]["closing_booked"] == "1012.00000"


def test_upload_needs_a_key_a_file_and_the_permission(api_client, make_user, entity_a, account_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = api_client(make_user("treasury", entities=[entity_a]))
    no_key = client.post("/api/v1/statement-files/",
                         {"file": SimpleUploadedFile("s.xml", b"x", "application/xml")}, format="multipart")
    assert no_key.status_code == 400 and "Idempotency-Key" in no_key.json()["message"]
    no_file = client.post("/api/v1/statement-files/", {}, format="multipart", HTTP_IDEMPOTENCY_KEY="z")
    assert no_file.status_code == 400 and no_file.json()["message"].startswith("file:")
    auditor = api_client(make_user("auditor", all_entities=True))
    assert upload(auditor, camt(entries=[E("1.00")])).status_code == 403
    assert not RawDocument.objects.exists()


def test_rejected_upload_answers_200_with_the_reason(api_client, make_user, entity_a, account_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = api_client(make_user("treasury", entities=[entity_a]))
    response = upload(client, b"<Document><broken", name="broken.xml")
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    assert response.json()["error"]


def test_statements_of_other_entities_are_invisible(api_client, make_user, entity_a, entity_b, account_a, settings,
                                                    tmp_path):
    settings.MEDIA_ROOT = tmp_path
    treasury = api_client(make_user("treasury", all_entities=True))
    assert upload(treasury, camt(entries=[E("1.00", ref="A")])).status_code == 201
    us_clerk = api_client(make_user("ap_clerk", entities=[entity_b]))
    assert us_clerk.get("/api/v1/statements/").json()["results"] == []
    assert us_clerk.get("/api/v1/statement-entries/").json()["results"] == []
    assert us_clerk.get("/api/v1/statement-files/").json()["results"] == []
    de_clerk = api_client(make_user("ap_clerk", entities=[entity_a]))
    assert len(de_clerk.get("/api/v1/statement-entries/").json()["results"]) == 1
