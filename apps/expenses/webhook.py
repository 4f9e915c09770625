"""An expense platform's webhook: the hub checks the signature, keeps the payload, and either takes the report it
carries (``finops.expense_report.v1``) or, for a notification ("report R-1001 was approved"), pulls from the
platform now, as Concur-style event subscriptions expect.

Signature: ``HMAC-SHA256(secret, f"{timestamp}." + body)`` in hex, sent as ``sha256=<hex>`` (or ``v1=<hex>``) in
the signature header, with the Unix timestamp in the timestamp header. The secret is the ``webhook_secret`` in the
platform connection's (encrypted) credentials; header names can be changed with the connection's options
``webhook_signature_header`` / ``webhook_timestamp_header``. Timestamps older than five minutes are refused
(replays), and the same payload twice is recognised by platform + report id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from django.db import transaction

from apps.core.crypto import credentials_decrypt
from apps.core.errors import ApplicationError, ValidationFailed
from apps.core.services import document_store
from apps.webhooks.signing import digest

logger = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300
SIGNATURE_HEADER = "X-Sandbox-Signature"
TIMESTAMP_HEADER = "X-Sandbox-Timestamp"


class SignatureRefused(ApplicationError):
    status_code = 401


def _connection(platform: str):
    from apps.connectors.models import Connection

    return (Connection.objects.filter(partner_kind="expense", partner_ref=platform, active=True)
            .filter(fallback_for__isnull=True).order_by("code").first())


def signature_verify(*, secret: str, timestamp: str, body: bytes, presented: str, now: float | None = None) -> None:
    if not secret:
        raise SignatureRefused("This platform's connection has no webhook_secret; an admin must set one.")
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        raise SignatureRefused("The timestamp header is missing or not a Unix time.") from None
    if abs((now or time.time()) - ts) > TOLERANCE_SECONDS:
        raise SignatureRefused("The signature's timestamp is more than 5 minutes away from now (replay refused).")
    expected = digest(secret, ts, body)
    value = (presented or "").split("=", 1)[-1].strip()
    if not hmac.compare_digest(expected, value):
        raise SignatureRefused("The signature does not match the body (wrong secret or altered payload).")


def platform_webhook_receive(*, platform: str, body: bytes, headers) -> dict:
    from apps.connectors.services import connection_run_request
    from apps.expenses.services import expense_report_receive, intake_failure_record

    conn = _connection(platform)
    if conn is None:
        raise SignatureRefused(f"No active connection to an expense platform {platform!r}.")
    options = conn.options or {}
    secret = str(credentials_decrypt(conn.credentials_ciphertext).get("webhook_secret") or "")
    signature_verify(secret=secret, timestamp=headers.get(options.get("webhook_timestamp_header", TIMESTAMP_HEADER)),
                     body=body, presented=headers.get(options.get("webhook_signature_header", SIGNATURE_HEADER), ""))
    document, _ = document_store(content=body, source=f"expense:{platform}:webhook", media_type="application/json",
                                 filename=f"{platform}-webhook-{hashlib.sha256(body).hexdigest()[:12]}.json")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        intake_failure_record(document_id=document.pk, message=f"the body is not JSON ({exc}).")
        raise ValidationFailed(f"The body is not JSON ({exc}); it was kept and a case opened.") from None
    if not isinstance(payload, dict):
        intake_failure_record(document_id=document.pk, message="the body is not a JSON object.")
        raise ValidationFailed("The body is not a JSON object; it was kept and a case opened.")
    if payload.get("schema") == "finops.expense_report.v1" or "lines" in payload:
        payload = {**payload, "platform": payload.get("platform") or platform}
        try:
            report, created = expense_report_receive(payload=payload, source="webhook", document=document)
        except ValidationFailed as exc:
            intake_failure_record(document_id=document.pk, message=exc.message)
            raise
        return {"report": report.pk, "status": "accepted" if created else "duplicate"}
    # a notification: fetch what changed through the connector (runs, retries and cases as usual)
    with transaction.atomic():
        run = connection_run_request(connection_id=conn.pk, operation="pull_approved_reports", actor=None)
    return {"status": "pull_requested", "sync_run": run.pk}
