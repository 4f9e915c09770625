"""The legacy ERP's file exchange: CSV files (UTF-8, ``;``-separated, a header row, decimal point ``.``, dates
``YYYY-MM-DD``) under ``<sandbox root>/<code>/`` (or the ERP's ``file_root``), reachable over SFTP or as a mounted
directory. The layout and the columns are documented in docs/sandbox.md.

- ``export/payments/``: payment runs to pay, one row per instruction, written when a run is queued;
- ``export/masterdata/<entity>/*.csv``: master data snapshots, rewritten when master data changes;
- ``export/acks/<journal_id>.csv``: one acknowledgement per journal taken in (posted or rejected);
- ``import/journals/``, ``import/payment_status/``: what the hub drops, taken in by ``sandbox_tick`` and then
  moved to ``processed/`` (unreadable payment status files to ``rejected/`` with a ``.reason.txt``).

Files are written as ``name.part`` and renamed; files being written (``.part``/``.tmp``) and dot files are left
alone. Each step works on what is still open, so a tick can run again after a crash.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.sandbox import faults
from apps.sandbox.erp_services import (
    JournalError,
    erp_dir,
    erp_get,
    sandbox_journal_receive,
    sandbox_payment_status_receive,
)
from apps.sandbox.models import BatchStatus, Channel, ErpFlavour, SandboxErp, SandboxErpEntity, SandboxErpPaymentBatch
from apps.sandbox.services import PARTIAL_SUFFIXES, safe_name, write_atomic

logger = logging.getLogger(__name__)

DELIMITER = ";"
PAYMENT_COLUMNS = ("run_id", "company", "house_bank_account", "payment_date", "item", "end_to_end_id",
                   "document_ref", "amount", "currency", "payee_id", "payee_name", "payee_iban", "payee_bic",
                   "payee_account_number", "payee_routing", "payee_street", "payee_building_number",
                   "payee_postal_code", "payee_town", "payee_country", "remittance", "purpose")
JOURNAL_COLUMNS = ("journal_id", "company", "posting_date", "period", "currency", "description", "source_kind",
                   "source_platform", "source_ref", "line", "account", "cost_centre", "debit", "credit", "tax_code",
                   "tax_amount", "text")
STATUS_COLUMNS = ("event_id", "company", "payment_run", "hub_batch_id", "run_status", "occurred_at",
                  "end_to_end_id", "document_ref", "status", "reason_code", "reason", "amount", "currency")
ACK_COLUMNS = ("journal_id", "status", "document_number", "error_code", "message", "field", "period",
               "processed_at")
MASTERDATA = {
    "company.csv": ("code", "name", "country", "currency", "employee_payable", "rounding", "as_of"),
    "gl_accounts.csv": ("code", "name", "active"),
    "cost_centres.csv": ("code", "name", "active", "valid_from", "valid_to"),
    "tax_codes.csv": ("code", "country", "rate", "gl_account", "active"),
    "employees.csv": ("id", "name", "active", "email", "iban", "bic", "account_number", "routing", "currency",
                      "street", "postal_code", "town", "country"),
    "periods.csv": ("period", "start", "end", "status"),
    "category_accounts.csv": ("category", "gl_account"),
    "fx_rates.csv": ("date", "base", "quote", "rate"),
}


def erp_dirs(erp: SandboxErp) -> dict[str, Path]:
    base = erp_dir(erp)
    return {"payments": base / "export" / "payments", "masterdata": base / "export" / "masterdata",
            "acks": base / "export" / "acks", "journals": base / "import" / "journals",
            "payment_status": base / "import" / "payment_status"}


def erp_dirs_ensure(erp: SandboxErp) -> None:
    for path in erp_dirs(erp).values():
        path.mkdir(parents=True, exist_ok=True)


def csv_bytes(columns: tuple[str, ...], rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, delimiter=DELIMITER, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    return out.getvalue().encode()


def _flag(value: bool) -> str:
    return "Y" if value else "N"


def _iso(value) -> str:
    return value.isoformat() if value else ""


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    write_atomic(path, data)
    return True


# -- exports ------------------------------------------------------------------------------------------------------

def _masterdata_files(entity: SandboxErpEntity) -> dict[str, list[dict]]:
    return {
        "company.csv": [{"code": entity.code, "name": entity.name, "country": entity.country,
                         "currency": entity.currency, "employee_payable": entity.employee_payable_account,
                         "rounding": entity.rounding_account,
                         "as_of": entity.master_data_changed_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}],
        "gl_accounts.csv": [{"code": a.code, "name": a.name, "active": _flag(a.active)}
                            for a in entity.gl_accounts.order_by("code")],
        "cost_centres.csv": [{"code": c.code, "name": c.name, "active": _flag(c.active),
                              "valid_from": _iso(c.valid_from), "valid_to": _iso(c.valid_to)}
                             for c in entity.cost_centres.order_by("code")],
        "tax_codes.csv": [{"code": t.code, "country": t.country, "rate": t.rate_text, "gl_account": t.gl_account,
                           "active": _flag(t.active)} for t in entity.tax_codes.order_by("code")],
        "employees.csv": [{"id": e.employee_id, "name": e.name, "active": _flag(e.active), "email": e.email,
                           "iban": e.iban, "bic": e.bic, "account_number": e.account_number, "routing": e.routing,
                           "currency": e.currency, "street": e.street, "postal_code": e.postal_code, "town": e.town,
                           "country": e.country} for e in entity.employees.order_by("employee_id")],
        "periods.csv": [{"period": p.period, "start": _iso(p.start), "end": _iso(p.end), "status": p.status}
                        for p in entity.periods.order_by("period")],
        "category_accounts.csv": [{"category": c.category, "gl_account": c.gl_account}
                                  for c in entity.category_accounts.order_by("category")],
        "fx_rates.csv": [{"date": _iso(r.date), "base": r.base, "quote": r.quote, "rate": _plain(r.rate)}
                         for r in entity.fx_rates.order_by("date", "base", "quote")],
    }


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def masterdata_write(entity_id: int) -> int:
    """Rewrite an entity's master data snapshots (only files whose content changed). Returns files written."""
    entity = SandboxErpEntity.objects.select_related("erp").filter(pk=entity_id).first()
    if entity is None or not entity.erp.is_legacy or faults.in_outage(entity.erp):
        return 0
    target = erp_dirs(entity.erp)["masterdata"] / safe_name(entity.code)
    written = 0
    for name, rows in _masterdata_files(entity).items():
        data = faults.maybe_truncate(entity.erp, csv_bytes(MASTERDATA[name], rows))
        written += _write_if_changed(target / name, data)
    return written


