"""``rest_erp``: a cloud ERP over its REST API (the sandbox cloud ERP's dialect; OAuth2 client credentials with
``options.token_url``, or an API key).

Options: ``entities`` (master data for these entity codes; default all the ERP keeps), ``page_size`` (100).
ERP paths, relative to the endpoint: ``entities``, ``gl-accounts``, ``cost-centres``, ``tax-codes``, ``employees``,
``periods``, ``category-accounts``, ``fx-rates`` (``?entity=``), ``payment-batches?status=ready`` (+ ``<id>/ack``),
``journals`` (POST; GET ``?external_reference=``), ``payment-status``.
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
    PartnerClient,
    need,
    open_partner_client,
    posted,
    read_document,
    reference,
    rejected,
    sent,
    text,
)
from apps.connectors.errors import PermanentError
from apps.connectors.models import Connection
from apps.connectors.resilience import Recorder
from apps.core.models import RawDocument

#: The ERP's names of journal fields that differ from finops.journal.v1.
FIELD_NAMES = {"external_reference": "journal_id", "company": "entity", "header_text": "description"}


def _master_data(entity: dict, rows: dict[str, list[dict]]) -> dict:
    """One finops.master_data.v1 from the ERP's company record and its resources (ERP dialect -> canonical)."""
    code = entity["code"]

    def each(resource: str, build) -> list[dict]:
        return [build(item, f"GET {resource} item {i + 1}") for i, item in enumerate(rows[resource])]

    accounts = entity.get("accounts") or {}
    return {
        "schema": MASTER_DATA, "entity": code, "as_of": need(entity, "as_of", "GET entities"),
        "gl_accounts": each("gl-accounts", lambda a, w: {
            "code": text(need(a, "number", w)), "name": text(a.get("description")), "active": not a.get("blocked")}),
        "cost_centres": each("cost-centres", lambda c, w: {
            "code": text(need(c, "cost_centre", w)), "name": text(c.get("description")),
            "active": bool(c.get("active")), "valid_from": c.get("valid_from"), "valid_to": c.get("valid_to")}),
        "tax_codes": each("tax-codes", lambda t, w: {
            "code": text(need(t, "tax_code", w)), "country": text(t.get("country")),
            "rate": text(need(t, "rate_percent", w)), "gl_account": text(t.get("tax_account")),
            "active": bool(t.get("active"))}),
        "employees": each("employees", lambda e, w: {
            "id": text(need(e, "personnel_number", w)), "name": text(e.get("full_name")), "entity": code,
            "active": bool(e.get("active")), "email": text(e.get("email")),
            "iban": text((e.get("bank") or {}).get("iban")), "bic": text((e.get("bank") or {}).get("bic")),
            "account_number": text((e.get("bank") or {}).get("account_number")),
            "routing": text((e.get("bank") or {}).get("routing_number")), "currency": text(e.get("currency")),
            "street": text((e.get("home_address") or {}).get("street")),
            "postal_code": text((e.get("home_address") or {}).get("zip")),
            "town": text((e.get("home_address") or {}).get("city")),
            "country": text((e.get("home_address") or {}).get("country"))}),
        "periods": each("periods", lambda p, w: {
            "period": text(need(p, "fiscal_period", w)), "start": p.get("start"), "end": p.get("end"),
            "status": text(need(p, "status", w))}),
        "category_accounts": each("category-accounts", lambda c, w: {
            "category": text(need(c, "expense_category", w)), "gl_account": text(need(c, "gl_account", w))}),
        "fx_rates": each("fx-rates", lambda r, w: {
            "date": text(need(r, "valid_on", w)), "base": text(need(r, "from_currency", w)),
            "quote": text(need(r, "to_currency", w)), "rate": text(need(r, "rate", w))}),
        "accounts": {"employee_payable": text(accounts.get("employee_payable")),
                     "rounding": text(accounts.get("rounding"))},
    }


