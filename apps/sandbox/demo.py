"""The demo partners besides the bank (``manage.py sandbox_partners_setup``): a cloud ERP for DE01, a legacy ERP
for US01 and a Concur-like expense platform with reports for both, dated around ``today`` so that the previous
month is closed and the current and next months are open. Idempotent: what exists is left as it is (master data
is upserted to these values)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

import holidays

from apps.sandbox import erp_services, expense_services
from apps.sandbox.models import ErpFlavour

CLOUD_ERP, LEGACY_ERP, PLATFORM = "erp-cloud", "erp-legacy", "concur"


def _month(day: dt.date, shift: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + shift
    return dt.date(index // 12, index % 12 + 1, 1)


def _periods(today: dt.date) -> list[dict]:
    return [{"period": f"{_month(today, -2):%Y-%m}", "status": "closed"},
            {"period": f"{_month(today, -1):%Y-%m}", "status": "closed"},
            {"period": f"{_month(today, 0):%Y-%m}", "status": "open"},
            {"period": f"{_month(today, 1):%Y-%m}", "status": "open"}]


def _business_day(start: dt.date, calendar: str) -> dt.date:
    day = start
    closed = holidays.financial_holidays(calendar, years=[day.year, day.year + 1])
    while day.weekday() >= 5 or day in closed:
        day += dt.timedelta(days=1)
    return day


def _this_month(today: dt.date, day: int) -> dt.date:
    """A day of the current month, never after today."""
    return min(today, today.replace(day=day))


def master_data_de(today: dt.date) -> dict:
    old_end = _month(today, -2) - dt.timedelta(days=1)
    return {
        "gl_accounts": [
            {"code": "1571", "name": "Input VAT 7%"}, {"code": "1576", "name": "Input VAT 19%"},
            {"code": "1760", "name": "Payables to employees"}, {"code": "6400", "name": "Travel expenses"},
            {"code": "6410", "name": "Hotel and accommodation"}, {"code": "6420", "name": "Meals and entertainment"},
            {"code": "6430", "name": "Mileage allowances"}, {"code": "6815", "name": "Office supplies"},
            {"code": "6850", "name": "Other operating expenses"}, {"code": "6960", "name": "Rounding differences"},
            {"code": "6499", "name": "Travel expenses (old chart, blocked)", "active": False}],
        "cost_centres": [
            {"code": "CC100", "name": "Sales", "valid_from": "2020-01-01"},
            {"code": "CC200", "name": "Marketing", "valid_from": "2020-01-01"},
            {"code": "CC300", "name": "Engineering", "valid_from": "2020-01-01"},
            {"code": "CC-OLD", "name": "Old projects (closed)", "active": False, "valid_from": "2015-01-01",
             "valid_to": old_end.isoformat()}],
        "tax_codes": [{"code": "V19", "country": "DE", "rate": "19.00", "gl_account": "1576"},
                      {"code": "V7", "country": "DE", "rate": "7.00", "gl_account": "1571"},
                      {"code": "V0", "country": "DE", "rate": "0.00", "gl_account": ""}],
        "employees": [
            {"id": "E-0042", "name": "Jana Kowalski", "email": "jana.kowalski@acme.example",
             "iban": "DE80500105175407324380", "bic": "INGDDEFFXXX", "currency": "EUR",
             "street": "Lindenstr. 12", "postal_code": "10969", "town": "Berlin", "country": "DE"},
            {"id": "E-0043", "name": "Lukas Brandt", "email": "lukas.brandt@acme.example",
             "iban": "DE02120300000000202051", "bic": "BYLADEM1001", "currency": "EUR",
             "street": "Leopoldstr. 40", "postal_code": "80802", "town": "Muenchen", "country": "DE"},
            {"id": "E-0044", "name": "Petra Vogel", "email": "petra.vogel@acme.example", "active": False,
             "iban": "DE02500105170137075030", "bic": "INGDDEFFXXX", "currency": "EUR",
             "town": "Frankfurt am Main", "country": "DE"}],
        "periods": _periods(today),
        "category_accounts": [{"category": c, "gl_account": a} for c, a in (
            ("travel", "6400"), ("lodging", "6410"), ("meals", "6420"), ("mileage", "6430"),
            ("office_supplies", "6815"), ("other", "6850"))],
        "fx_rates": [{"date": today.isoformat(), "base": "EUR", "quote": q, "rate": r}
                     for q, r in (("USD", "1.0850"), ("GBP", "0.8420"), ("CHF", "0.9410"))],
        "accounts": {"employee_payable": "1760", "rounding": "6960"},
    }


def master_data_us(today: dt.date) -> dict:
    old_end = _month(today, -2) - dt.timedelta(days=1)
    return {
        "gl_accounts": [
            {"code": "2150", "name": "Employee reimbursements payable"}, {"code": "2300", "name": "Sales tax paid"},
            {"code": "6100", "name": "Travel"}, {"code": "6110", "name": "Lodging"}, {"code": "6120", "name": "Meals"},
            {"code": "6130", "name": "Mileage"}, {"code": "6200", "name": "Office supplies"},
            {"code": "6900", "name": "Other expenses"}, {"code": "7990", "name": "Rounding"},
            {"code": "6190", "name": "Travel (legacy chart, blocked)", "active": False}],
        "cost_centres": [
            {"code": "100-SALES", "name": "Sales", "valid_from": "2019-01-01"},
            {"code": "200-OPS", "name": "Operations", "valid_from": "2019-01-01"},
            {"code": "300-ENG", "name": "Engineering", "valid_from": "2019-01-01"},
            {"code": "CC-OLD", "name": "Retired cost centre", "active": False, "valid_from": "2015-01-01",
             "valid_to": old_end.isoformat()}],
        "tax_codes": [{"code": "EXEMPT", "country": "US", "rate": "0.00", "gl_account": ""},
                      {"code": "ST-NY", "country": "US", "rate": "8.875", "gl_account": "2300"},
                      {"code": "ST-CA", "country": "US", "rate": "7.25", "gl_account": "2300"}],
        "employees": [
            {"id": "E-0107", "name": "Marcus Reed", "email": "marcus.reed@acme.example",
             "account_number": "1122334455", "routing": "021000021", "currency": "USD",
             "street": "215 W 88th St", "postal_code": "10024", "town": "New York", "country": "US"},
            {"id": "E-0108", "name": "Priya Natarajan", "email": "priya.natarajan@acme.example",
             "account_number": "5566778899", "routing": "026009593", "currency": "USD",
             "street": "1 Court Sq", "postal_code": "11101", "town": "Long Island City", "country": "US"},
            {"id": "E-0110", "name": "Tom Becker", "email": "tom.becker@acme.example", "active": False,
             "account_number": "9988776655", "routing": "021000021", "currency": "USD",
             "town": "Newark", "country": "US"}],
        "periods": _periods(today),
        "category_accounts": [{"category": c, "gl_account": a} for c, a in (
            ("travel", "6100"), ("lodging", "6110"), ("meals", "6120"), ("mileage", "6130"),
            ("office_supplies", "6200"), ("other", "6900"))],
        "fx_rates": [{"date": today.isoformat(), "base": "USD", "quote": q, "rate": r}
                     for q, r in (("EUR", "0.9217"), ("CAD", "1.3600"))],
        "accounts": {"employee_payable": "2150", "rounding": "7990"},
    }


TAX_RATES = {"V19": Decimal("19"), "V7": Decimal("7"), "V0": Decimal("0"), "EXEMPT": Decimal("0"),
             "ST-NY": Decimal("8.875"), "ST-CA": Decimal("7.25")}


def _e(day: dt.date, type_: str, amount: str, tax_code: str, cost_centre: str, vendor: str, **extra) -> dict:
    """An entry whose tax is included in ``amount`` at the tax code's rate."""
    rate = TAX_RATES[tax_code]
    tax = (Decimal(amount) * rate / (100 + rate)).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    return {"date": day.isoformat(), "type": type_, "amount": amount, "tax_code": tax_code, "tax_amount": str(tax),
            "cost_centre": cost_centre, "vendor": vendor, **extra}


