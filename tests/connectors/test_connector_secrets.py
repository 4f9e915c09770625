"""Credentials never leave the ciphertext column: not in logs, errors, cases, history, events, API or pages."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from django.core.serializers.json import DjangoJSONEncoder

from apps.core.crypto import credentials_decrypt
from apps.connectors.errors import AuthenticationFailed, PermanentError, sanitize
from apps.connectors.models import Connection, SyncRun
from apps.connectors.services import connection_credentials_replace, get_bank_channel
from apps.connectors.transports.rest import use_http_transport
from apps.core.models import Event, IdempotencyKey
from apps.exceptions.models import ExceptionCase

WRONG_PASSWORD = "Wr0ng-Pa55word-Never-Logged"


def _everything_stored() -> str:
    """Every place a secret could leak to in the database, as one text."""
    parts = []
    for model, exclude in ((SyncRun, ()), (ExceptionCase, ()), (Event, ()), (IdempotencyKey, ()),
                           (Connection.history.model, ()), (Connection, ("credentials_ciphertext",))):
        for row in model.objects.all().values():
            parts.append(json.dumps({k: v for k, v in row.items() if k not in exclude}, cls=DjangoJSONEncoder,
                                    default=str))
    return "\n".join(parts)


def test_credentials_are_encrypted_at_rest(db, make_connection, secrets):
    conn = make_connection(credentials={"username": "u", "password": secrets["sftp_password"]})
    raw = bytes(Connection.objects.values_list("credentials_ciphertext", flat=True).get(pk=conn.pk))
    assert secrets["sftp_password"].encode() not in raw and raw.startswith(b"gAAAAA")  # a Fernet token
    assert credentials_decrypt(raw) == {"username": "u", "password": secrets["sftp_password"]}
    assert "credentials_ciphertext" not in [f.name for f in Connection.history.model._meta.fields]


def test_sanitize_masks_secrets_userinfo_and_auth_headers():
    text = ("POST https://user:pw@bank.example/x?access_token=abc123&x=1 failed; Authorization: Bearer eyJabc; "
            "password was hunter22")
    assert sanitize(text, ["hunter22"]) == (
        "POST https://***@bank.example/x?access_token=***&x=1 failed; Authorization: ***; "
        "password was ***")


def test_secrets_never_leak_anywhere(db, clock, caplog, sftp_server, sftp_connection, make_connection, make_user,
                                     api_client, client, secrets):
    caplog.set_level(logging.DEBUG)
    # 1. SFTP: a good session, then refused credentials
    (sftp_server.root / "in" / "statements").mkdir()
    get_bank_channel(sftp_connection).fetch_statements()
    bad = make_connection(
        "deut-sftp-wrong", transport="sftp", endpoint=f"sftp://127.0.0.1:{sftp_server.port}/in",
        credentials={"username": "finops-bank", "password": WRONG_PASSWORD},
        options={"host_key": sftp_server.public_key},
    )
    with pytest.raises(AuthenticationFailed):
        get_bank_channel(bad).fetch_statements()

    # 2. REST: the partner echoes our secret back in an error body
    rest = make_connection(
        "deut-api", transport="rest", endpoint="https://bank.test/api/",
        credentials={"client_id": "finops", "client_secret": secrets["client_secret"]},
        options={"token_url": "https://bank.test/oauth/token"},
    )

    def echo(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 60})
        return httpx.Response(400, text=f"bad request from client_secret={secrets['client_secret']}")

    with use_http_transport(httpx.MockTransport(echo)), pytest.raises(PermanentError) as raised:
        get_bank_channel(rest).fetch_statements()
    assert secrets["client_secret"] not in raised.value.message

    # 3. credentials replaced through the API (write-only), then read back everywhere
    admin = make_user("admin", username="adm")
    response = api_client(admin).post(
        f"/api/v1/connections/{rest.pk}/credentials/",
        {"credentials": {"client_id": "finops", "client_secret": "N3w-" + secrets["client_secret"]},
         "reason": "rotated"}, format="json", HTTP_IDEMPOTENCY_KEY="rotate-1",
    )
    assert response.status_code == 200 and response.json()["has_credentials"] is True
    bodies = [response.content.decode()]
    for path in ("/api/v1/connections/", f"/api/v1/connections/{rest.pk}/", f"/api/v1/connections/{bad.pk}/",
                 "/api/v1/sync-runs/"):
        r = api_client(admin).get(path)
        assert r.status_code == 200
        bodies.append(r.content.decode())
    client.force_login(admin)
    for path in ("/connections/", f"/connections/{rest.pk}/", f"/connections/{bad.pk}/",
                 *[f"/connections/runs/{pk}/" for pk in SyncRun.objects.values_list("pk", flat=True)],
                 f"/admin/connectors/connection/{rest.pk}/change/", f"/admin/connectors/connection/{bad.pk}/change/",
                 f"/admin/connectors/connection/{rest.pk}/history/", "/admin/connectors/syncrun/"):
        r = client.get(path)
        assert r.status_code == 200, path
        bodies.append(r.content.decode())

    stored = _everything_stored()
    for secret in (secrets["sftp_password"], WRONG_PASSWORD, secrets["client_secret"]):
        assert secret not in caplog.text
        assert secret not in stored
        for body in bodies:
            assert secret not in body
    assert "credentials_ciphertext" not in "".join(bodies)
    assert SyncRun.objects.get(connection=rest).error == "GET statements: HTTP 400: bad request from client_secret=***."
    assert ExceptionCase.objects.get(subject_id=str(bad.pk)).reason_code == "auth_failed"
    assert list(rest.history.order_by("-history_id").values_list("history_change_reason", flat=True)[:1]) == [
        "credentials replaced: rotated"]


def test_only_admins_replace_credentials(db, make_connection, make_user, api_client):
    conn = make_connection(credentials={"token": "old-token-value"})
    treasury = make_user("treasury", all_entities=True)
    response = api_client(treasury).post(f"/api/v1/connections/{conn.pk}/credentials/",
                                         {"credentials": {"token": "evil-token"}}, format="json")
    assert response.status_code == 403
    conn.refresh_from_db()
    assert credentials_decrypt(conn.credentials_ciphertext) == {"token": "old-token-value"}
    with pytest.raises(Exception, match="needs connectors.change_connection"):
        connection_credentials_replace(connection_id=conn.pk, credentials={"token": "x-evil"}, actor=treasury)
