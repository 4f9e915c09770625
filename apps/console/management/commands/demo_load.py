"""Demo data: a user per role, the demo configuration (through config_load) and open cases of several kinds."""

import contextlib
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.core.config import config_load, config_parse
from apps.core.roles import roles_sync
from apps.core.services import document_store
from apps.exceptions.models import ExceptionCase
from apps.exceptions.services import case_open
from apps.org.models import BankAccount, BankPartner, Counterparty, LegalEntity
from apps.statements.services import statement_file_import

CONFIG = Path(__file__).resolve().parents[2] / "demo" / "config.yaml"

USERS = [
    # username, role, first name, last name
    ("clerk", "ap_clerk", "Clara", "Klein"),
    ("clerk_us", "ap_clerk", "Carl", "Young"),
    ("treasury", "treasury", "Tom", "Reyes"),
    ("approver", "approver", "Anna", "Berg"),
    ("auditor", "auditor", "Otto", "Meyer"),
    ("admin", "admin", "Ada", "Miller"),
]

BROKEN_CAMT = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>DEMO-20261123-01</MsgId><CreDtTm>2026-11-23T18:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>DEMO-STMT-0001</Id>
      <Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1000.00</Amt></Bal>
      <Ntry><Amt Ccy="EUR">12,50</Amt>
