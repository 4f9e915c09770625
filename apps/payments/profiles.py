"""Bank profiles: what a bank is known to enforce beyond the XSD, checked BEFORE approval so that approvers only
release what the bank will accept. A failure names the instruction, the field and the bank's rule."""

from __future__ import annotations

from datetime import date

from apps.org.models import BankPartner, PaymentFormat
from apps.payments.cutoff import bank_cutoff, bank_local_now, earliest_execution_date
from apps.payments.validation import Problems

MAX_NAME = 70  # Nm in pain.001 (Max70Text) and in most banks' back ends


def bank_profile_check(*, bank: BankPartner, execution: date, currency: str, rows: list[dict],
                       problems: Problems) -> None:
    version = bank.payment_format
    sepa = currency == "EUR"
    if version == PaymentFormat.NACHA and currency != "USD":
        problems.add("debtor_account", f"{bank.name} pays this account by NACHA (ACH), which carries USD only.")
    cutoff = bank_cutoff(bank)
    now = bank_local_now(cutoff)
    if execution == now.date() and now.time() > cutoff.at:
        problems.add("requested_execution_date",
                     f"{bank.name}'s cut-off for same-day execution is {cutoff}; choose "
                     f"{earliest_execution_date(cutoff=cutoff, currency=currency)} or later.")
    for n, row in enumerate(rows):
        where = f"instructions[{n}]"
        if len(row["creditor_name"]) > MAX_NAME:
            problems.add(f"{where}.creditor.name",
                         f"{len(row['creditor_name'])} characters; {bank.name} ({version}) accepts at most {MAX_NAME}.")
        address = row["creditor_address"] or {}
        if version == PaymentFormat.PAIN001_09 and sepa and not (address.get("town") and address.get("country")):
            problems.add(f"{where}.creditor.address",
                         f"{bank.name} requires a structured creditor address with town and country in "
                         "pain.001.001.09 (SEPA rule since November 2025).")
        if address.get("lines") and (address.get("street") or address.get("postal_code")):
            problems.add(f"{where}.creditor.address",
                         "give either structured fields or address lines, not both (hybrid addresses carry town and "
                         "country only besides the lines).")
        if not sepa and not (row["creditor_bic"] or row["creditor_routing"]):
            problems.add(f"{where}.creditor.bic",
                         f"{bank.name}: a non-SEPA transfer needs the creditor's BIC or a routing code.")
