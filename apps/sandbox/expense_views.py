"""The sandbox expense platform's REST API under ``/sandbox/expense/<code>/`` (Concur-like; trailing slashes
optional). Authentication as for the sandbox ERPs: ``X-API-Key`` or an OAuth2 bearer token from ``oauth/token``.

- ``GET reports?approvalStatusCode=A_APPR&exported=false&limit=&offset=``: ``{"Items": [...], "NextPage": <URL or
  null>}``, each report with its ``Entries``;
- ``GET reports/<ReportID>``; ``POST reports/<ReportID>/export`` ``{"state": "exported"|"paid", "reference"}``.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse

from apps.core.errors import NotFound, ValidationFailed
from apps.sandbox import expense_services as services
from apps.sandbox.http import (
    faults_endpoint,
    json_body,
    money_text,
    paginate,
    partner_endpoint,
    partner_json,
    require_method,
    token_endpoint,
)
from apps.sandbox.models import ApprovalStatus, ExportState, SandboxExpensePlatform, SandboxExpenseReport

PAGE_SIZE = 25


def _find(code: str) -> SandboxExpensePlatform | None:
    return SandboxExpensePlatform.objects.filter(code=code).first()


def platform_endpoint(**kwargs):
    return partner_endpoint(_find, what="sandbox expense platform", **kwargs)


def _stamp(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def report_json(report: SandboxExpenseReport) -> dict:
    return {
        "ReportID": report.report_id, "Name": report.name, "EmployeeID": report.employee_id,
        "EmployeeName": report.employee_name, "OrgUnit1": report.org_unit, "CurrencyCode": report.currency,
        "Total": money_text(report.total, report.currency), "ApprovalStatusCode": report.approval_status,
        "ApprovalStatusName": report.get_approval_status_display(), "ApproverLoginID": report.approver,
        "SubmitDate": _stamp(report.submit_date), "ApprovalDate": _stamp(report.approval_date),
        "ExportState": report.export_state or None, "ExportReference": report.export_reference or None,
        "LastModifiedDate": _stamp(report.updated_at),
        "Entries": [{
            "EntryID": e.entry_id, "TransactionDate": e.transaction_date.isoformat(),
            "ExpenseTypeCode": e.expense_type_code, "ExpenseTypeName": e.expense_type_name,
            "PostedAmount": money_text(e.posted_amount, report.currency),
            "TransactionAmount": money_text(e.transaction_amount, e.transaction_currency),
            "TransactionCurrencyCode": e.transaction_currency, "ExchangeRate": format(e.exchange_rate.normalize(), "f"),
            "TaxCode": e.tax_code or None, "TaxAmount": money_text(e.tax_amount, report.currency),
            "CostCenter": e.cost_center or None,
            "ProjectCode": e.project_code or None, "VendorDescription": e.vendor_description,
            "ReceiptImageID": e.receipt_image_id or None, "Description": e.description,
        } for e in report.entries.all()],
    }


@platform_endpoint()
def platform_detail(request: HttpRequest, platform: SandboxExpensePlatform) -> HttpResponse:
    require_method(request, "GET")
    return partner_json(request, platform, {"code": platform.code, "name": platform.name,
                                            "reports": platform.reports.count()})


@platform_endpoint(authorised=None)
def platform_token(request: HttpRequest, platform: SandboxExpensePlatform) -> HttpResponse:
    return token_endpoint(request, platform)


@platform_endpoint()
def reports(request: HttpRequest, platform: SandboxExpensePlatform) -> HttpResponse:
    require_method(request, "GET")
    rows = platform.reports.prefetch_related("entries").order_by("pk")
    status = request.GET.get("approvalStatusCode", "")
    if status:
        if status not in ApprovalStatus.values:
            raise ValidationFailed(f"approvalStatusCode: {status!r} is not one of {', '.join(ApprovalStatus.values)}.",
                                   {"field": "approvalStatusCode"})
        rows = rows.filter(approval_status=status)
    exported = request.GET.get("exported", "").lower()
    if exported in ("false", "0", "no"):
        rows = rows.filter(export_state=ExportState.NONE)
    elif exported in ("true", "1", "yes"):
        rows = rows.exclude(export_state=ExportState.NONE)
    elif exported:
        raise ValidationFailed("exported: expected true or false.", {"field": "exported"})
    page = paginate(request, rows, report_json, items_key="Items", next_key="NextPage", default_limit=PAGE_SIZE)
    return partner_json(request, platform, page)


def _report(platform: SandboxExpensePlatform, report_id: str) -> SandboxExpenseReport:
    report = platform.reports.prefetch_related("entries").filter(report_id=report_id).first()
    if report is None:
        raise NotFound(f"No expense report {report_id}.")
    return report


@platform_endpoint()
def report_detail(request: HttpRequest, platform: SandboxExpensePlatform, report_id: str) -> HttpResponse:
    require_method(request, "GET")
    return partner_json(request, platform, report_json(_report(platform, report_id)))


@platform_endpoint()
def report_export(request: HttpRequest, platform: SandboxExpensePlatform, report_id: str) -> HttpResponse:
    """``POST reports/<id>/export {"state": "exported"|"paid", "reference": "..."}``: idempotent, 200."""
    require_method(request, "POST")
    body = json_body(request)
    report, changed = services.sandbox_expense_report_export(
        platform_code=platform.code, report_id=report_id, state=str(body.get("state") or ""),
        reference=str(body.get("reference") or ""))
    return partner_json(request, platform, {"ReportID": report.report_id, "ExportState": report.export_state,
                                            "ExportReference": report.export_reference or None, "Changed": changed})


@platform_endpoint(inject=False)
def platform_faults(request: HttpRequest, platform: SandboxExpensePlatform) -> HttpResponse:
    return faults_endpoint(request, platform,
                           lambda code, **kw: services.sandbox_expense_faults_set(platform_code=code, **kw))
