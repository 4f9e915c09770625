"""``csv_erp``: a legacy ERP that exchanges CSV files over a file transport (``directory`` or ``sftp``).

Options (paths relative to the endpoint; defaults are the sandbox legacy ERP's layout, docs/sandbox.md):
``payments_dir`` (``export/payments``), ``archive_dir`` (``archive/payments``), ``masterdata_dir``
(``export/masterdata``), ``acks_dir`` (``export/acks``), ``journals_dir`` (``import/journals``), ``status_dir``
(``import/payment_status``), ``status_processed_dir`` (``import/payment_status/processed``), ``entities``,
``settle_seconds``. Payment run files are picked up with ``channels.pickup``: stored first, archived after, and
the raw CSV is kept with the run next to the canonical documents made of it.
"""

from __future__ import annotations

from typing import Any

from apps.connectors.adapters.common import (
    JOURNAL,
    MASTER_DATA,
    PAYMENT_BATCH,
    PAYMENT_STATUS,
    UNKNOWN,
    Delivery,
    posted,
    read_document,
    reference,
    rejected,
    sent,
    submitted,
)
from apps.connectors.adapters.csvfiles import Row, read_rows, same_in_group, write_rows
from apps.connectors.channels import open_file_transport, pickup
from apps.connectors.errors import PermanentError
from apps.connectors.models import Connection
from apps.connectors.resilience import Recorder
from apps.connectors.transports.base import FileTransport, join
from apps.core.models import RawDocument
from apps.core.services import document_open

DEFAULT_DIRS = {"payments_dir": "export/payments", "archive_dir": "archive/payments",
                "masterdata_dir": "export/masterdata", "acks_dir": "export/acks", "journals_dir": "import/journals",
                "status_dir": "import/payment_status", "status_processed_dir": "import/payment_status/processed"}
JOURNAL_COLUMNS = ("journal_id", "company", "posting_date", "period", "currency", "description", "source_kind",
                   "source_platform", "source_ref", "line", "account", "cost_centre", "debit", "credit", "tax_code",
                   "tax_amount", "text")
STATUS_COLUMNS = ("event_id", "company", "payment_run", "hub_batch_id", "run_status", "occurred_at",
                  "end_to_end_id", "document_ref", "status", "reason_code", "reason", "amount", "currency")
MASTERDATA_FILES = ("company.csv", "gl_accounts.csv", "cost_centres.csv", "tax_codes.csv", "employees.csv",
                    "periods.csv", "category_accounts.csv", "fx_rates.csv")


# -- ERP files -> canonical documents ------------------------------------------------------------------------------

def _instruction(row: Row) -> dict:
    creditor = {"name": row.need("payee_name")}
    for key, column in (("iban", "payee_iban"), ("bic", "payee_bic"), ("account_number", "payee_account_number"),
                        ("routing", "payee_routing"), ("counterparty_ref", "payee_id")):
        if row.get(column):
            creditor[key] = row.get(column)
    address = {key: row.get(f"payee_{key}") for key in ("street", "building_number", "postal_code", "town", "country")
               if row.get(f"payee_{key}")}
    if address:
        creditor["address"] = address
    instruction = {"end_to_end_id": row.need("end_to_end_id"), "amount": row.decimal("amount"),
                   "currency": row.need("currency"), "creditor": creditor}
    for key, column in (("remittance_information", "remittance"), ("purpose", "purpose"),
                        ("erp_reference", "document_ref")):
        if row.get(column):
            instruction[key] = row.get(column)
    return instruction


def payment_batches_from_csv(name: str, data: bytes) -> list[dict]:
    """A payment run file (one row per instruction, any number of runs) as finops.payment_batch.v1 documents,
    one per ``run_id``, in the order of the file. Refuses a malformed file naming the line and column."""
    rows = read_rows(name, data, required=("run_id", "company", "house_bank_account", "payment_date",
                                           "end_to_end_id", "amount", "currency", "payee_name"))
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.need("run_id"), []).append(row)
    batches = []
    for run_id, group in groups.items():
        for row in group:
            row.date("payment_date")
        batches.append({
            "schema": PAYMENT_BATCH, "entity": same_in_group(group, "company"),
            "debtor_account": same_in_group(group, "house_bank_account"),
            "requested_execution_date": same_in_group(group, "payment_date"), "erp_reference": run_id,
            "instructions": [_instruction(row) for row in group],
        })
    return batches