def _payment_rows(batch: SandboxErpPaymentBatch) -> list[dict]:
    payload = batch.payload
    rows = []
    for item, instruction in enumerate(payload.get("instructions") or [], start=1):
        creditor = instruction.get("creditor") or {}
        address = creditor.get("address") or {}
        rows.append({
            "run_id": batch.reference, "company": payload.get("entity"),
            "house_bank_account": payload.get("debtor_account"), "payment_date": payload.get("requested_execution_date"),
            "item": item, "end_to_end_id": instruction.get("end_to_end_id"),
            "document_ref": instruction.get("erp_reference"), "amount": instruction.get("amount"),
            "currency": instruction.get("currency"), "payee_id": creditor.get("counterparty_ref"),
            "payee_name": creditor.get("name"), "payee_iban": creditor.get("iban"), "payee_bic": creditor.get("bic"),
            "payee_account_number": creditor.get("account_number"), "payee_routing": creditor.get("routing"),
            "payee_street": address.get("street"), "payee_building_number": address.get("building_number"),
            "payee_postal_code": address.get("postal_code"), "payee_town": address.get("town"),
            "payee_country": address.get("country"), "remittance": instruction.get("remittance_information"),
            "purpose": instruction.get("purpose"),
        })
    return rows


@transaction.atomic
def payment_run_export(erp_code: str) -> str:
    """Write the ERP's ready, not yet exported batches as ONE payment run file. Returns its name ("" if none).

    The file is written before the batches are marked exported: a crash in between exports them again in the next
    run file (the hub recognises the same batches), never loses one."""
    erp = erp_get(erp_code, lock=True)
    if not erp.is_legacy or faults.in_outage(erp):
        return ""
    batches = list(erp.payment_batches.select_for_update().filter(status=BatchStatus.READY, run_file="")
                   .order_by("pk"))
    if not batches:
        return ""
    name = f"PAYRUN_{timezone.now():%Y%m%d%H%M%S}_{safe_name(batches[0].reference)}.csv"
    rows = [row for batch in batches for row in _payment_rows(batch)]
    write_atomic(erp_dirs(erp)["payments"] / name, faults.maybe_truncate(erp, csv_bytes(PAYMENT_COLUMNS, rows)))
    for batch in batches:
        batch.status, batch.run_file = BatchStatus.EXPORTED, name
        batch.save(update_fields=["status", "run_file"])
    logger.info("sandbox ERP %s: payment run %s with %d batch(es)", erp.code, name, len(batches))
    return name