def reports(today: dt.date) -> list[dict]:
    d = lambda n: _this_month(today, n)  # noqa: E731
    last_month = _month(today, -1).replace(day=15)
    de = {"entity": "DE01", "currency": "EUR", "approved_by": "m.weber"}
    us = {"entity": "US01", "currency": "USD", "approved_by": "s.miller"}
    jana = {"employee_id": "E-0042", "employee_name": "Jana Kowalski"}
    marcus = {"employee_id": "E-0107", "employee_name": "Marcus Reed"}
    return [
        {"report_id": "R-DE-1001", "title": "Berlin customer visit", **de, **jana, "entries": [
            _e(d(2), "TRAIN", "115.97", "V7", "CC100", "Deutsche Bahn", project="P-7", receipt_id="RCPT-1001-1",
               description="ICE Munich-Berlin return"),
            _e(d(2), "LODNG", "189.00", "V7", "CC100", "Hotel Adlon", receipt_id="RCPT-1001-2"),
            _e(d(3), "BUSML", "64.50", "V19", "CC100", "Restaurant Lutter & Wegner", receipt_id="RCPT-1001-3",
               description="Dinner with customer")]},
        {"report_id": "R-DE-1002", "title": "London trade fair", **de, **jana, "entries": [
            _e(d(4), "AIRFR", "285.02", "V0", "CC200", "British Airways", transaction_amount="240.00",
               transaction_currency="GBP", exchange_rate="1.1876", receipt_id="RCPT-1002-1"),
            _e(d(5), "LODNG", "368.16", "V0", "CC200", "The Hoxton", transaction_amount="310.00",
               transaction_currency="GBP", exchange_rate="1.1876", receipt_id="RCPT-1002-2")]},
        {"report_id": "R-DE-1003", "title": "Workshop supplies", **de, "employee_id": "E-0043",
         "employee_name": "Lukas Brandt", "entries": [
            _e(d(3), "OFCSP", "86.40", "V19", "CC-OLD", "Staples", receipt_id="RCPT-1003-1",
               description="Charged to a closed cost centre")]},
        {"report_id": "R-DE-1004", "title": "Hamburg client dinner", **de, **jana, "entries": [
            _e(last_month, "BUSML", "142.80", "V19", "CC100", "Fischereihafen Restaurant", receipt_id="RCPT-1004-1",
               description="Dated in a closed period")]},
        {"report_id": "R-DE-1005", "title": "Team offsite (awaiting approval)", **de, **jana, "status": "pending",
         "approved_by": "", "entries": [_e(d(1), "MISCL", "240.00", "V19", "CC300", "Alpenhof")]},
        {"report_id": "R-US-2001", "title": "New York customer workshop", **us, **marcus, "entries": [
            _e(d(2), "TAXIX", "48.75", "ST-NY", "100-SALES", "Yellow Cab NYC", receipt_id="RCPT-2001-1"),
            _e(d(2), "LODNG", "329.00", "ST-NY", "100-SALES", "The Roosevelt Hotel", receipt_id="RCPT-2001-2"),
            _e(d(3), "MILEG", "37.52", "EXEMPT", "100-SALES", "Own car, 56 miles")]},
        {"report_id": "R-US-2002", "title": "Toronto partner meeting", **us, "employee_id": "E-0108",
         "employee_name": "Priya Natarajan", "entries": [
            _e(d(4), "LODNG", "180.15", "EXEMPT", "200-OPS", "Fairmont Royal York", transaction_amount="245.00",
               transaction_currency="CAD", exchange_rate="0.7353", receipt_id="RCPT-2002-1"),
            _e(d(4), "BUSML", "50.29", "EXEMPT", "200-OPS", "Canoe Restaurant", transaction_amount="68.40",
               transaction_currency="CAD", exchange_rate="0.7353", receipt_id="RCPT-2002-2")]},
        {"report_id": "R-US-2003", "title": "Printer toner", **us, **marcus, "entries": [
            _e(d(3), "OFCSP", "54.20", "EXEMPT", "CC-OLD", "Office Depot", description="Charged to a retired cost centre")]},
        {"report_id": "R-US-2004", "title": "Airport taxi", **us, **marcus, "entries": [
            _e(last_month, "TAXIX", "31.60", "EXEMPT", "100-SALES", "Uber", description="Dated in a closed period")]},
    ]