def master_data_from_csv(files: dict[str, bytes]) -> dict:
    """An entity's master data snapshot files as one finops.master_data.v1."""
    def rows(name: str, required: tuple[str, ...]) -> list[Row]:
        if name not in files:
            return []
        return read_rows(name, files[name], required=required, allow_empty=True)

    company = rows("company.csv", ("code", "currency", "as_of"))
    if len(company) != 1:
        raise PermanentError(f"company.csv: expected one row describing the entity, found {len(company)}.")
    head = company[0]
    return {
        "schema": MASTER_DATA, "entity": head.need("code"), "as_of": head.need("as_of"),
        "gl_accounts": [{"code": r.need("code"), "name": r.get("name"), "active": r.flag("active")}
                        for r in rows("gl_accounts.csv", ("code", "active"))],
        "cost_centres": [{"code": r.need("code"), "name": r.get("name"), "active": r.flag("active"),
                          "valid_from": r.date("valid_from", required=False) or None,
                          "valid_to": r.date("valid_to", required=False) or None}
                         for r in rows("cost_centres.csv", ("code", "active"))],
        "tax_codes": [{"code": r.need("code"), "country": r.get("country"), "rate": r.decimal("rate"),
                       "gl_account": r.get("gl_account"), "active": r.flag("active")}
                      for r in rows("tax_codes.csv", ("code", "rate", "active"))],
        "employees": [{"id": r.need("id"), "name": r.get("name"), "entity": head.need("code"),
                       "active": r.flag("active"), "email": r.get("email"), "iban": r.get("iban"),
                       "bic": r.get("bic"), "account_number": r.get("account_number"), "routing": r.get("routing"),
                       "currency": r.get("currency"), "street": r.get("street"), "postal_code": r.get("postal_code"),
                       "town": r.get("town"), "country": r.get("country")}
                      for r in rows("employees.csv", ("id", "active"))],
        "periods": [{"period": r.need("period"), "start": r.date("start"), "end": r.date("end"),
                     "status": r.need("status")} for r in rows("periods.csv", ("period", "start", "end", "status"))],
        "category_accounts": [{"category": r.need("category"), "gl_account": r.need("gl_account")}
                              for r in rows("category_accounts.csv", ("category", "gl_account"))],
        "fx_rates": [{"date": r.date("date"), "base": r.need("base"), "quote": r.need("quote"),
                      "rate": r.decimal("rate")} for r in rows("fx_rates.csv", ("date", "base", "quote", "rate"))],
        "accounts": {"employee_payable": head.get("employee_payable"), "rounding": head.get("rounding")},
    }


def _ack_answer(name: str, data: bytes) -> dict:
    [row] = read_rows(name, data, required=("journal_id", "status"))[:1]
    if row.get("status") == "posted":
        return posted(row.need("document_number"), already=True)
    if row.get("status") == "rejected":
        return rejected({"code": row.get("error_code"), "message": row.get("message"), "field": row.get("field"),
                         "period": row.get("period")})
    raise PermanentError(f"{row.where('status')}: {row.get('status')!r} is neither posted nor rejected.")


# -- canonical documents -> ERP files ------------------------------------------------------------------------------

def journal_csv(journal: dict, journal_id: str) -> bytes:
    lines = journal.get("lines")
    if not isinstance(lines, list) or not lines:
        raise PermanentError(f"{JOURNAL} {journal_id}: no lines.")
    source = journal.get("source") or {}
    head = {"journal_id": journal_id, "company": journal.get("entity"), "posting_date": journal.get("posting_date"),
            "period": journal.get("period"), "currency": journal.get("currency"),
            "description": journal.get("description", ""), "source_kind": source.get("kind", ""),
            "source_platform": source.get("platform", ""),
            "source_ref": source.get("report_id") or source.get("ref") or ""}
    return write_rows(JOURNAL_COLUMNS, [
        {**head, "line": n, **{k: line.get(k) for k in ("account", "cost_centre", "debit", "credit", "tax_code",
                                                        "tax_amount", "text")}}
        for n, line in enumerate(lines, start=1)])


def payment_status_csv(status: dict, event_id: str) -> bytes:
    batch = status.get("batch") or {}
    head = {"event_id": event_id, "company": status.get("entity"), "payment_run": batch.get("erp_reference"),
            "hub_batch_id": batch.get("id"), "run_status": batch.get("status"), "occurred_at": status.get("occurred_at")}
    items = [i for i in status.get("instructions") or [] if isinstance(i, dict)]
    return write_rows(STATUS_COLUMNS, [
        {**head, "end_to_end_id": i.get("end_to_end_id"), "document_ref": i.get("erp_reference"),
         "status": i.get("status"), "reason_code": i.get("reason_code"), "reason": i.get("reason"),
         "amount": i.get("amount"), "currency": i.get("currency")} for i in items] or [head])


