"""The sandbox bank's writes: set-up, pain.001 intake, execution, statements, returns, faults.

The sandbox is the outside world: it knows nothing of the hub's tables and is reached only over HTTP or files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from apps.core.crypto import credentials_decrypt, credentials_encrypt
from apps.core.errors import NotFound, ValidationFailed
from apps.core.money import Money, validate_currency
from apps.sandbox import faults, pain, statements
from apps.sandbox.models import (
    BookingKind,
    Channel,
    DocumentKind,
    PaymentStatus,
    ReturnMode,
    SandboxAccount,
    SandboxBank,
    SandboxBooking,
    SandboxDocument,
    SandboxMessage,
    SandboxPayment,
    StatementFormat,
)
from apps.sandbox.xml import XmlRefused, parse_safely, validate_pain001

logger = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".part", ".tmp", ".filepart", ".partial")
MAX_CATCH_UP_DAYS = 31
LIVE = (PaymentStatus.ACCEPTED, PaymentStatus.EXECUTED, PaymentStatus.RETURNED)


# -- where things live ------------------------------------------------------------------------------------------

def sandbox_root() -> Path:
    configured = getattr(settings, "SANDBOX_ROOT", None) or os.environ.get("FINOPS_SANDBOX_ROOT")
    if configured:
        return Path(configured)
    return Path(getattr(settings, "VAR_DIR", Path(settings.BASE_DIR) / "var")) / "sandbox"


def bank_dir(bank: SandboxBank) -> Path:
    return Path(bank.file_root) if bank.file_root else sandbox_root() / bank.code


def bank_dirs(bank: SandboxBank) -> dict[str, Path]:
    base = bank_dir(bank)
    return {"inbox": base / "inbox", "processed": base / "processed", "rejected": base / "rejected",
            "status": base / "outbox" / "status-reports", "statements": base / "outbox" / "statements"}


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    os.replace(part, path)


def safe_name(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", value)[:80] or "file"


def _today() -> dt.date:
    return timezone.localdate()


# -- set-up -----------------------------------------------------------------------------------------------------

def _bank(code: str, *, lock: bool = False) -> SandboxBank:
    qs = SandboxBank.objects.select_for_update() if lock else SandboxBank.objects
    try:
        return qs.get(code=code)
    except SandboxBank.DoesNotExist:
        raise NotFound(f"No sandbox bank {code!r}.", {"bank": code}) from None


def sandbox_bank_api_key(bank: SandboxBank) -> str:
    return str(credentials_decrypt(bytes(bank.api_key_ciphertext or b"")).get("api_key", ""))


def sandbox_bank_check_key(bank: SandboxBank, presented: str | None) -> bool:
    expected = sandbox_bank_api_key(bank)
    return bool(expected and presented) and hmac.compare_digest(expected.encode(), str(presented).encode())


def _account_spec(spec: Any) -> dict[str, Any]:
    if isinstance(spec, str):
        spec = {"iban": spec}
    spec = dict(spec)
    iban = str(spec.get("iban") or "").replace(" ", "").upper()
    number = str(spec.get("number") or "").strip()
    if iban:
        try:
            IBAN(iban)
        except SchwiftyException as exc:
            raise ValidationFailed(f"{iban}: not a valid IBAN ({exc}).", {"field": "accounts"}) from None
    if not iban and not number:
        raise ValidationFailed("Each account needs an IBAN or an account number.", {"field": "accounts"})
    currency = validate_currency(str(spec.get("currency") or "EUR"))
    return {"iban": iban, "number": number, "currency": currency, "name": str(spec.get("name") or ""),
            "balance": Money.of(str(spec.get("balance", "0")), currency).amount,
            "limit": Money.of(str(spec["limit"]), currency).amount if spec.get("limit") not in (None, "") else None}


@transaction.atomic
def sandbox_bank_ensure(*, code: str, name: str, bic: str, accounts: list[Any] = (), api_key: str | None = None,
                        statement_format: str | None = None) -> tuple[SandboxBank, str]:
    """Create the bank and its accounts if missing (idempotent); returns the bank and its API key.

    ``accounts``: IBAN strings or dicts ``{iban | number, currency, balance, limit, name}``. Existing accounts are
    left as they are (their balances are the bank's business); a given ``api_key`` replaces the stored one.
    """
    bic = bic.strip().upper()
    try:
        BIC(bic)
    except SchwiftyException as exc:
        raise ValidationFailed(f"{bic}: not a valid BIC ({exc}).", {"field": "bic"}) from None
    if statement_format and statement_format not in StatementFormat.values:
        raise ValidationFailed(f"statement_format must be one of {', '.join(StatementFormat.values)}.")
    bank = SandboxBank.objects.select_for_update().filter(code=code).first()
    if bank is None:
        bank = SandboxBank.objects.create(code=code, name=name, bic=bic,
                                          statement_format=statement_format or StatementFormat.CAMT053)
    else:
        changed = [f for f, v in (("name", name), ("bic", bic), ("statement_format", statement_format))
                   if v and getattr(bank, f) != v]
        for f in changed:
            setattr(bank, f, {"name": name, "bic": bic, "statement_format": statement_format}[f])
        if changed:
            bank.save(update_fields=[*changed, "updated_at"])
    key = api_key or sandbox_bank_api_key(bank) or secrets.token_urlsafe(24)
    if key != sandbox_bank_api_key(bank):
        bank.api_key_ciphertext = credentials_encrypt({"api_key": key})
        bank.save(update_fields=["api_key_ciphertext", "updated_at"])
    for spec in accounts:
        data = _account_spec(spec)
        lookup = {"iban": data["iban"]} if data["iban"] else {"number": data["number"], "iban": ""}
        balance = data.pop("balance")
        SandboxAccount.objects.get_or_create(
            bank=bank, **lookup,
            defaults={**data, "balance": balance, "statement_balance": balance},
        )
    return bank, key


@transaction.atomic
def sandbox_faults_set(*, bank_code: str, clear: bool = False, **settings: Any) -> SandboxBank:
    """Set fault injection (``latency_ms``, ``error_rate`` %, ``timeout_seconds``, ``throttle_rate`` %,
    ``retry_after_seconds``, ``malformed_documents``, ``outage_start``/``outage_end``); ``clear`` resets all first."""
    bank = faults.faults_apply(_bank(bank_code, lock=True), clear=clear, **settings)
    bank.save()
    return bank


def sandbox_faults(bank: SandboxBank) -> dict[str, Any]:
    return faults.faults_json(bank)


# -- documents --------------------------------------------------------------------------------------------------

def _document_add(bank: SandboxBank, *, kind: str, filename: str, content: bytes, media_type: str = "application/xml",
                  message: SandboxMessage | None = None, account: SandboxAccount | None = None,
                  write_to: str | None = None) -> SandboxDocument:
    doc = SandboxDocument.objects.create(bank=bank, kind=kind, filename=filename, media_type=media_type,
                                         content=content, message=message, account=account)
    if write_to:
        target = bank_dirs(bank)[write_to] / filename
        transaction.on_commit(lambda: write_atomic(target, content))
    return doc


@transaction.atomic
def sandbox_document_acknowledge(*, bank_code: str, document_id: int) -> SandboxDocument:
    bank = _bank(bank_code)
    doc = SandboxDocument.objects.select_for_update().filter(bank=bank, pk=document_id).first()
    if doc is None:
        raise NotFound(f"No document {document_id} at sandbox bank {bank_code}.")
    if doc.acknowledged_at is None:
        doc.acknowledged_at = timezone.now()
        doc.save(update_fields=["acknowledged_at"])
    return doc


# -- pain.001 intake --------------------------------------------------------------------------------------------

def _find_account(bank: SandboxBank, identifier: str) -> SandboxAccount | None:
    if not identifier:
        return None
    ident = identifier.replace(" ", "")
    return (SandboxAccount.objects.select_for_update().filter(bank=bank, iban=ident.upper()).first()
            or SandboxAccount.objects.select_for_update().filter(bank=bank, number=ident).first())


def _valid_iban(value: str) -> bool:
    try:
        IBAN(value)
    except SchwiftyException:
        return False
    return True


def _valid_bic(value: str) -> bool:
    try:
        BIC(value)
    except SchwiftyException:
        return False
    return True


def _closed(bank: SandboxBank, identifier: str) -> bool:
    closed = {str(c).replace(" ", "").upper() for c in (bank.closed_accounts or [])}
    return identifier.replace(" ", "").upper() in closed


def _judge(bank: SandboxBank, msg: pain.Pain001, accounts: dict[str, SandboxAccount | None]) -> None:
    """Set each transaction's and payment information's status by the bank's rules (first failing rule wins)."""
    accepted = bank.accept_status
    seen: set[tuple[int, str]] = set()
    for info in msg.pmt_infs:
        debtor = accounts.get(info.debtor_account)
        info_reason = pain.pmt_inf_control_error(info)
        if not info_reason:
            if debtor is None:
                info_reason = "AC02"
            elif _closed(bank, debtor.identifier):
                info_reason = "AC04"
            elif info.debtor_bic and not _valid_bic(info.debtor_bic):
                info_reason = "RC01"
        for tx in info.txs:
            reason = info_reason
            if not reason and tx.creditor_is_iban and not _valid_iban(tx.creditor_account):
                reason = "AC01"
            if not reason and tx.creditor_bic and not _valid_bic(tx.creditor_bic):
                reason = "RC01"
            if not reason and _closed(bank, tx.creditor_account):
                reason = "AC04"
            if not reason and tx.currency != debtor.currency:
                reason = "AM03"
            key = (debtor.pk, tx.end_to_end_id) if debtor else None
            if not reason and tx.end_to_end_id.upper() != "NOTPROVIDED" and (key in seen or SandboxPayment.objects.filter(
                    bank=bank, debtor_account=debtor, end_to_end_id=tx.end_to_end_id, status__in=LIVE).exists()):
                reason = "AM05"
            limit = debtor.limit if debtor is not None and debtor.limit is not None else bank.default_limit
            if not reason and limit is not None and tx.amount > limit:
                reason = "AM02"
            tx.status, tx.reason = ("RJCT", reason) if reason else (accepted, "")
            if not reason and key:
                seen.add(key)
        info.status = pain.roll_up([t.status for t in info.txs], accepted)
        info.reason = info_reason if info.status == "RJCT" else ""
    msg.group_status = pain.roll_up([t.status for t in msg.txs], accepted)


def _reject_all(msg: pain.Pain001, reason: str) -> None:
    msg.group_status, msg.group_reason = "RJCT", reason
    for info in msg.pmt_infs:
        info.status, info.reason = "RJCT", ""
        for tx in info.txs:
            tx.status, tx.reason = "RJCT", reason


def _status_report(bank: SandboxBank, message: SandboxMessage, msg: pain.Pain001, *,
                   only: list | None = None) -> SandboxDocument:
    report_id = pain.new_message_id(f"PSR{bank.code}")
    content = pain.build_pain002(msg, bank_bic=bank.bic, msg_id=report_id, now=timezone.now(), only=only)
    version = pain.PAIN002_FOR[msg.version]
    return _document_add(
        bank, kind=DocumentKind.STATUS_REPORT, filename=f"{version}_{safe_name(msg.msg_id)}_{report_id[-8:]}.xml",
        content=content, message=message, write_to="status" if message.channel == Channel.FILE else None,
    )


@transaction.atomic
def sandbox_payment_file_receive(*, bank_code: str, content: bytes, channel: str = Channel.REST, filename: str = "",
                                 idempotency_key: str = "") -> SandboxMessage:
    """Take in a pain.001: validate, judge every transaction, store, and answer with a pain.002.

    Hostile, malformed or schema-invalid files raise :class:`XmlRefused` (nothing stored). A repeat with the
    same ``idempotency_key`` returns the first message unchanged.
    """
    bank = _bank(bank_code, lock=True)  # one intake at a time per bank: MsgId and duplicate checks are exact
    if idempotency_key:
        earlier = SandboxMessage.objects.filter(bank=bank, idempotency_key=idempotency_key).first()
        if earlier is not None:
            return earlier
    tree = parse_safely(content)
    version = validate_pain001(tree)
    msg = pain.parse_pain001(tree, version)
    duplicate = SandboxMessage.objects.filter(bank=bank, msg_id=msg.msg_id, is_duplicate=False).exists()
    accounts = {info.debtor_account: _find_account(bank, info.debtor_account) for info in msg.pmt_infs}
    if duplicate:
        _reject_all(msg, "DU01")
    else:
        reason, _why = pain.control_errors(msg)
        if reason:
            _reject_all(msg, reason)
        else:
            _judge(bank, msg, accounts)
    message = SandboxMessage.objects.create(
        bank=bank, msg_id=msg.msg_id, version=version, channel=channel, filename=filename[:255],
        idempotency_key=idempotency_key, content=content, is_duplicate=duplicate, nb_of_txs=msg.nb_of_txs,
        ctrl_sum=msg.ctrl_sum, group_status=msg.group_status, group_reason=msg.group_reason,
    )
    return_to = {str(a).replace(" ", "").upper() for a in (bank.return_accounts or [])}
    position = 0
    rows = []
    for info in msg.pmt_infs:
        debtor = accounts.get(info.debtor_account)
        for tx in info.txs:
            accepted = tx.status != "RJCT"
            rows.append(SandboxPayment(
                bank=bank, message=message, debtor_account=debtor, position=position, pmt_inf_id=info.pmt_inf_id,
                instr_id=tx.instr_id, end_to_end_id=tx.end_to_end_id, debtor_name=info.debtor_name[:140],
                debtor_iban=info.debtor_account, creditor_name=tx.creditor_name[:140],
                creditor_account=tx.creditor_account, creditor_bic=tx.creditor_bic, amount=tx.amount,
                currency=tx.currency, requested_date=info.requested_date, remittance=tx.remittance,
                status=PaymentStatus.ACCEPTED if accepted else PaymentStatus.REJECTED, reason=tx.reason,
                return_pending=accepted and tx.creditor_account.replace(" ", "").upper() in return_to,
            ))
            position += 1
    SandboxPayment.objects.bulk_create(rows)
    _status_report(bank, message, msg)
    logger.info("sandbox %s: pain.001 %s (%s) %s, %d transaction(s)", bank.code, msg.msg_id, version,
                msg.group_status, len(rows))
    return message


def _reparse(message: SandboxMessage) -> pain.Pain001:
    tree = parse_safely(bytes(message.content))
    return pain.parse_pain001(tree, message.version)


def _report_later(bank: SandboxBank, payments: list[SandboxPayment]) -> None:
    """A follow-up pain.002 for some transactions of one message (e.g. RJCT after ACCP)."""
    message = payments[0].message
    msg = _reparse(message)
    flat = [(info, tx) for info in msg.pmt_infs for tx in info.txs]
    chosen = []
    for payment in payments:
        info, tx = flat[payment.position]
        tx.status, tx.reason = "RJCT", payment.reason
        chosen.append((info, tx))
    _status_report(bank, message, msg, only=chosen)


# -- execution, returns, statements -----------------------------------------------------------------------------

def _header(bank: SandboxBank, account: SandboxAccount) -> statements.AccountHeader:
    return statements.AccountHeader(identifier=account.identifier, is_iban=bool(account.iban),
                                    currency=account.currency, owner=account.name, bank_bic=bank.bic)


def _book(account: SandboxAccount, *, kind: str, day: dt.date, amount: Decimal, **fields: Any) -> SandboxBooking:
    account.balance += amount
    account.save(update_fields=["balance"])
    booking = SandboxBooking.objects.create(account=account, kind=kind, booking_date=day, amount=amount,
                                            currency=account.currency,
                                            reference=f"TMP{secrets.token_hex(8)}", **fields)
    booking.reference = f"{account.bank.code[:8].upper()}{booking.pk:012d}"
    booking.save(update_fields=["reference"])
    return booking


def _line(booking: SandboxBooking) -> statements.Line:
    return statements.Line(kind=booking.kind, amount=booking.amount, booking_date=booking.booking_date,
                           reference=booking.reference, end_to_end_id=booking.end_to_end_id,
                           counterparty_name=booking.counterparty_name,
                           counterparty_account=booking.counterparty_account, remittance=booking.remittance,
                           return_reason=booking.return_reason)


def _notify(bank: SandboxBank, account: SandboxAccount, booking: SandboxBooking) -> None:
    if bank.statement_format != StatementFormat.CAMT053:
        return
    account.notification_seq += 1
    account.save(update_fields=["notification_seq"])
    seq = account.notification_seq
    content = statements.camt054(acct=_header(bank, account), notification_id=f"NTF-{booking.reference}", seq=seq,
                                 line=_line(booking), now=timezone.now(), msg_id=f"CAMT054-{booking.reference}")
    _document_add(bank, kind=DocumentKind.NOTIFICATION, account=account, content=content,
                  filename=f"camt.054_{safe_name(account.identifier)}_{seq:06d}.xml",
                  write_to="statements" if bank.write_files else None)


def _execute_due(bank: SandboxBank, day: dt.date) -> dict[str, int]:
    counts = {"executed": 0, "rejected_after_acceptance": 0}
    due = list(SandboxPayment.objects.select_for_update().select_related("message")
               .filter(bank=bank, status=PaymentStatus.ACCEPTED, requested_date__lte=day).order_by("pk"))
    late_rejects: dict[int, list[SandboxPayment]] = {}
    for payment in due:
        if payment.return_pending and bank.return_mode == ReturnMode.STATUS_REPORT:
            payment.status, payment.reason, payment.return_pending = PaymentStatus.REJECTED, bank.return_reason, False
            payment.save(update_fields=["status", "reason", "return_pending"])
            late_rejects.setdefault(payment.message_id, []).append(payment)
            counts["rejected_after_acceptance"] += 1
            continue
        debtor = SandboxAccount.objects.select_for_update().get(pk=payment.debtor_account_id)
        booking = _book(debtor, kind=BookingKind.PAYMENT, day=day, amount=-payment.amount, payment=payment,
                        end_to_end_id=payment.end_to_end_id, counterparty_name=payment.creditor_name,
                        counterparty_account=payment.creditor_account, remittance=payment.remittance)
        creditor = _find_account(bank, payment.creditor_account)
        if creditor is not None and creditor.pk == debtor.pk:
            creditor = debtor
        if creditor is not None and creditor.currency == payment.currency:  # internal counterpart
            _book(creditor, kind=BookingKind.INCOMING, day=day, amount=payment.amount, payment=payment,
                  end_to_end_id=payment.end_to_end_id, counterparty_name=payment.debtor_name,
                  counterparty_account=debtor.identifier, remittance=payment.remittance)
        payment.status, payment.executed_on = PaymentStatus.EXECUTED, day
        payment.save(update_fields=["status", "executed_on"])
        _notify(bank, debtor, booking)
        counts["executed"] += 1
    for payments in late_rejects.values():
        _report_later(bank, payments)
    return counts


def _book_returns(bank: SandboxBank, day: dt.date) -> int:
    due = SandboxPayment.objects.select_for_update().filter(
        bank=bank, status=PaymentStatus.EXECUTED, return_pending=True, executed_on__lt=day).order_by("pk")
    n = 0
    for payment in due:
        reason = payment.reason or bank.return_reason
        debtor = SandboxAccount.objects.select_for_update().get(pk=payment.debtor_account_id)
        _book(debtor, kind=BookingKind.RETURN, day=day, amount=payment.amount, payment=payment,
              end_to_end_id=payment.end_to_end_id, counterparty_name=payment.creditor_name,
              counterparty_account=payment.creditor_account, remittance=f"RETURN {reason} {payment.remittance}"[:140],
              return_reason=reason)
        payment.status, payment.returned_on, payment.return_pending, payment.reason = (
            PaymentStatus.RETURNED, day, False, reason)
        payment.save(update_fields=["status", "returned_on", "return_pending", "reason"])
        n += 1
    return n


def _close_day(bank: SandboxBank, day: dt.date) -> int:
    produced = 0
    for account in SandboxAccount.objects.select_for_update().filter(bank=bank).order_by("pk"):
        bookings = list(account.bookings.filter(statement_seq__isnull=True, booking_date__lte=day).order_by("pk"))
        opening = account.statement_balance
        closing = opening + sum((b.amount for b in bookings), Decimal(0))
        seq = account.last_statement_seq + 1
        header = _header(bank, account)
        lines = [_line(b) for b in bookings]
        ident = safe_name(account.identifier)
        if bank.statement_format == StatementFormat.MT940:
            content = statements.mt940(acct=header, statement_id=f"STM{day:%y%m%d}{seq:05d}", seq=seq, day=day,
                                       opening=opening, closing=closing, lines=lines)
            filename, media_type = f"mt940_{ident}_{seq:05d}.sta", "text/plain"
        else:
            content = statements.camt053(acct=header, statement_id=f"{bank.code}-{ident[-12:]}-{seq:05d}"[:35],
                                         seq=seq, day=day, opening=opening, closing=closing, lines=lines,
                                         now=timezone.now(), msg_id=f"CAMT053-{bank.code}-{ident[-10:]}-{seq}"[:35])
            filename, media_type = f"camt.053_{ident}_{seq:05d}.xml", "application/xml"
        _document_add(bank, kind=DocumentKind.STATEMENT, account=account, content=content, filename=filename,
                      media_type=media_type, write_to="statements" if bank.write_files else None)
        SandboxBooking.objects.filter(pk__in=[b.pk for b in bookings]).update(statement_seq=seq)
        account.statement_balance, account.last_statement_seq, account.last_statement_date = closing, seq, day
        account.save(update_fields=["statement_balance", "last_statement_seq", "last_statement_date"])
        produced += 1
    return produced


@dataclass
class TickResult:
    bank: str
    inbox_files: int = 0
    inbox_refused: int = 0
    executed: int = 0
    rejected_after_acceptance: int = 0
    returned: int = 0
    statements: int = 0
    business_date: str = ""


def _process_inbox(bank: SandboxBank, result: TickResult) -> None:
    dirs = bank_dirs(bank)
    inbox = dirs["inbox"]
    if not inbox.is_dir():
        return
    for path in sorted(inbox.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name.lower().endswith(PARTIAL_SUFFIXES):
            continue
        content = path.read_bytes()
        key = "file:" + hashlib.sha256(content).hexdigest()
        try:
            sandbox_payment_file_receive(bank_code=bank.code, content=content, channel=Channel.FILE,
                                         filename=path.name, idempotency_key=key)
            target_dir = dirs["processed"]
            result.inbox_files += 1
        except XmlRefused as exc:
            target_dir = dirs["rejected"]
            target_dir.mkdir(parents=True, exist_ok=True)
            (target_dir / f"{path.name}.reason.txt").write_text(f"{exc.extra.get('reason', 'FF01')} {exc.message}\n")
            result.inbox_refused += 1
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / path.name
        if target.exists():
            target = target_dir / f"{path.stem}.{key[5:17]}{path.suffix}"
        os.replace(path, target)


def _advance(bank_code: str, *, end_of_day: bool, today: dt.date, result: TickResult) -> None:
    with transaction.atomic():
        bank = _bank(bank_code, lock=True)
        if bank.business_date is None:
            bank.business_date = today
        closed = 0
        while True:
            day = bank.business_date
            counts = _execute_due(bank, day)
            result.executed += counts["executed"]
            result.rejected_after_acceptance += counts["rejected_after_acceptance"]
            result.returned += _book_returns(bank, day)
            if (day < today or end_of_day) and closed < MAX_CATCH_UP_DAYS:
                result.statements += _close_day(bank, day)
                bank.business_date = day + dt.timedelta(days=1)
                closed += 1
                end_of_day = False
                continue
            break
        bank.save(update_fields=["business_date", "updated_at"])
        result.business_date = bank.business_date.isoformat()


def sandbox_tick(*, bank_code: str | None = None, end_of_day: bool = False,
                 today: dt.date | None = None) -> list[TickResult]:
    """Advance the sandbox banks: take in inbox files, execute due payments (camt.054 each), book returns and
    close business days (one statement per account and day) up to ``today`` — or the current one too with
    ``end_of_day``. Safe to run again: each step works on what is still open."""
    today = today or _today()
    codes = [bank_code] if bank_code else list(SandboxBank.objects.values_list("code", flat=True))
    results = []
    for code in codes:
        result = TickResult(bank=code)
        _process_inbox(_bank(code), result)
        _advance(code, end_of_day=end_of_day, today=today, result=result)
        results.append(result)
    return results


# -- seeded credits and returns ---------------------------------------------------------------------------------

@transaction.atomic
def sandbox_credit_seed(*, bank_code: str, account: str, amount: str | Decimal, debtor_name: str = "Test Debtor",
                        debtor_account: str = "", remittance: str = "", end_to_end_id: str = "",
                        booking_date: dt.date | None = None) -> SandboxBooking:
    """An incoming credit to a sandbox account; it appears on the next statement."""
    bank = _bank(bank_code, lock=True)
    target = _find_account(bank, account)
    if target is None:
        raise NotFound(f"Sandbox bank {bank_code} holds no account {account}.", {"account": account})
    value = Money.of(amount, target.currency).amount
    if value <= 0:
        raise ValidationFailed("A credit amount must be positive.", {"field": "amount"})
    day = booking_date or bank.business_date or _today()
    return _book(target, kind=BookingKind.INCOMING, day=day, amount=value, end_to_end_id=end_to_end_id[:35],
                 counterparty_name=debtor_name[:140], counterparty_account=debtor_account, remittance=remittance[:140])


@transaction.atomic
def sandbox_payment_return(*, payment_id: int, reason: str = "", via: str = "") -> SandboxPayment:
    """Turn an accepted payment into a return.

    Not executed yet: a pain.002 RJCT with ``reason`` now (``via`` ``status_report``, the default then) or, with
    ``via="statement"``, executed as usual and returned the next business day. Executed: a return entry
    (PMNT/ICDT/RRTN, RtrInf/Rsn) on the next business day's statement.
    """
    payment = SandboxPayment.objects.select_for_update().select_related("bank", "message").filter(pk=payment_id).first()
    if payment is None:
        raise NotFound(f"No sandbox payment {payment_id}.")
    bank = _bank(payment.bank.code, lock=True)
    reason = (reason or bank.return_reason).upper()
    if not re.fullmatch(r"[A-Z0-9]{4}", reason):
        raise ValidationFailed(f"{reason!r} is not an ISO reason code (4 letters/digits).", {"field": "reason"})
    if payment.status == PaymentStatus.ACCEPTED and via != ReturnMode.STATEMENT:
        payment.status, payment.reason, payment.return_pending = PaymentStatus.REJECTED, reason, False
        payment.save(update_fields=["status", "reason", "return_pending"])
        _report_later(bank, [payment])
    elif payment.status in (PaymentStatus.ACCEPTED, PaymentStatus.EXECUTED):
        if via == ReturnMode.STATUS_REPORT:
            raise ValidationFailed("An executed payment can only be returned on the statement.", {"field": "via"})
        payment.reason, payment.return_pending = reason, True
        payment.save(update_fields=["reason", "return_pending"])
    else:
        raise ValidationFailed(f"Payment {payment.end_to_end_id} is {payment.status}; it cannot be returned.")
    return payment
