"""Checking a report against its entity's ERP master data, and the balanced journal it becomes.

Pure functions over already-loaded rows: a batch of reports costs a handful of queries, however many lines.
Every problem names the line, the field and what to fix.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from apps.core.money import minor_units
from apps.expenses.masterdata import MasterData
from apps.expenses.models import ExpenseLine, ExpensePolicy, ExpenseReport, MasterKind
from apps.org.selectors import fx_convert

HUNDRED = Decimal(100)


@dataclass
class Problem:
    field: str
    code: str
    message: str
    line: str = ""

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "code": self.code, "message": self.message}


@dataclass
class JournalDraft:
    posting_date: dt.date
    period: str
    currency: str
    lines: list[dict] = field(default_factory=list)


class Rates:
    """Reference rates of the day, looked up once per currency pair and date."""

    def __init__(self):
        self._cache: dict[tuple, Decimal | None] = {}

    def rate(self, from_currency: str, to_currency: str, day: dt.date) -> Decimal | None:
        key = (from_currency, to_currency, day)
        if key not in self._cache:
            self._cache[key] = fx_convert(amount=Decimal(1), from_currency=from_currency, to_currency=to_currency,
                                          day=day)
        return self._cache[key]


def quantize(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def posting_date_of(report: ExpenseReport, lines: list[ExpenseLine]) -> dt.date:
    """The date a report is booked on: the repost date if one was approved, else its latest expense date."""
    if report.posting_date:
        return report.posting_date
    return max(line.date for line in lines)


def validate(report: ExpenseReport, lines: list[ExpenseLine], md: MasterData, policy: ExpensePolicy | None,
             rates: Rates) -> tuple[list[Problem], JournalDraft | None]:
    problems: list[Problem] = []
    entity = md.entity
    if md.synced_at is None:
        return [Problem("entity", "no_master_data",
                        f"{entity.code} has no master data from its ERP yet: run the master-data sync of "
                        f"{entity.code}'s ERP connection, then retry.")], None
    employee = md.get(MasterKind.EMPLOYEE, report.employee_id)
    if employee is None:
        problems.append(Problem("employee_id", "unknown_employee",
                                f"employee {report.employee_id} is not in {entity.code}'s ERP; create the employee "
                                "there (or correct the report's employee id), then retry."))
    elif not employee.active:
        problems.append(Problem("employee_id", "inactive_employee",
                                f"employee {report.employee_id} ({employee.name}) is inactive in {entity.code}'s ERP; "
                                "reactivate the employee or reassign the report."))
    elif employee.data.get("entity") not in (None, "", entity.code):
        problems.append(Problem("employee_id", "employee_other_entity",
                                f"employee {report.employee_id} belongs to {employee.data.get('entity')}, not "
                                f"{entity.code}; the report must go to the employee's entity."))
    posting_date = posting_date_of(report, lines)
    period = md.period_for(posting_date)
    period_code = f"{posting_date:%Y-%m}"
    if period is None:
        problems.append(Problem("period", "unknown_period",
                                f"{entity.code}'s ERP has no accounting period for {posting_date}; open it in the ERP."))
    else:
        period_code = period.code
        if period.data.get("status") != "open":
            target = md.next_open_period(posting_date)
            problems.append(Problem(
                "period", "period_closed",
                f"period {period.code} is closed in {entity.code}'s ERP: repost into "
                f"{target.code if target else 'the next open period'} (needs an approval) or ask controlling to "
                f"reopen {period.code}."))
    journal_currency = entity.base_currency
    payable = md.account_for("employee_payable", policy.payable_account if policy else "")
    rounding = md.account_for("rounding", policy.rounding_account if policy else "")
    if not payable:
        problems.append(Problem("accounts", "no_payable_account",
                                f"no employee payable account for {entity.code}: set it in the ERP or the expense "
                                "policy."))
    tolerance = policy.tax_tolerance if policy else Decimal("0.02")
    drafts: list[dict] = []
    total_in_report_currency = Decimal(0)
    for line in lines:
        where = line.line_id

        def problem(field_: str, code: str, message: str) -> None:
            problems.append(Problem(field_, code, message, line=where))

        # amounts: in the report currency, converted to the entity's base currency at the rate of the day
        to_report = Decimal(1) if line.currency == report.currency else rates.rate(line.currency, report.currency,
                                                                                    line.date)
        to_journal = Decimal(1) if line.currency == journal_currency else rates.rate(line.currency, journal_currency,
                                                                                      line.date)
        if to_report is None or to_journal is None:
            missing = report.currency if to_report is None else journal_currency
            problem("currency", "no_fx_rate",
                    f"no {line.currency}/{missing} rate for {line.date}: load the day's rates (ERP sync or "
                    "config_load fx_rates), then retry.")
            continue
        total_in_report_currency += line.amount * to_report
        if line.original_amount is not None and line.fx_rate:
            expected = quantize(line.original_amount * line.fx_rate, line.currency)
            if abs(expected - line.amount) > tolerance:
                problem("amount", "fx_mismatch",
                        f"{line.original_amount} {line.original_currency} × {line.fx_rate} = {expected}, but the line "
                        f"says {line.amount} {line.currency}; correct the line in the expense platform.")
        # category -> GL account
        mapping = md.get(MasterKind.CATEGORY, line.category)
        gl = mapping.data.get("gl_account") if mapping and mapping.active else ""
        if not gl:
            problem("category", "unmapped_category",
                    f"category {line.category!r} has no GL account in {entity.code}'s ERP mapping; add the mapping "
                    "in the ERP, then retry.")
        elif (account := md.get(MasterKind.GL_ACCOUNT, gl)) is None or not account.active:
            problem("category", "unknown_account",
                    f"GL account {gl} (category {line.category}) is {'inactive' if account else 'unknown'} in "
                    f"{entity.code}'s ERP; fix the category mapping or the account.")
        # cost centre
        if not line.cost_centre:
            problem("cost_centre", "missing_cost_centre", "no cost centre; set one in the expense platform.")
        else:
            centre = md.get(MasterKind.COST_CENTRE, line.cost_centre)
            if centre is None:
                problem("cost_centre", "unknown_cost_centre",
                        f"cost centre {line.cost_centre} does not exist in {entity.code}'s ERP; create it there or "
                        "correct the line.")
            elif not centre.active:
                problem("cost_centre", "inactive_cost_centre",
                        f"cost centre {line.cost_centre} is inactive in {entity.code}'s ERP; reactivate it or move the "
                        "line to an active cost centre.")
            elif (centre.valid_from and line.date < centre.valid_from) or (centre.valid_to and line.date > centre.valid_to):
                problem("cost_centre", "cost_centre_not_valid",
                        f"cost centre {line.cost_centre} is valid {centre.valid_from or '…'} to {centre.valid_to or '…'},"
                        f" not on {line.date}; use the cost centre valid on that date.")
        # tax
        tax_gl, tax_amount = "", line.tax_amount or Decimal(0)
        if line.tax_code:
            tax = md.get(MasterKind.TAX_CODE, line.tax_code)
            if tax is None or not tax.active:
                problem("tax_code", "unknown_tax_code",
                        f"tax code {line.tax_code} is {'inactive' if tax else 'unknown'} in {entity.code}'s ERP; "
                        "correct the line's tax code.")
            elif tax.data.get("country") not in (None, "", entity.country):
                problem("tax_code", "tax_code_country",
                        f"tax code {line.tax_code} is for {tax.data.get('country')}, not {entity.country}; use a "
                        f"{entity.country} tax code.")
            else:
                rate = Decimal(tax.data["rate"])
                expected = quantize(line.amount * rate / (HUNDRED + rate), line.currency)
                if abs(expected - tax_amount) > tolerance:
                    problem("tax_amount", "tax_mismatch",
                            f"{rate}% of {line.amount} (gross) is {expected}, the line says {tax_amount}; correct the "
                            "tax amount in the expense platform.")
                tax_gl = tax.data.get("gl_account") or ""
                if tax_amount and not tax_gl:
                    problem("tax_code", "no_tax_account", f"tax code {line.tax_code} has no GL account in the ERP.")
        elif tax_amount:
            problem("tax_code", "missing_tax_code", f"tax amount {tax_amount} without a tax code; add the tax code.")
        net = quantize((line.amount - tax_amount) * to_journal, journal_currency)
        tax_converted = quantize(tax_amount * to_journal, journal_currency)
        text = (line.description or line.merchant or line.category)[:200]
        drafts.append({"account": gl, "cost_centre": line.cost_centre, "amount": net, "tax_code": line.tax_code,
                       "tax_amount": tax_converted, "text": text})
        if tax_converted:
            drafts.append({"account": tax_gl, "cost_centre": "", "amount": tax_converted, "tax_code": line.tax_code,
                           "tax_amount": Decimal(0), "text": f"Input tax {line.tax_code}: {text}"[:200]})
    if not any(p.code == "no_fx_rate" for p in problems):
        if quantize(total_in_report_currency, report.currency) != report.total:
            problems.append(Problem("total", "total_mismatch",
                                    f"the lines add up to {quantize(total_in_report_currency, report.currency)} "
                                    f"{report.currency}, the report total is {report.total}; correct the report."))
    if problems:
        return problems, None
    to_journal_total = Decimal(1) if report.currency == journal_currency else rates.rate(
        report.currency, journal_currency, posting_date)
    if to_journal_total is None:
        return [Problem("currency", "no_fx_rate", f"no {report.currency}/{journal_currency} rate for {posting_date}: "
                        "load the day's rates, then retry.")], None
    payable_amount = quantize(report.total * to_journal_total, journal_currency)
    journal = JournalDraft(posting_date=posting_date, period=period_code, currency=journal_currency)
    for draft in drafts:
        amount = draft.pop("amount")
        journal.lines.append({**draft, "debit": amount if amount > 0 else Decimal(0),
                              "credit": -amount if amount < 0 else Decimal(0)})
    journal.lines = [line for line in journal.lines if line["debit"] or line["credit"]]
    difference = payable_amount - sum((line["debit"] - line["credit"] for line in journal.lines), Decimal(0))
    if difference:
        if not rounding:
            return [Problem("accounts", "no_rounding_account",
                            f"conversion leaves a rounding difference of {difference} {journal_currency} and "
                            f"{entity.code} has no rounding account; set it in the ERP or the expense policy.")], None
        journal.lines.append({"account": rounding, "cost_centre": "", "tax_code": "", "tax_amount": Decimal(0),
                              "debit": difference if difference > 0 else Decimal(0),
                              "credit": -difference if difference < 0 else Decimal(0),
                              "text": "Currency conversion rounding"})
    journal.lines.append({"account": payable, "cost_centre": "", "tax_code": "", "tax_amount": Decimal(0),
                          "debit": Decimal(0), "credit": payable_amount,
                          "text": f"Payable to {report.employee_id} ({report.employee_name})"[:200]})
    return [], journal