class CsvErpAdapter:
    def __init__(self, transport: FileTransport, conn: Connection, recorder: Recorder):
        self.transport = transport
        self.conn = conn
        self.recorder = recorder
        options = conn.options or {}
        self.dirs = {key: str(options.get(key) or default) for key, default in DEFAULT_DIRS.items()}
        self.entities = options.get("entities") or []

    @classmethod
    def connect(cls, conn: Connection, recorder: Recorder) -> CsvErpAdapter:
        transport = open_file_transport(conn, recorder)
        transport.open()
        return cls(transport, conn, recorder)

    def close(self) -> None:
        self.transport.close()

    # -- ERP -> hub ----------------------------------------------------------------------------------------------
    def pull_payment_batches(self) -> list[RawDocument]:
        """Payment run files: every settled file is read and checked first (a malformed one fails the run naming
        the line and column, and nothing is archived); then each is stored (kept as the original), archived,
        and its runs handed over as canonical documents. A file delivered before is archived only."""
        delivery = Delivery(self.conn, self.recorder)
        files = pickup(self.transport, self.recorder, conn=self.conn, inbox=self.dirs["payments_dir"],
                       archive=self.dirs["archive_dir"], check=payment_batches_from_csv, original=True)
        for csv_doc in files:
            with document_open(csv_doc) as fh:
                data = fh.read()
            for batch in payment_batches_from_csv(csv_doc.filename, data):
                delivery.canonical(batch, f"payment-batch-{batch['erp_reference']}.json")
        return delivery.received

    def pull_master_data(self) -> list[RawDocument]:
        delivery = Delivery(self.conn, self.recorder)
        base = self.dirs["masterdata_dir"]
        present = [e.name for e in self.transport.list(base) if not e.is_file and not e.name.startswith(".")]
        unknown = [e for e in self.entities if e not in present]
        if unknown:
            raise PermanentError(f"Connection {self.conn.code}: no master data for {', '.join(unknown)} in {base}/ "
                                 f"(found {', '.join(present) or 'none'}); fix options.entities.")
        for entity in self.entities or present:
            files: dict[str, bytes] = {}
            for name in MASTERDATA_FILES:
                path = join(base, entity, name)
                if self.transport.stat(path) is None:
                    if name == "company.csv":
                        raise PermanentError(f"{path}: missing; the master data snapshot of {entity} is incomplete.")
                    continue
                files[name] = self.transport.read(path)
                delivery.original(files[name], path, "text/csv")
            doc = master_data_from_csv(files)
            if doc["entity"] != entity:
                raise PermanentError(f"{join(base, entity, 'company.csv')}: describes {doc['entity']}, not {entity}.")
            stamp = doc["as_of"].replace(":", "").replace("-", "")
            delivery.canonical(doc, f"master-data-{entity}-{stamp}.json")
        return delivery.received

    # -- hub -> ERP ----------------------------------------------------------------------------------------------
    def _ack(self, journal_id: str) -> dict | None:
        path = join(self.dirs["acks_dir"], f"{journal_id}.csv")
        if self.transport.stat(path) is None:
            return None
        return _ack_answer(path, self.transport.read(path))

    def _pending(self, journal_id: str) -> bool:
        return self.transport.stat(join(self.dirs["journals_dir"], f"{journal_id}.csv")) is not None

    def post_journal(self, doc: RawDocument) -> dict[str, Any]:
        """Posted before (its ack says so): that answer. Still waiting in the ERP's inbox: submitted. Otherwise
        the journal is written (atomically) as ``<journal_id>.csv``: submitted; the ERP's ack, read by
        ``journal_status``, tells posted or rejected. A journal rejected before is submitted again (its master data
        may have been fixed); the ERP posts a reference at most once."""
        journal = read_document(doc, JOURNAL)
        journal_id = reference(journal, "journal_id", JOURNAL)
        ack = self._ack(journal_id)
        name = f"{journal_id}.csv"
        if ack is not None and ack["status"] == "posted":
            self.recorder.count("already_posted")
            return ack
        if self._pending(journal_id):
            self.recorder.count("already_submitted")
            return submitted(name)
        data = journal_csv(journal, journal_id)
        self.transport.makedirs(self.dirs["journals_dir"])
        self.transport.write_atomic(join(self.dirs["journals_dir"], name), data)
        sent(self.recorder, doc, join(self.dirs["journals_dir"], name), len(data))
        return submitted(name)

    def journal_status(self, journal_id: str) -> dict[str, Any]:
        journal_id = reference({"journal_id": journal_id}, "journal_id", JOURNAL)
        if self._pending(journal_id):
            return submitted(f"{journal_id}.csv")
        ack = self._ack(journal_id)
        return UNKNOWN.copy() if ack is None else ack

    def push_payment_status(self, doc: RawDocument) -> dict[str, Any]:
        status = read_document(doc, PAYMENT_STATUS)
        event_id = reference(status, "event_id", PAYMENT_STATUS)
        name = f"{event_id}.csv"
        for folder in (self.dirs["status_dir"], self.dirs["status_processed_dir"]):
            if self.transport.stat(join(folder, name)) is not None:
                self.recorder.count("already_sent")
                return {"status": "delivered", "duplicate": True}
        data = payment_status_csv(status, event_id)
        self.transport.makedirs(self.dirs["status_dir"])
        self.transport.write_atomic(join(self.dirs["status_dir"], name), data)
        sent(self.recorder, doc, join(self.dirs["status_dir"], name), len(data))
        return {"status": "delivered", "duplicate": False}

    def check(self) -> dict:
        return {**self.transport.ping(), "payments_waiting": sum(
            1 for e in self.transport.list(self.dirs["payments_dir"]) if e.is_file and not e.name.startswith("."))}
