"""Sandbox ERPs and expense platform for tests: the demo partners' data on a fixed day, journals, a transport that
routes the hub's HTTP clients into the sandbox in-process (Django's test client: same database transaction)."""

from __future__ import annotations

import datetime as dt
import json
from copy import deepcopy

import httpx
from django.test import Client

from apps.core.services import document_open, document_store

from apps.sandbox import demo
from apps.sandbox.erp_services import (
    sandbox_erp_batches_queue,
    sandbox_erp_ensure,
    sandbox_erp_entity_ensure,
    sandbox_erp_master_data_load,
)
from apps.sandbox.expense_services import sandbox_expense_platform_ensure

TODAY = dt.date(2026, 11, 24)  # open: 2026-11, 2026-12; closed: 2026-09, 2026-10
API_KEY = "erp-Api-K3y-never-logged"
CLIENT_ID = "finops-hub"
CLIENT_SECRET = "erp-Cl1ent-S3cret-never-logged"
BASE = "http://127.0.0.1/sandbox"


def cloud_erp(code: str = "erp-cloud"):
    erp, _creds = sandbox_erp_ensure(code=code, name="Cloud ERP", flavour="cloud", api_key=API_KEY,
                                     client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    sandbox_erp_entity_ensure(erp_code=code, code="DE01", name="Acme GmbH", country="DE", currency="EUR")
    sandbox_erp_master_data_load(erp_code=code, entity_code="DE01", data=demo.master_data_de(TODAY))
    return erp


def legacy_erp(code: str = "erp-legacy", *, file_root: str | None = None):
    erp, _creds = sandbox_erp_ensure(code=code, name="Legacy ERP", flavour="legacy", file_root=file_root)
    sandbox_erp_entity_ensure(erp_code=code, code="US01", name="Acme Inc.", country="US", currency="USD")
    sandbox_erp_master_data_load(erp_code=code, entity_code="US01", data=demo.master_data_us(TODAY))
    return erp


def expense_platform(code: str = "concur"):
    platform, _creds = sandbox_expense_platform_ensure(code=code, name="Concur", api_key=API_KEY,
                                                       client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    return platform


def batch(reference: str = "F110-DE01-1", *, entity: str = "DE01", amounts=("1250.00", "80.10")) -> dict:
    """A finops.payment_batch.v1 body (without schema) the ERP wants paid."""
    account = {"DE01": "DE89370400440532013000", "US01": "000123456789"}[entity]
    currency = {"DE01": "EUR", "US01": "USD"}[entity]
    creditor = ({"name": "Rheinmetall Teile GmbH", "iban": "DE12100700000555444333", "bic": "DEUTDEBBXXX",
                 "counterparty_ref": "V-1001",
                 "address": {"street": "Hauptstr.", "postal_code": "40210", "town": "Duesseldorf", "country": "DE"}}
                if entity == "DE01" else
                {"name": "Lakeside Office Supply LLC", "account_number": "4455667788", "routing": "026009593",
                 "counterparty_ref": "V-2001", "address": {"town": "Chicago", "country": "US"}})
    return {"entity": entity, "debtor_account": account, "requested_execution_date": "2026-11-27",
            "erp_reference": reference,
            "instructions": [{"end_to_end_id": f"{reference}-{n}", "amount": amount, "currency": currency,
                              "creditor": deepcopy(creditor), "remittance_information": f"Invoice {n}",
                              "purpose": "SUPP", "erp_reference": f"DOC-{n}"}
                             for n, amount in enumerate(amounts, start=1)]}


def queue(erp_code: str, *batches: dict):
    return sandbox_erp_batches_queue(erp_code=erp_code, batches=list(batches))


def journal(journal_id: str = "JRN-000123", *, entity: str = "DE01", period: str = "2026-11",
            posting_date: str = "2026-11-24", lines: list[dict] | None = None, **overrides) -> dict:
    """A finops.journal.v1 document (canonical)."""
    if lines is None:
        lines = [{"account": "6400", "cost_centre": "CC100", "debit": "100.00", "credit": "0.00", "tax_code": "V19",
                  "tax_amount": "15.97", "text": "DB train Berlin"},
                 {"account": "1760", "cost_centre": "", "debit": "0.00", "credit": "100.00", "tax_code": "",
                  "tax_amount": "0.00", "text": "Payable to E-0042"}]
    currency = {"US01": "USD"}.get(entity, "EUR")
    return {"schema": "finops.journal.v1", "journal_id": journal_id, "entity": entity, "posting_date": posting_date,
            "period": period, "currency": currency, "description": "Expense report R-1001 (Jana Kowalski)",
            "source": {"kind": "expense_report", "platform": "concur", "report_id": "R-1001"}, "lines": lines,
            **overrides}


def us_lines(cost_centre: str = "100-SALES", account: str = "6100", amount: str = "48.75") -> list[dict]:
    return [{"account": account, "cost_centre": cost_centre, "debit": amount, "credit": "0.00", "tax_code": "ST-NY",
             "tax_amount": "3.97", "text": "Taxi"},
            {"account": "2150", "cost_centre": "", "debit": "0.00", "credit": amount, "tax_code": "",
             "tax_amount": "0.00", "text": "Payable to E-0107"}]


def erp_journal_body(doc: dict) -> dict:
    """The cloud ERP's own journal dialect (what the rest_erp adapter sends)."""
    return {"external_reference": doc["journal_id"], "company": doc["entity"], "posting_date": doc["posting_date"],
            "period": doc["period"], "currency": doc["currency"], "header_text": doc["description"],
            "source": doc["source"], "lines": doc["lines"]}


def report(report_id: str = "R-1001", *, entity: str = "DE01", status: str = "approved", **overrides) -> dict:
    """An expense report as the platform's seeding service takes it."""
    data = {"report_id": report_id, "title": "Berlin customer visit", "employee_id": "E-0042",
            "employee_name": "Jana Kowalski", "entity": entity, "currency": "EUR", "status": status,
            "approved_by": "m.weber", "submitted_at": "2026-11-20T08:00:00Z", "approved_at": "2026-11-21T10:00:00Z",
            "entries": [
                {"date": "2026-11-18", "type": "TRAIN", "amount": "115.97", "transaction_amount": "125.82",
                 "transaction_currency": "USD", "exchange_rate": "0.9217", "tax_code": "V19", "tax_amount": "18.52",
                 "cost_centre": "CC100", "project": "P-7", "vendor": "Deutsche Bahn", "receipt_id": "RCPT-88",
                 "description": "Train Berlin"},
                {"date": "2026-11-19", "type": "BUSML", "amount": "64.50", "tax_code": "V19", "tax_amount": "10.30",
                 "cost_centre": "CC100", "vendor": "Lutter & Wegner"}]}
    data.update(overrides)
    return data


class SandboxTransport(httpx.BaseTransport):
    """Routes httpx requests for ``http://127.0.0.1/...`` into Django in-process through the test client (the
    sandbox's views run in the test's transaction). ``requests`` records ``(method, path)``."""

    def __init__(self):
        self.client = Client()
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        self.requests.append((request.method, path.split("?")[0]))
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length", "content-type", "accept-encoding", "connection")}
        response = self.client.generic(request.method, path, data=request.read(),
                                       content_type=request.headers.get("content-type", ""), headers=headers,
                                       HTTP_HOST=request.url.netloc.decode())
        return httpx.Response(response.status_code, headers=list(response.items()), content=response.content)


def read_json(doc) -> dict:
    """The JSON content of a stored RawDocument."""
    with document_open(doc) as fh:
        return json.loads(fh.read())


def outbound_document(data: dict, name: str):
    """A canonical document the hub hands to an adapter (journal, payment status)."""
    doc, _ = document_store(content=json.dumps(data).encode(), source="test", media_type="application/json",
                            filename=name, direction="outbound")
    return doc


def api_client(base: str, key: str = API_KEY) -> Client:
    """A test client for a partner's API: ``call(method, path, body=None)`` with the API key."""

    class PartnerApiClient(Client):
        def call(self, method: str, path: str, body=None, **kw):
            kw.setdefault("HTTP_X_API_KEY", key)
            if body is not None:
                kw.update(data=json.dumps(body), content_type="application/json")
            return getattr(self, method)(f"{base}/{path}", **kw)

    return PartnerApiClient()
