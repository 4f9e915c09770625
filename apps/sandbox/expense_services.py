"""The sandbox expense platform's writes (Concur-like): set-up, seeded reports, approval, export marks, faults,
and the optional signed push of approvals to a webhook URL.

Pushes: ``POST <webhook_url>`` with a JSON body, ``X-Sandbox-Timestamp: <unix seconds>`` and
``X-Sandbox-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the webhook secret>``; one
attempt after commit, 5 s timeout, the outcome logged (the hub polls anyway).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import time
import uuid
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
from django.db import transaction
from django.utils import timezone

from apps.core.crypto import credentials_decrypt, credentials_encrypt
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.money import Money, minor_units, to_decimal, validate_currency
from apps.sandbox import auth, faults
from apps.sandbox.models import (
    ApprovalStatus,
    ExportState,
    SandboxExpenseEntry,
    SandboxExpensePlatform,
    SandboxExpenseReport,
)
from apps.webhooks.signing import digest

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 5.0
SIGNATURE_HEADER = "X-Sandbox-Signature"
TIMESTAMP_HEADER = "X-Sandbox-Timestamp"
EXPENSE_TYPES = {"TRAIN": "Train", "AIRFR": "Airfare", "LODNG": "Hotel", "TAXIX": "Taxi", "CARRT": "Car rental",
                 "BUSML": "Business meal", "MILEG": "Mileage", "OFCSP": "Office supplies", "PARKG": "Parking",
                 "MISCL": "Miscellaneous"}


def platform_get(code: str, *, lock: bool = False) -> SandboxExpensePlatform:
    qs = SandboxExpensePlatform.objects.select_for_update() if lock else SandboxExpensePlatform.objects
    platform = qs.filter(code=code).first()
    if platform is None:
        raise NotFound(f"No sandbox expense platform {code!r}.", {"platform": code})
    return platform


@transaction.atomic
def sandbox_expense_platform_ensure(*, code: str, name: str, api_key: str | None = None, client_id: str | None = None,
                                    client_secret: str | None = None, webhook_url: str | None = None,
                                    webhook_secret: str | None = None) -> tuple[SandboxExpensePlatform, dict]:
    """Create the platform if missing (idempotent); returns it and its credentials. ``webhook_url`` /
    ``webhook_secret`` set the approval push (a secret is generated when a URL is set without one)."""
    platform, _created = SandboxExpensePlatform.objects.select_for_update().get_or_create(code=code,
                                                                                         defaults={"name": name})
    changed = []
    if platform.name != name:
        platform.name = name
        changed.append("name")
    if webhook_url is not None and platform.webhook_url != webhook_url:
        platform.webhook_url = webhook_url
        changed.append("webhook_url")
    if webhook_secret or (platform.webhook_url and not platform.webhook_secret_ciphertext):
        platform.webhook_secret_ciphertext = credentials_encrypt({"secret": webhook_secret or secrets.token_hex(32)})
        changed.append("webhook_secret_ciphertext")
    if changed:
        platform.save(update_fields=[*changed, "updated_at"])
    return platform, auth.partner_credentials_ensure(platform, api_key=api_key, client_id=client_id,
                                                     client_secret=client_secret)


@transaction.atomic
def sandbox_expense_faults_set(*, platform_code: str, clear: bool = False, **settings: Any) -> SandboxExpensePlatform:
    platform = faults.faults_apply(platform_get(platform_code, lock=True), clear=clear, **settings)
    platform.save()
    return platform


def webhook_secret(platform: SandboxExpensePlatform) -> str:
    return str(credentials_decrypt(bytes(platform.webhook_secret_ciphertext or b"")).get("secret", ""))


# -- reports ------------------------------------------------------------------------------------------------------

def _when(value: Any, where: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed(f"{where}: {value!r} is not an ISO 8601 date-time.", {"field": where}) from None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.timezone.utc)


def _entry(report_currency: str, index: int, spec: Any) -> dict[str, Any]:
    where = f"entries[{index}]"
    if not isinstance(spec, dict):
        raise ValidationFailed(f"{where}: expected a mapping.", {"field": where})
    try:
        day = dt.date.fromisoformat(str(spec.get("date") or ""))
    except ValueError:
        raise ValidationFailed(f"{where}.date: {spec.get('date')!r} is not a date.", {"field": f"{where}.date"}) from None
    type_code = str(spec.get("type") or "").upper()
    if not type_code:
        raise ValidationFailed(f"{where}.type: an expense type code is required (e.g. TRAIN).", {"field": f"{where}.type"})
    posted = Money.of(spec.get("amount"), report_currency, field=f"{where}.amount").amount
    if posted <= 0:
        raise ValidationFailed(f"{where}.amount: must be positive.", {"field": f"{where}.amount"})
    currency = validate_currency(str(spec.get("transaction_currency") or report_currency),
                                 field=f"{where}.transaction_currency")
    if currency == report_currency:
        amount, rate = posted, Decimal(1)
    else:
        amount = Money.of(spec.get("transaction_amount"), currency, field=f"{where}.transaction_amount").amount
        rate = to_decimal(spec.get("exchange_rate"), field=f"{where}.exchange_rate")
        if rate <= 0:
            raise ValidationFailed(f"{where}.exchange_rate: must be positive.", {"field": f"{where}.exchange_rate"})
        expected = (amount * rate).quantize(Decimal(1).scaleb(-minor_units(report_currency)), ROUND_HALF_EVEN)
        if expected != posted:
            raise ValidationFailed(f"{where}.amount: {posted} is not {amount} {currency} x {rate} = {expected} "
                                   f"{report_currency}.", {"field": f"{where}.amount"})
    tax = Money.of(spec.get("tax_amount") or "0", report_currency, field=f"{where}.tax_amount").amount
    if tax < 0 or tax > posted:
        raise ValidationFailed(f"{where}.tax_amount: must be between 0 and the amount.", {"field": f"{where}.tax_amount"})
    return {"entry_id": str(spec.get("entry_id") or index + 1), "position": index, "transaction_date": day,
            "expense_type_code": type_code, "expense_type_name": str(spec.get("type_name") or
                                                                      EXPENSE_TYPES.get(type_code, type_code.title())),
            "posted_amount": posted, "transaction_amount": amount, "transaction_currency": currency,
            "exchange_rate": rate, "tax_code": str(spec.get("tax_code") or ""), "tax_amount": tax,
            "cost_center": str(spec.get("cost_centre") or ""), "project_code": str(spec.get("project") or ""),
            "vendor_description": str(spec.get("vendor") or "")[:140],
            "receipt_image_id": str(spec.get("receipt_id") or ""), "description": str(spec.get("description") or "")}


@transaction.atomic
def sandbox_expense_report_seed(*, platform_code: str, report: dict) -> tuple[SandboxExpenseReport, bool]:
    """Create a report if its ``report_id`` is new (idempotent: an existing one is returned unchanged).

    ``report``: ``report_id``, ``title``, ``employee_id``, ``employee_name``, ``entity`` (OrgUnit1), ``currency``,
    ``status`` (``approved`` default, ``pending``), ``approved_by``, ``submitted_at``, ``approved_at``, ``entries``
    of ``date``, ``type`` (ExpenseTypeCode), ``amount`` (posted, report currency, tax included),
    ``transaction_amount`` / ``transaction_currency`` / ``exchange_rate`` (paid in another currency),
    ``tax_code``, ``tax_amount``, ``cost_centre``, ``project``, ``vendor``, ``receipt_id``, ``description``.
    An approved report is pushed to the webhook URL, if one is set, once committed."""
    platform = platform_get(platform_code, lock=True)
    report_id = str(report.get("report_id") or "").strip()
    if not report_id:
        raise ValidationFailed("report_id: required.", {"field": "report_id"})
    existing = platform.reports.filter(report_id=report_id).first()
    if existing is not None:
        return existing, False
    currency = validate_currency(str(report.get("currency") or ""))
    entries = report.get("entries")
    if not isinstance(entries, list) or not entries:
        raise ValidationFailed("entries: at least one expense entry.", {"field": "entries"})
    rows = [_entry(currency, i, spec) for i, spec in enumerate(entries)]
    status = {"approved": ApprovalStatus.APPROVED, "pending": ApprovalStatus.PENDING}.get(
        str(report.get("status") or "approved"))
    if status is None:
        raise ValidationFailed("status: expected approved or pending.", {"field": "status"})
    for key in ("employee_id", "employee_name", "entity"):
        if not str(report.get(key) or "").strip():
            raise ValidationFailed(f"{key}: required.", {"field": key})
    submitted = _when(report.get("submitted_at"), "submitted_at") or timezone.now()
    approved_at = _when(report.get("approved_at"), "approved_at") or (
        timezone.now() if status == ApprovalStatus.APPROVED else None)
    created = SandboxExpenseReport.objects.create(
        platform=platform, report_id=report_id, name=str(report.get("title") or report_id)[:200],
        employee_id=str(report["employee_id"]), employee_name=str(report["employee_name"])[:140],
        org_unit=str(report["entity"]), currency=currency, total=sum((r["posted_amount"] for r in rows), Decimal(0)),
        approval_status=status, approver=str(report.get("approved_by") or "")[:100], submit_date=submitted,
        approval_date=approved_at if status == ApprovalStatus.APPROVED else None,
    )
    SandboxExpenseEntry.objects.bulk_create([SandboxExpenseEntry(report=created, **row) for row in rows])
    if status == ApprovalStatus.APPROVED:
        _push_later(platform, created)
    return created, True


@transaction.atomic
def sandbox_expense_report_approve(*, platform_code: str, report_id: str, approver: str = "") -> SandboxExpenseReport:
    platform = platform_get(platform_code)
    report = SandboxExpenseReport.objects.select_for_update().filter(platform=platform, report_id=report_id).first()
    if report is None:
        raise NotFound(f"No expense report {report_id}.")
    if report.approval_status != ApprovalStatus.APPROVED:
        report.approval_status, report.approval_date = ApprovalStatus.APPROVED, timezone.now()
        report.approver = approver or report.approver
        report.save(update_fields=["approval_status", "approval_date", "approver", "updated_at"])
        _push_later(platform, report)
    return report


@transaction.atomic
def sandbox_expense_report_export(*, platform_code: str, report_id: str, state: str,
                                  reference: str = "") -> tuple[SandboxExpenseReport, bool]:
    """Mark an approved report ``exported`` (its journal was posted) or ``paid`` (the employee was reimbursed).
    Idempotent: a mark already set (or a later one: paid after exported) changes nothing; returns
    ``(report, changed)``. The first reference given is kept."""
    if state not in (ExportState.EXPORTED, ExportState.PAID):
        raise ValidationFailed("state: expected exported or paid.", {"field": "state"})
    platform = platform_get(platform_code)
    report = SandboxExpenseReport.objects.select_for_update().filter(platform=platform, report_id=report_id).first()
    if report is None:
        raise NotFound(f"No expense report {report_id}.")
    if report.approval_status != ApprovalStatus.APPROVED:
        raise Conflict(f"Expense report {report_id} is not approved ({report.get_approval_status_display()}); "
                       "only approved reports are exported.", {"approval_status": report.approval_status})
    order = {ExportState.NONE: 0, ExportState.EXPORTED: 1, ExportState.PAID: 2}
    if order[report.export_state] >= order[state]:
        return report, False
    now = timezone.now()
    report.export_state = state
    report.export_reference = report.export_reference or str(reference)[:100]
    report.exported_at = report.exported_at or now
    if state == ExportState.PAID:
        report.paid_at = now
    report.save(update_fields=["export_state", "export_reference", "exported_at", "paid_at", "updated_at"])
    return report, True


# -- webhook push ---------------------------------------------------------------------------------------------------

def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    return "sha256=" + digest(secret, timestamp, body)


def _push_later(platform: SandboxExpensePlatform, report: SandboxExpenseReport) -> None:
    if platform.webhook_url:
        transaction.on_commit(lambda: webhook_push(platform_id=platform.pk, report_pk=report.pk))


def webhook_push(*, platform_id: int, report_pk: int) -> int | None:
    """POST the approval event, signed; returns the HTTP status, or None when the receiver was unreachable."""
    platform = SandboxExpensePlatform.objects.filter(pk=platform_id).first()
    report = SandboxExpenseReport.objects.filter(pk=report_pk).first()
    if platform is None or report is None or not platform.webhook_url:
        return None
    body = json.dumps({
        "EventID": str(uuid.uuid4()), "EventType": "expense.report.approved", "ReportID": report.report_id,
        "OrgUnit1": report.org_unit, "EmployeeID": report.employee_id,
        "Total": str(Money.of(report.total, report.currency, strict=False).amount),
        "CurrencyCode": report.currency,
        "ApprovalDate": report.approval_date.isoformat() if report.approval_date else None,
    }).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
               SIGNATURE_HEADER: webhook_signature(webhook_secret(platform), timestamp, body)}
    try:
        response = httpx.post(platform.webhook_url, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT)
    except httpx.HTTPError as exc:
        logger.warning("sandbox expense %s: push of %s to the webhook failed (%s)", platform.code, report.report_id,
                       type(exc).__name__)
        return None
    logger.info("sandbox expense %s: pushed %s, HTTP %s", platform.code, report.report_id, response.status_code)
    return response.status_code