"""


@contextlib.contextmanager
def sandbox_in_process():
    """The demo server is not up while the demo loads: the hub's REST clients reach the sandbox partners (mounted
    under /sandbox/ of this same project) through httpx's WSGI transport, in this process. Same requests, same
    adapters, same SyncRuns as over the network later."""
    import httpx
    from django.core.handlers.wsgi import WSGIHandler

    from apps.connectors.transports.rest import use_http_transport

    with use_http_transport(httpx.WSGITransport(app=WSGIHandler())):
        yield


def password_for(username: str) -> str:
    return f"demo-{username}-2026"


class Command(BaseCommand):
    help = "Load demo users, configuration and open exception cases (idempotent)."

    def handle(self, *args, **options):
        roles_sync()
        User = get_user_model()
        for username, role, first, last in USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"}
            )
            if created:
                user.set_password(password_for(username))
                user.save()
            user.groups.set([Group.objects.get(name=role)])
        results = config_load(config_parse(CONFIG))
        self.stdout.write(f"configuration: {sum(r.action != 'unchanged' for r in results)} item(s) created or updated")
        if not ExceptionCase.objects.exists():
            self._cases()
        self._statements()
        with sandbox_in_process():
            self._payments()
            self._partners()
        self.stdout.write(self.style.SUCCESS(f"{ExceptionCase.objects.count()} case(s) in the queue"))

    def _statements(self) -> None:
        """Bank files for the demo accounts, imported through the same pipeline as every other file."""
        for path in sorted((CONFIG.parent / "statements").iterdir()):
            result = statement_file_import(content=path.read_bytes(), filename=path.name, source="demo",
                                           media_type="application/xml")
            self.stdout.write(f"{path.name}: {result.status}, {result.entries_created} entries")

    def _payments(self) -> None:
        """A file-drop connection to the sandbox bank (set up by `manage.py sandbox_setup`, see the Makefile) and a
        payment run waiting for approval, one instruction held because the vendor's bank details changed."""
        from django.conf import settings

        from apps.connectors.services import connection_upsert
        from apps.payments.models import PaymentBatch
        from apps.payments.services import payment_batch_receive
        from apps.payments.validation import next_business_day

        drop = Path(os.environ.get("FINOPS_SANDBOX_ROOT") or settings.VAR_DIR / "sandbox") / "DEUT"
        drop.mkdir(parents=True, exist_ok=True)
        connection_upsert(
            code="deut-sandbox-files", name="Deutsche Bank (sandbox file drop)", partner_kind="bank",
            partner_ref="DEUT", transport="directory", endpoint=str(drop.resolve()),
            options={"outbox_dir": "inbox", "status_dir": "outbox/status-reports",
                     "inbox_dir": "outbox/statements", "archive_dir": "archive"},
            reason="demo",
        )
        if PaymentBatch.objects.filter(erp_reference="PAYRUN-DEMO-1").exists():
            return
        clerk = get_user_model().objects.get(username="clerk")
        day = next_business_day(timezone.localdate() + timedelta(days=2), "EUR")
        batch = payment_batch_receive(actor=clerk, raw=b'{"source": "demo"}', data={
            "entity": "DE01", "debtor_account": "DE89370400440532013000", "requested_execution_date": day,
            "erp_reference": "PAYRUN-DEMO-1", "instructions": [
                {"end_to_end_id": "PAYRUN1-0001", "amount": "18400.00", "currency": "EUR",
                 "creditor": {"name": "Rheinmetall Teile GmbH", "iban": "DE80500105175407324380",
                              "counterparty_ref": "V-1001", "address": {"town": "Berlin", "country": "DE"}},
                 "remittance_information": "RE-2026-1290"},
                {"end_to_end_id": "PAYRUN1-0002", "amount": "2350.75", "currency": "EUR",
                 "creditor": {"name": "Nordlicht Logistik AG", "iban": "DE32200411110123123123",
                              "counterparty_ref": "V-1002", "address": {"town": "Hamburg", "country": "DE"}},
                 "remittance_information": "NL-88213"},
                {"end_to_end_id": "PAYRUN1-0003", "amount": "980.00", "currency": "EUR",
                 "creditor": {"name": "Büro & Co KG", "iban": "DE12100700000555444333",
                              "address": {"town": "Köln", "country": "DE"}},
                 "remittance_information": "Rechnung 2026/311"},
            ]})
        self.stdout.write(f"payment batch {batch.erp_reference}: {batch.get_status_display().lower()}")

    @transaction.atomic
    def _cases(self) -> None:
        de01 = LegalEntity.objects.get(code="DE01")
        us01 = LegalEntity.objects.get(code="US01")
        op_eur = BankAccount.objects.get(iban="DE89370400440532013000")
        coll_eur = BankAccount.objects.get(iban="DE12500400000987654321")
        op_usd = BankAccount.objects.get(account_number="000123456789")
        vendor = Counterparty.objects.get(code="V-1001")
        vendor2 = Counterparty.objects.get(code="V-1002")
        us_vendor = Counterparty.objects.get(code="V-2001")
        doc, _ = document_store(
            content=BROKEN_CAMT, source="bank:DEUT", media_type="application/xml",
            filename="DEUT_camt053_20261123.xml",
        )
        case_open(
            kind="statement.rejected", subject=doc, legal_entity=de01, raw_document=doc, reason_code="xml.truncated",
            message="DEUT_camt053_20261123.xml is cut off: line 9, /Document/BkToCstmrStmt/Stmt/Ntry/Amt has "
            "'12,50' where a decimal with a dot was expected, and the file ends before </Document>. "
            "Ask Deutsche Bank to resend the statement of 2026-11-23.",
        )
        case_open(
            kind="statement.unbalanced", subject=coll_eur, legal_entity=de01, reason_code="balance.mismatch",
            amount=Decimal("250.00"), currency="EUR",
            message="Statement 2026-11-23 of Collections EUR: opening 48,210.00 + credits 5,400.00 - debits "
            "1,150.00 = 52,460.00, but the bank reports a closing balance of 52,710.00 (difference 250.00 EUR).",
        )
        case_open(
            kind="payment.rejected_by_bank", subject=vendor, legal_entity=de01, reason_code="AC04",
            amount=Decimal("12500.00"), currency="EUR",
            message="Deutsche Bank rejected the payment of 12,500.00 EUR to Rheinmetall Teile GmbH (invoice "
            "RE-2026-1187): AC04 closed account number. Get the vendor's new bank details and resend.",
        )
        case_open(
            kind="payment.flagged", subject=vendor2, legal_entity=de01, reason_code="bank_details_changed",
            amount=Decimal("48000.00"), currency="EUR",
            message="Nordlicht Logistik AG's IBAN changed 2 days before this 48,000.00 EUR payment. "
            "Confirm the change with the vendor by phone before releasing it.",
        )
        case_open(
            kind="payment.rejected_by_bank", subject=us_vendor, legal_entity=us01, reason_code="R03",
            amount=Decimal("3120.45"), currency="USD",
            message="ACH return R03 (no account / unable to locate account) for 3,120.45 USD to Lakeside Office "
            "Supply LLC. Ask the vendor for correct account details.",
        )
        case_open(
            kind="statement.gap", subject=op_usd, legal_entity=us01, reason_code="sequence.gap",
            message="BAI2 files for Operating USD jumped from file id 1121 to 1123: the statement of 2026-11-20 is "
            "missing. Request it from JPMorgan Chase.",
        )
        case_open(
            kind="connector.unavailable", subject=BankPartner.objects.get(code="COBA"), reason_code="sftp.timeout",
            message="Commerzbank SFTP did not answer within 30 s on 5 attempts since 06:00. Statements and status "
            "reports are delayed; the case closes by itself when the connection recovers.",
        )
        case_open(
            kind="statement.unbalanced", subject=op_eur, legal_entity=de01, reason_code="balance.mismatch",
            amount=Decimal("0.01"), currency="EUR",
            message="Statement 2026-11-22 of Operating EUR is off by 0.01 EUR: opening 1,204,118.23 + credits "
            "88,100.00 - debits 91,442.10 = 1,200,776.13; the bank reports 1,200,776.14.",
        )

    def _partners(self) -> None:
        """First sync with the sandbox ERPs and the expense platform (afterwards their schedules, or "Run now" on
        the Connections page): master data first, then payment runs and approved expense reports, which are
        validated, journaled and posted to each entity's ERP; the legacy ERP acknowledges on `sandbox_tick`."""
        from apps.connectors.models import Connection
        from apps.connectors.services import connection_operation_run

        steps = [("erp-cloud-api", "pull_master_data"), ("erp-legacy-files", "pull_master_data"),
                 ("erp-cloud-api", "pull_payment_batches"), ("erp-legacy-files", "pull_payment_batches"),
                 ("concur-api", "pull_approved_reports")]
        for code, operation in steps:
            conn = Connection.objects.filter(code=code, active=True).first()
            if conn is None:
                continue
            run = connection_operation_run(connection_id=conn.pk, operation=operation)
            self.stdout.write(f"{code} {operation}: {run.status if run else 'skipped'}"
                              f"{' (' + run.error + ')' if run is not None and run.error else ''}")
