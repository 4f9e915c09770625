"""Expenses benchmark: 1,000 approved reports of 10 lines each stored, validated against the ERP's master data,
turned into balanced journals (with history, events and the database's balance trigger) and queued for posting,
next to the limit measured in the same run: the same number of rows (reports, lines, journals, journal lines)
inserted with ``bulk_create`` alone.

    python bench/bench_expenses.py [--reports 1000] [--lines 10]

Payload parsing (the API's serializer) is not part of either side: both start from validated report data.
Posting is queued to a real Celery broker transport (in-memory here), not executed.
Target (issue "Expenses"): at most 3x the bulk_create time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import setup_django  # noqa: E402

TABLES = ("expenses_journalline, expenses_historicaljournal, expenses_journal, expenses_expenseline, "
          "expenses_historicalexpensereport, expenses_expensereport, exceptions_exceptioncase, core_event")


def master_data(entity: str, day: dt.date) -> dict:
    first = day.replace(day=1)
    end = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return {
        "schema": "finops.master_data.v1", "entity": entity,
        "gl_accounts": [{"code": c, "name": c} for c in ("6400", "6640", "6800", "1576", "1571", "1760", "6960")],
        "cost_centres": [{"code": f"CC{n:03d}", "name": f"Centre {n}"} for n in range(50)],
        "tax_codes": [{"code": "V19", "country": "DE", "rate": "19", "gl_account": "1576"},
                      {"code": "V7", "country": "DE", "rate": "7", "gl_account": "1571"}],
        "employees": [{"id": f"E{n:04d}", "name": f"Employee {n}", "entity": entity, "active": True,
                       "iban": "DE80500105175407324380"} for n in range(200)],
        "periods": [{"period": f"{first:%Y-%m}", "start": str(first), "end": str(end), "status": "open"}],
        "category_accounts": [{"category": "travel", "gl_account": "6400"}, {"category": "meals", "gl_account": "6640"},
                              {"category": "office", "gl_account": "6800"}],
        "accounts": {"employee_payable": "1760", "rounding": "6960"},
    }


def reports(entity: str, n_reports: int, n_lines: int, day: dt.date, run: str) -> list[dict]:
    out = []
    for r in range(n_reports):
        lines = []
        for n in range(n_lines):
            gross = Decimal(10 + (r * 7 + n * 13) % 500) + Decimal("0.07") * (n % 3)
            rate = Decimal(19) if n % 2 == 0 else Decimal(7)
            tax = (gross * rate / (100 + rate)).quantize(Decimal("0.01"))
            lines.append({"line_id": str(n + 1), "date": day, "category": ("travel", "meals", "office")[n % 3],
                          "amount": gross, "currency": "EUR", "original_amount": None, "original_currency": "",
                          "fx_rate": None, "tax_code": "V19" if rate == 19 else "V7", "tax_amount": tax,
                          "cost_centre": f"CC{(r + n) % 50:03d}", "project": "", "merchant": "Merchant",
                          "receipt_ref": f"RC{r}-{n}", "description": "Bench expense"})
        out.append({"platform": "bench", "report_id": f"{run}-{r:06d}", "entity": entity,
                    "employee_id": f"E{r % 200:04d}", "employee_name": f"Employee {r % 200}", "title": "Bench",
                    "currency": "EUR", "total": sum((line["amount"] for line in lines), Decimal(0)),
                    "approved_by": "bench", "lines": lines})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=1000)
    ap.add_argument("--lines", type=int, default=10)
    args = ap.parse_args()
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"  # queue for posting, do not post inline
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    setup_django()
    from django.conf import settings
    from django.db import connection, transaction

    from apps.expenses.masterdata import master_data_apply
    from apps.expenses.models import ExpenseLine, ExpenseReport, Journal, JournalLine, ReportStatus
    from apps.expenses.services import expense_reports_process, expense_reports_receive
    from apps.org.models import LegalEntity
    from apps.org.services import entity_upsert

    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="finops-bench-media-")
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLES} CASCADE")
    entity_upsert(code="BENCHX", name="Bench Expenses GmbH", country="DE", base_currency="EUR")
    day = dt.date.today()
    master_data_apply(payload=master_data("BENCHX", day))
    entity = LegalEntity.objects.get(code="BENCHX")

    items = [(data, None) for data in reports("BENCHX", args.reports, args.lines, day, "A")]
    started = time.perf_counter()
    created = expense_reports_receive(items=items, source="api")
    counts = expense_reports_process(report_ids=[r.pk for r, _ in created])
    ours = time.perf_counter() - started
    assert counts["ready"] == args.reports, counts
    assert ExpenseReport.objects.filter(status=ReportStatus.READY).count() == args.reports
    rows = {"reports": ExpenseReport.objects.count(), "lines": ExpenseLine.objects.count(),
            "journals": Journal.objects.count(), "journal lines": JournalLine.objects.count()}

    # the limit: the same rows, bulk_create alone, in one transaction
    base = reports("BENCHX", args.reports, args.lines, day, "B")
    template_lines = list(JournalLine.objects.filter(journal__report__external_id="A-000000").values(
        "position", "account", "cost_centre", "debit", "credit", "currency", "tax_code", "tax_amount", "text"))
    per_report = rows["journal lines"] // args.reports
    started = time.perf_counter()
    with transaction.atomic():
        objs = ExpenseReport.objects.bulk_create([
            ExpenseReport(platform="bench", external_id=d["report_id"], entity=entity, employee_id=d["employee_id"],
                          employee_name=d["employee_name"], currency="EUR", total=d["total"], source="api")
            for d in base], batch_size=5000)
        ExpenseLine.objects.bulk_create([ExpenseLine(report=r, position=n, **line) for r, d in zip(objs, base)
                                         for n, line in enumerate(d["lines"])], batch_size=5000)
        journals = Journal.objects.bulk_create([
            Journal(reference=f"B-{r.pk}", report=r, entity=entity, posting_date=day, period=f"{day:%Y-%m}",
                    currency="EUR") for r in objs], batch_size=5000)
        JournalLine.objects.bulk_create([JournalLine(journal=j, **{**template_lines[n % len(template_lines)],
                                                                  "position": n})
                                         for j in journals for n in range(per_report)], batch_size=5000)
        connection.cursor().execute("SET CONSTRAINTS ALL DEFERRED")
        transaction.set_rollback(True)  # the limit's rows are not balanced journals; they are not kept
    bare = time.perf_counter() - started
    total_rows = sum(rows.values())
    print(f"expenses: {args.reports} reports x {args.lines} lines -> {rows}")
    print(f"  ours (store, validate, journal with history + events, queue posting): {ours:.2f} s "
          f"({args.reports / ours:,.0f} reports/s)")
    print(f"  limit (bulk_create of the same {total_rows:,} rows): {bare:.2f} s")
    print(f"  ratio: {ours / bare:.2f}x (target <= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