def payment_runs(today: dt.date) -> dict[str, list[dict]]:
    eur_day = _business_day(today + dt.timedelta(days=3), "ECB")
    usd_day = _business_day(today + dt.timedelta(days=3), "NYSE")
    return {
        CLOUD_ERP: [{
            "entity": "DE01", "debtor_account": "DE89370400440532013000",
            "requested_execution_date": eur_day.isoformat(), "erp_reference": f"F110-DE01-{eur_day:%Y%m%d}-01",
            "instructions": [
                {"end_to_end_id": f"F110-{eur_day:%m%d}-0001", "amount": "2350.75", "currency": "EUR",
                 "creditor": {"name": "Nordlicht Logistik AG", "iban": "DE32200411110123123123",
                              "counterparty_ref": "V-1002", "address": {"town": "Hamburg", "country": "DE"}},
                 "remittance_information": "NL-88412", "purpose": "SUPP", "erp_reference": "5100000417"},
                {"end_to_end_id": f"F110-{eur_day:%m%d}-0002", "amount": "4210.50", "currency": "EUR",
                 "creditor": {"name": "Rheinmetall Teile GmbH", "iban": "DE12100700000555444333", "bic": "DEUTDEBBXXX",
                              "counterparty_ref": "V-1001",
                              "address": {"street": "Hauptstr.", "building_number": "1", "postal_code": "40210",
                                          "town": "Duesseldorf", "country": "DE"}},
                 "remittance_information": "RE-2026-1333", "purpose": "SUPP", "erp_reference": "5100000418"}],
        }],
        LEGACY_ERP: [{
            "entity": "US01", "debtor_account": "000123456789", "requested_execution_date": usd_day.isoformat(),
            "erp_reference": f"PR-US01-{usd_day:%Y%m%d}",
            "instructions": [
                {"end_to_end_id": f"PRUS{usd_day:%m%d}0001", "amount": "3120.45", "currency": "USD",
                 "creditor": {"name": "Lakeside Office Supply LLC", "account_number": "4455667788",
                              "routing": "026009593", "counterparty_ref": "V-2001",
                              "address": {"town": "Chicago", "country": "US"}},
                 "remittance_information": "INV LS-20931", "erp_reference": "AP-77120"}],
        }],
    }


