"""``rest_expense``: a Concur-like expense platform over REST (OAuth2 client credentials with ``options.token_url``,
or an API key).

Options: ``platform`` (the canonical ``platform``; default the connection's partner), ``page_size`` (25),
``category_map`` (ExpenseTypeCode -> canonical category, on top of :data:`CATEGORIES`), ``export_reference``
(sent with export marks; default ``finops:<connection code>``).
Platform paths: ``reports?approvalStatusCode=A_APPR&exported=false`` (``{"Items": [...], "NextPage": ...}``),
``reports/<ReportID>/export``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from apps.connectors.adapters.common import (
    EXPENSE_REPORT,
    JSON,
    Delivery,
    PartnerClient,
    canonical_bytes,
    need,
    open_partner_client,
    text,
)
from apps.connectors.models import Connection
from apps.connectors.resilience import Recorder
from apps.core.errors import ValidationFailed
from apps.core.models import RawDocument

#: The platform's expense types in the hub's category vocabulary (the ERP maps categories to G/L accounts).
CATEGORIES = {"TRAIN": "travel", "AIRFR": "travel", "TAXIX": "travel", "CARRT": "travel", "PARKG": "travel",
              "MILEG": "mileage", "LODNG": "lodging", "BUSML": "meals", "OFCSP": "office_supplies", "MISCL": "other"}


def _line(entry: dict, currency: str, categories: dict[str, str], where: str) -> dict:
    type_code = text(need(entry, "ExpenseTypeCode", where))
    line = {"line_id": text(need(entry, "EntryID", where)), "date": text(need(entry, "TransactionDate", where)),
            "category": categories.get(type_code, type_code.lower()), "amount": text(need(entry, "PostedAmount", where)),
            "currency": currency}
    original = text(entry.get("TransactionCurrencyCode")) or currency
    if original != currency:
        line.update({"original_amount": text(need(entry, "TransactionAmount", where)), "original_currency": original,
                     "fx_rate": text(need(entry, "ExchangeRate", where))})
    line.update({"tax_code": text(entry.get("TaxCode")), "tax_amount": text(entry.get("TaxAmount")) or "0.00",
                 "cost_centre": text(entry.get("CostCenter")), "project": text(entry.get("ProjectCode")),
                 "merchant": text(entry.get("VendorDescription")), "receipt_ref": text(entry.get("ReceiptImageID")),
                 "description": text(entry.get("Description"))})
    return line


def expense_report(item: dict, *, platform: str, categories: dict[str, str]) -> dict:
    """A Concur-like report as one finops.expense_report.v1."""
    where = f"report {item.get('ReportID')!r}"
    currency = text(need(item, "CurrencyCode", where))
    entries = item.get("Entries") or []
    return {
        "schema": EXPENSE_REPORT, "platform": platform, "report_id": text(need(item, "ReportID", where)),
        "entity": text(need(item, "OrgUnit1", where)), "employee_id": text(need(item, "EmployeeID", where)),
        "employee_name": text(item.get("EmployeeName")), "title": text(item.get("Name")), "currency": currency,
        "total": text(need(item, "Total", where)), "submitted_at": item.get("SubmitDate"),
        "approved_at": item.get("ApprovalDate"), "approved_by": text(item.get("ApproverLoginID")),
        "lines": [_line(e, currency, categories, f"{where} entry {n}") for n, e in enumerate(entries, start=1)],
    }


class RestExpenseSource:
    def __init__(self, client: PartnerClient, conn: Connection, recorder: Recorder):
        self.client = client
        self.conn = conn
        self.recorder = recorder
        self.options = conn.options or {}
        self.platform = str(self.options.get("platform") or conn.partner_ref)
        self.categories = {**CATEGORIES, **(self.options.get("category_map") or {})}

    @classmethod
    def connect(cls, conn: Connection, recorder: Recorder) -> RestExpenseSource:
        return cls(open_partner_client(conn, recorder), conn, recorder)

    def close(self) -> None:
        self.client.close()

    def pull_approved_reports(self) -> list[RawDocument]:
        """Approved, not yet exported reports, every page: the platform's record is kept as the original, the
        canonical document handed over (once: the same report again is a duplicate until it is marked)."""
        delivery = Delivery(self.conn, self.recorder)
        query = {"approvalStatusCode": "A_APPR", "exported": "false", "limit": int(self.options.get("page_size", 25))}
        for item in self.client.pages("reports", query, items_key="Items", next_key="NextPage"):
            if not isinstance(item, dict) or not item.get("ReportID"):
                self.recorder.count("skipped_invalid")
                continue
            report_id = text(item["ReportID"])
            delivery.original(canonical_bytes(item), f"{self.platform}-report-{report_id}.json", JSON)
            delivery.canonical(expense_report(item, platform=self.platform, categories=self.categories),
                               f"expense-report-{self.platform}-{report_id}.json")
        return delivery.received

    def mark_exported(self, report_ids: list[str], state: str = "exported") -> dict[str, Any]:
        """``{"state", "changed": [...], "unchanged": [...], "not_found": [...]}``; marking twice is harmless."""
        if state not in ("exported", "paid"):
            raise ValidationFailed(f"state: {state!r} is not exported or paid.", {"field": "state"})
        result: dict[str, Any] = {"state": state, "changed": [], "unchanged": [], "not_found": []}
        reference = str(self.options.get("export_reference") or f"finops:{self.conn.code}")
        for report_id in report_ids:
            status, answer = self.client.post_json(f"reports/{quote(str(report_id), safe='')}/export",
                                                   {"state": state, "reference": reference}, answers=(404,))
            if status == 404:
                result["not_found"].append(report_id)
                continue
            result["changed" if answer.get("Changed") else "unchanged"].append(report_id)
        self.recorder.count("marked", len(result["changed"]))
        return result

    def check(self) -> dict:
        info = self.client.get_json("")
        return {"platform": info.get("code") if isinstance(info, dict) else None}
