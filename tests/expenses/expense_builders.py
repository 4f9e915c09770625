"""Builders for expense tests: master data documents, report payloads, and a fake ERP adapter that records what it
is sent (the sandbox ERPs are exercised in the end-to-end test)."""

from __future__ import annotations

import datetime as dt
import itertools

from apps.connectors.channels import register_erp_adapter
from apps.connectors.services import connection_upsert

TODAY = dt.date.today()
FIRST = TODAY.replace(day=1)
LAST_MONTH_END = FIRST - dt.timedelta(days=1)
LAST_MONTH = LAST_MONTH_END.replace(day=1)
NEXT_MONTH = (FIRST + dt.timedelta(days=32)).replace(day=1)
_ids = itertools.count(1)


def _month_end(first: dt.date) -> dt.date:
    return (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def master_data(entity: str = "DE01", *, country: str = "DE", currency: str = "EUR", **overrides) -> dict:
    doc = {
        "schema": "finops.master_data.v1", "entity": entity, "as_of": f"{TODAY}T08:00:00Z",
        "gl_accounts": [{"code": "6400", "name": "Travel", "active": True},
                        {"code": "6640", "name": "Meals", "active": True},
                        {"code": "1576", "name": "Input tax 19%", "active": True},
                        {"code": "1571", "name": "Input tax 7%", "active": True},
                        {"code": "1760", "name": "Employee payables", "active": True},
                        {"code": "6960", "name": "Rounding", "active": True}],
        "cost_centres": [{"code": "CC100", "name": "Sales", "active": True},
                         {"code": "CC200", "name": "R&D", "active": True, "valid_from": "2020-01-01"},
                         {"code": "CC-OLD", "name": "Closed office", "active": False}],
        "tax_codes": [{"code": "V19", "country": country, "rate": "19.00", "gl_account": "1576"},
                      {"code": "V7", "country": country, "rate": "7.00", "gl_account": "1571"},
                      {"code": "V0", "country": country, "rate": "0", "gl_account": ""}],
        "employees": [{"id": "E-0042", "name": "Jana Kowalski", "entity": entity, "active": True,
                       "iban": "DE80500105175407324380", "currency": currency},
                      {"id": "E-0050", "name": "Tom Gone", "entity": entity, "active": False,
                       "iban": "DE32200411110123123123", "currency": currency}],
        "periods": [{"period": f"{LAST_MONTH:%Y-%m}", "start": str(LAST_MONTH), "end": str(LAST_MONTH_END),
                     "status": "closed"},
                    {"period": f"{FIRST:%Y-%m}", "start": str(FIRST), "end": str(_month_end(FIRST)), "status": "open"},
                    {"period": f"{NEXT_MONTH:%Y-%m}", "start": str(NEXT_MONTH), "end": str(_month_end(NEXT_MONTH)),
                     "status": "open"}],
        "category_accounts": [{"category": "travel", "gl_account": "6400"}, {"category": "meals", "gl_account": "6640"}],
        "fx_rates": [{"date": str(TODAY), "base": "EUR", "quote": "USD", "rate": "1.0850"}],
        "accounts": {"employee_payable": "1760", "rounding": "6960"},
    }
    doc.update(overrides)
    return doc


def report(entity: str = "DE01", *, report_id: str | None = None, lines: list[dict] | None = None,
           total: str | None = None, currency: str = "EUR", employee_id: str = "E-0042", day: dt.date | None = None,
           **extra) -> dict:
    day = day or TODAY
    lines = lines if lines is not None else [
        {"line_id": "1", "date": str(day), "category": "travel", "amount": "119.00", "currency": currency,
         "tax_code": "V19", "tax_amount": "19.00", "cost_centre": "CC100", "merchant": "Deutsche Bahn",
         "description": "Train Berlin"},
        {"line_id": "2", "date": str(day), "category": "meals", "amount": "21.40", "currency": currency,
         "tax_code": "V7", "tax_amount": "1.40", "cost_centre": "CC200", "merchant": "Cafe"},
    ]
    if total is None:
        from decimal import Decimal

        total = str(sum(Decimal(line["amount"]) for line in lines))
    return {"platform": "concur", "report_id": report_id or f"R-{next(_ids):05d}", "entity": entity,
            "employee_id": employee_id, "employee_name": "Jana Kowalski", "title": "Trip", "currency": currency,
            "total": total, "approved_by": "m.weber", "lines": lines, **extra}


class FakeErp:
    """A fake ERP that keeps journals by reference, like a real one: posting the same reference twice is one
    document. ``reject`` maps a cost centre to an error code."""

    journals: dict[str, dict] = {}
    calls: list[str] = []
    reject: dict[str, str] = {}
    submit_only = False

    def __init__(self, conn, recorder):
        pass

    @classmethod
    def reset(cls):
        cls.journals, cls.calls, cls.reject, cls.submit_only = {}, [], {}, False

    def post_journal(self, doc):
        import json

        from apps.core.services import document_open

        with document_open(doc) as fh:
            body = json.load(fh)
        FakeErp.calls.append(body["journal_id"])
        if body["journal_id"] in FakeErp.journals:
            return {"status": "posted", "document_number": FakeErp.journals[body["journal_id"]]["number"],
                    "already_posted": True}
        for line in body["lines"]:
            if line["cost_centre"] in FakeErp.reject:
                return {"status": "rejected", "error": {"code": FakeErp.reject[line["cost_centre"]],
                                                        "message": f"cost centre {line['cost_centre']} refused",
                                                        "field": "cost_centre", "value": line["cost_centre"]}}
        if FakeErp.submit_only:
            FakeErp.journals[body["journal_id"]] = {"number": "", "body": body, "pending": True}
            return {"status": "submitted", "reference": f"{body['journal_id']}.csv"}
        number = f"JE-{len(FakeErp.journals) + 1:06d}"
        FakeErp.journals[body["journal_id"]] = {"number": number, "body": body}
        return {"status": "posted", "document_number": number, "already_posted": False}

    def journal_status(self, reference):
        journal = FakeErp.journals.get(reference)
        if journal is None:
            return {"status": "unknown"}
        if journal.get("pending"):
            return {"status": "submitted"}
        return {"status": "posted", "document_number": journal["number"]}

    def push_payment_status(self, doc):
        return {"status": "delivered"}

    def check(self):
        return {}


def fake_erp_connection(tmp_path, code: str = "erp-fake") -> object:
    register_erp_adapter("fake_erp_expenses", FakeErp)
    FakeErp.reset()
    return connection_upsert(code=code, name=f"Fake ERP {code}", partner_kind="erp", partner_ref="fake",
                             transport="directory", endpoint=str(tmp_path), options={"adapter": "fake_erp_expenses"},
                             reason="test").obj