@transaction.atomic
def _pickups(erp: SandboxErp) -> int:
    """Exported batches whose run file is gone from export/payments/ were taken by the hub."""
    folder = erp_dirs(erp)["payments"]
    n = 0
    for batch in erp.payment_batches.select_for_update().filter(status=BatchStatus.EXPORTED):
        if not (folder / batch.run_file).exists():
            batch.status, batch.picked_up_at = BatchStatus.PICKED_UP, timezone.now()
            batch.save(update_fields=["status", "picked_up_at"])
            n += 1
    return n


# -- imports ------------------------------------------------------------------------------------------------------

class CsvUnreadable(ApplicationError):
    pass


def _rows(data: bytes, columns: tuple[str, ...], required: tuple[str, ...]) -> list[tuple[int, dict]]:
    """Parse a CSV the ERP takes in: ``[(line number, row)]``; CsvUnreadable names the line and column."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvUnreadable(f"line 1: not UTF-8 (byte {exc.start}).") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITER, strict=True)
    try:
        header = next(reader, None)
        if not header:
            raise CsvUnreadable("line 1: the file is empty (a header row is expected).")
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise CsvUnreadable(f"line 1: missing column(s) {', '.join(missing)}.")
        rows = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise CsvUnreadable(f"line {reader.line_num}: {len(values)} fields where the header has "
                                    f"{len(header)}.")
            rows.append((reader.line_num, {h: v.strip() for h, v in zip(header, values) if h in columns}))
    except csv.Error as exc:
        raise CsvUnreadable(f"line {reader.line_num}: {exc}.") from None
    if not rows:
        raise CsvUnreadable("line 2: no data rows.")
    return rows


def _same_in_every_row(rows: list[tuple[int, dict]], column: str) -> str:
    first = rows[0][1].get(column, "")
    for line, row in rows[1:]:
        if row.get(column, "") != first:
            raise CsvUnreadable(f"line {line}, column {column}: {row.get(column)!r} differs from {first!r} on line "
                                f"{rows[0][0]} (one journal per file).")
    return first


def journal_from_csv(data: bytes) -> dict:
    """A journal file (one row per line) as the normalised journal the ERP posts."""
    rows = _rows(data, JOURNAL_COLUMNS, ("journal_id", "company", "posting_date", "period", "currency", "account",
                                         "debit", "credit"))
    head = {c: _same_in_every_row(rows, c) for c in ("journal_id", "company", "posting_date", "period", "currency",
                                                      "description", "source_kind", "source_platform", "source_ref")}
    for line, row in rows:
        for column in ("debit", "credit", "tax_amount"):
            value = row.get(column, "")
            if value and not re.fullmatch(r"-?\d+(\.\d+)?", value):
                raise CsvUnreadable(f"line {line}, column {column}: {value!r} is not a decimal number with a point.")
    return {
        "external_reference": head["journal_id"], "entity": head["company"], "posting_date": head["posting_date"],
        "period": head["period"], "currency": head["currency"], "description": head["description"],
        "source": {"kind": head["source_kind"], "platform": head["source_platform"], "ref": head["source_ref"]},
        "lines": [{"account": row.get("account", ""), "cost_centre": row.get("cost_centre", ""),
                   "debit": row.get("debit") or "0", "credit": row.get("credit") or "0",
                   "tax_code": row.get("tax_code", ""), "tax_amount": row.get("tax_amount") or "0",
                   "text": row.get("text", "")} for _line, row in rows],
    }


def payment_status_from_csv(data: bytes) -> dict:
    rows = _rows(data, STATUS_COLUMNS, ("event_id", "run_status"))
    head = {c: _same_in_every_row(rows, c) for c in ("event_id", "company", "payment_run", "hub_batch_id",
                                                      "run_status", "occurred_at")}
    items = [{"end_to_end_id": row.get("end_to_end_id", ""), "document_ref": row.get("document_ref", ""),
              "status": row.get("status", ""), "reason_code": row.get("reason_code", ""),
              "reason": row.get("reason", ""), "amount": row.get("amount", ""), "currency": row.get("currency", "")}
             for _line, row in rows if row.get("end_to_end_id") or row.get("document_ref")]
    return {**head, "items": items}


def _inbox(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")
            and not p.name.lower().endswith(PARTIAL_SUFFIXES)]


def _move(path: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{timezone.now():%Y%m%d%H%M%S%f}{path.suffix}"
    os.replace(path, target)


def _ack(erp: SandboxErp, journal_id: str, *, status: str, document_number: str = "",
         error: JournalError | None = None) -> None:
    row = {"journal_id": journal_id, "status": status, "document_number": document_number,
           "processed_at": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    if error is not None:
        row.update({"error_code": error.code, "message": error.message, "field": error.field, "period": error.period})
    write_atomic(erp_dirs(erp)["acks"] / f"{safe_name(journal_id)}.csv", csv_bytes(ACK_COLUMNS, [row]))


def _take_journals(erp: SandboxErp, result: ErpTickResult) -> None:
    folder = erp_dirs(erp)["journals"]
    for path in _inbox(folder):
        try:
            outcome = sandbox_journal_receive(erp_code=erp.code, data=journal_from_csv(path.read_bytes()),
                                              channel=Channel.FILE)
        except ApplicationError as exc:  # unreadable file, or no journal id
            _ack(erp, path.stem, status="rejected",
                 error=JournalError("invalid", f"{path.name}: {exc.message}", exc.extra.get("field", "file"), ""))
            result.journals_rejected += 1
        else:
            journal = outcome.journal
            if outcome.posted:
                _ack(erp, journal.external_reference, status="posted", document_number=journal.document_number)
                result.journals_posted += 1
            else:
                e = journal.error
                _ack(erp, journal.external_reference, status="rejected",
                     error=JournalError(e.get("code", "invalid"), e.get("message", ""), e.get("field", ""),
                                        e.get("period", "")))
                result.journals_rejected += 1
        _move(path, folder / "processed")  # after the ack: a crash in between takes it in again (same answer)


def _take_status_updates(erp: SandboxErp, result: ErpTickResult) -> None:
    folder = erp_dirs(erp)["payment_status"]
    for path in _inbox(folder):
        try:
            data = payment_status_from_csv(path.read_bytes())
            _update, created = sandbox_payment_status_receive(erp_code=erp.code, data=data, channel=Channel.FILE)
        except ApplicationError as exc:
            rejected = folder / "rejected"
            rejected.mkdir(parents=True, exist_ok=True)
            (rejected / f"{path.name}.reason.txt").write_text(f"{exc.message}\n")
            _move(path, rejected)
            result.status_refused += 1
            continue
        result.status_updates += 1 if created else 0
        result.status_duplicates += 0 if created else 1
        _move(path, folder / "processed")


@dataclass
class ErpTickResult:
    erp: str
    skipped: str = ""
    payment_runs: list[str] = field(default_factory=list)
    picked_up: int = 0
    journals_posted: int = 0
    journals_rejected: int = 0
    status_updates: int = 0
    status_duplicates: int = 0
    status_refused: int = 0
    masterdata_files: int = 0


def sandbox_erp_tick(*, erp_code: str | None = None) -> list[ErpTickResult]:
    """Advance the legacy ERPs: export ready payment runs, notice runs the hub took, take in journal files
    (writing an ack each) and payment status files, refresh master data snapshots. An ERP inside its outage
    window does nothing (``skipped: outage``). Safe to run again."""
    qs = SandboxErp.objects.filter(flavour=ErpFlavour.LEGACY)
    erps = [erp_get(erp_code)] if erp_code else list(qs.order_by("code"))
    results = []
    for erp in erps:
        result = ErpTickResult(erp=erp.code)
        results.append(result)
        if not erp.is_legacy:
            result.skipped = "cloud ERP (REST API): nothing to advance"
            continue
        if faults.in_outage(erp):
            result.skipped = "outage"
            continue
        erp_dirs_ensure(erp)
        name = payment_run_export(erp.code)
        if name:
            result.payment_runs.append(name)
        result.picked_up = _pickups(erp)
        _take_journals(erp, result)
        _take_status_updates(erp, result)
        for entity_id in erp.entities.values_list("pk", flat=True):
            result.masterdata_files += masterdata_write(entity_id)
    return results