@dataclass
class DemoPartners:
    credentials: dict[str, dict] = field(default_factory=dict)
    reports_created: int = 0
    batches_queued: int = 0


def sandbox_partners_demo_ensure(*, today: dt.date, credentials: dict[str, dict] | None = None,
                                 file_root: str | None = None) -> DemoPartners:
    """Create (or refresh) the demo ERPs, their master data, one payment run each (once) and the expense reports.
    ``credentials`` per partner code (``api_key``, ``client_id``, ``client_secret``) replace the stored ones."""
    given = credentials or {}
    out = DemoPartners()
    for code, name, flavour, entity, data in (
            (CLOUD_ERP, "Sandbox cloud ERP (S/4-like)", ErpFlavour.CLOUD,
             {"code": "DE01", "name": "Acme GmbH", "country": "DE", "currency": "EUR"}, master_data_de(today)),
            (LEGACY_ERP, "Sandbox legacy ERP (CSV files)", ErpFlavour.LEGACY,
             {"code": "US01", "name": "Acme Inc.", "country": "US", "currency": "USD"}, master_data_us(today))):
        erp, out.credentials[code] = erp_services.sandbox_erp_ensure(
            code=code, name=name, flavour=flavour, file_root=file_root if flavour == ErpFlavour.LEGACY else None,
            **given.get(code, {}))
        erp_services.sandbox_erp_entity_ensure(erp_code=code, **entity)
        erp_services.sandbox_erp_master_data_load(erp_code=code, entity_code=entity["code"], data=data)
        if not erp.payment_batches.exists():
            out.batches_queued += len(erp_services.sandbox_erp_batches_queue(erp_code=code,
                                                                              batches=payment_runs(today)[code]))
    _platform, out.credentials[PLATFORM] = expense_services.sandbox_expense_platform_ensure(
        code=PLATFORM, name="Sandbox Concur", **given.get(PLATFORM, {}))
    for report in reports(today):
        _report, created = expense_services.sandbox_expense_report_seed(platform_code=PLATFORM, report=report)
        out.reports_created += created
    return out
