"""Expense reports uploaded as CSV (a platform's export, or a spreadsheet): one row per line, the report's fields
repeated on each of its rows. Columns (header names, any order; * required):

    report_id*, entity*, employee_id*, employee_name, title, currency*, total*, approved_at, approved_by,
    line_id*, date*, category*, amount*, line_currency, tax_code, tax_amount, cost_centre, project, merchant,
    receipt_ref, description, original_amount, original_currency, fx_rate

Each report goes through the same contract as the API (``finops.expense_report.v1``). Good reports are taken;
each bad one is listed with its rows and the problem, and the file (kept as a raw document) gets one case.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from apps.core.errors import ValidationFailed
from apps.core.services import document_store

REQUIRED = ("report_id", "entity", "employee_id", "currency", "total", "line_id", "date", "category", "amount")
REPORT_FIELDS = ("entity", "employee_id", "employee_name", "title", "currency", "total", "approved_at", "approved_by")
LINE_FIELDS = ("line_id", "date", "category", "amount", "tax_code", "tax_amount", "cost_centre", "project", "merchant",
               "receipt_ref", "description", "original_amount", "original_currency", "fx_rate")
MAX_BYTES = 20 * 1024 * 1024


@dataclass
class CsvImportResult:
    created: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    document_id: int | None = None


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed("The file is neither UTF-8 nor Windows-1252 text.")


def expense_csv_import(*, content: bytes, platform: str, actor, filename: str = "") -> CsvImportResult:
    from apps.expenses.services import expense_report_receive, intake_failure_record

    if len(content) > MAX_BYTES:
        raise ValidationFailed(f"The file is larger than {MAX_BYTES // 1024 // 1024} MB; split it.")
    if not content.strip():
        raise ValidationFailed("The file is empty.")
    document, _ = document_store(content=content, source=f"expense:{platform}:upload", media_type="text/csv",
                                 filename=filename or "expense-reports.csv", actor=actor)
    text = _decode(content)
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValidationFailed(f"line 1 (header): missing column(s) {', '.join(missing)}; found {', '.join(header)}.")
    reader.fieldnames = header
    groups: dict[str, dict] = {}
    for row_number, row in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k}
        if not any(row.values()):
            continue
        key = row.get("report_id", "")
        group = groups.setdefault(key, {"rows": [], "payload": None})
        group["rows"].append(row_number)
        if group["payload"] is None:
            group["payload"] = {"platform": platform, "report_id": key,
                                **{f: row.get(f) for f in REPORT_FIELDS if row.get(f)}, "lines": []}
        line = {f: row.get(f) for f in LINE_FIELDS if row.get(f)}
        line["currency"] = row.get("line_currency") or row.get("currency", "")
        group["payload"]["lines"].append(line)
    result = CsvImportResult(document_id=document.pk)
    for key, group in groups.items():
        rows = group["rows"]
        where = f"line{'s' if len(rows) > 1 else ''} {rows[0]}{'-' + str(rows[-1]) if len(rows) > 1 else ''}"
        try:
            report, created = expense_report_receive(payload=group["payload"], source="upload", actor=actor,
                                                     document=document)
        except ValidationFailed as exc:
            result.rejected.append({"report_id": key, "rows": where, "error": exc.message})
            continue
        (result.created if created else result.duplicates).append(report.external_id)
    if result.rejected:
        intake_failure_record(document_id=document.pk, message="; ".join(
            f"report {r['report_id'] or '(no id)'} ({r['rows']}): {r['error']}" for r in result.rejected)[:4000])
    return result