class RestErpAdapter:
    MASTER_DATA_RESOURCES = ("gl-accounts", "cost-centres", "tax-codes", "employees", "periods", "category-accounts",
                             "fx-rates")

    def __init__(self, client: PartnerClient, conn: Connection, recorder: Recorder):
        self.client = client
        self.conn = conn
        self.recorder = recorder
        self.options = conn.options or {}
        self.page = {"limit": int(self.options.get("page_size", 100))}

    @classmethod
    def connect(cls, conn: Connection, recorder: Recorder) -> RestErpAdapter:
        return cls(open_partner_client(conn, recorder), conn, recorder)

    def close(self) -> None:
        self.client.close()

    # -- ERP -> hub ----------------------------------------------------------------------------------------------
    def pull_payment_batches(self) -> list[RawDocument]:
        """Each ready batch becomes one finops.payment_batch.v1, stored, then acknowledged at the ERP (a crash in
        between lists it again: the same bytes are recognised). All pages are read before the first ack, so
        acknowledging does not shift the pages."""
        delivery = Delivery(self.conn, self.recorder)
        for item in self.client.pages("payment-batches", {"status": "ready", **self.page}):
            batch = item.get("batch") if isinstance(item, dict) else None
            if not isinstance(batch, dict) or not item.get("id") or not batch.get("erp_reference"):
                self.recorder.count("skipped_invalid")
                continue
            doc = {"schema": PAYMENT_BATCH, **{k: v for k, v in batch.items() if k != "schema"}}
            delivery.canonical(doc, f"payment-batch-{batch['erp_reference']}.json")
            self.client.request("POST", f"payment-batches/{item['id']}/ack")
            self.recorder.count("acknowledged")
        return delivery.received

    def pull_master_data(self) -> list[RawDocument]:
        delivery = Delivery(self.conn, self.recorder)
        entities = {e.get("code"): e for e in self.client.pages("entities", self.page) if isinstance(e, dict)}
        wanted = self.options.get("entities") or sorted(c for c in entities if c)
        unknown = [c for c in wanted if c not in entities]
        if unknown:
            raise PermanentError(f"Connection {self.conn.code}: the ERP keeps no entity {', '.join(unknown)} "
                                 f"(it has {', '.join(sorted(c for c in entities if c)) or 'none'}); fix "
                                 "options.entities.")
        for code in wanted:
            rows = {resource: self.client.pages(resource, {"entity": code, **self.page})
                    for resource in self.MASTER_DATA_RESOURCES}
            doc = _master_data(entities[code], rows)
            stamp = doc["as_of"].replace(":", "").replace("-", "")
            delivery.canonical(doc, f"master-data-{code}-{stamp}.json")
        return delivery.received

    # -- hub -> ERP ----------------------------------------------------------------------------------------------
    def _journal(self, journal_id: str) -> dict | None:
        items = self.client.pages("journals", {"external_reference": journal_id})
        return next((j for j in items if isinstance(j, dict) and j.get("external_reference") == journal_id), None)

    @staticmethod
    def _answer(journal: dict) -> dict:
        if journal.get("status") == "posted":
            return posted(text(journal.get("document_number")), already=True)
        return rejected(journal.get("error"), field_names=FIELD_NAMES)

    def post_journal(self, doc: RawDocument) -> dict[str, Any]:
        """Idempotent by journal_id: ask the ERP first, post only what it has not posted (a retry after a timeout
        finds the first posting). A 422 rejection is returned as the answer, not raised."""
        journal = read_document(doc, JOURNAL)
        journal_id = reference(journal, "journal_id", JOURNAL)
        found = self._journal(journal_id)
        if found is not None and found.get("status") == "posted":
            self.recorder.count("already_posted")
            return self._answer(found)
        body = {"external_reference": journal_id, "company": journal.get("entity"),
                "posting_date": journal.get("posting_date"), "period": journal.get("period"),
                "currency": journal.get("currency"), "header_text": journal.get("description", ""),
                "source": journal.get("source") or {}, "lines": journal.get("lines")}
        status, answer = self.client.post_json("journals", body, answers=(422,),
                                               headers={"Idempotency-Key": f"journal:{journal_id}"})
        sent(self.recorder, doc, f"journals/{journal_id}", doc.size)
        if status == 422:
            self.recorder.count("rejected")
            return rejected(answer.get("error") if isinstance(answer, dict) else None, field_names=FIELD_NAMES)
        self.recorder.count("posted")
        return posted(text(need(answer, "document_number", "POST journals")),
                      already=bool(answer.get("already_posted")) or status == 200)

    def journal_status(self, journal_id: str) -> dict[str, Any]:
        journal_id = reference({"journal_id": journal_id}, "journal_id", JOURNAL)
        found = self._journal(journal_id)
        return UNKNOWN.copy() if found is None else self._answer(found)

    def push_payment_status(self, doc: RawDocument) -> dict[str, Any]:
        status = read_document(doc, PAYMENT_STATUS)
        event_id = reference(status, "event_id", PAYMENT_STATUS)
        batch = status.get("batch") or {}
        body = {"event_id": event_id, "company": status.get("entity"), "payment_run": batch.get("erp_reference"),
                "hub_batch_id": batch.get("id"), "run_status": batch.get("status"),
                "occurred_at": status.get("occurred_at"),
                "items": [{"end_to_end_id": i.get("end_to_end_id"), "document_ref": i.get("erp_reference"),
                           "status": i.get("status"), "reason_code": i.get("reason_code", ""),
                           "reason": i.get("reason", ""), "amount": i.get("amount"), "currency": i.get("currency")}
                          for i in status.get("instructions") or [] if isinstance(i, dict)]}
        code, _answer = self.client.post_json("payment-status", body, headers={"Idempotency-Key": event_id})
        sent(self.recorder, doc, f"payment-status/{event_id}", doc.size)
        return {"status": "delivered", "duplicate": code == 200}

    def check(self) -> dict:
        info = self.client.get_json("")
        return {"erp": info.get("code") if isinstance(info, dict) else None,
                "entities": info.get("entities", []) if isinstance(info, dict) else []}
