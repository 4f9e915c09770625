"""The sandbox ERPs' writes, shared by both flavours: set-up, master data, payment batches, journals, payment
status updates, faults. The legacy flavour's file exchange is in :mod:`apps.sandbox.erp_files`.

The sandbox is the outside world: it knows nothing of the hub's tables and is reached only over HTTP or files.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from apps.core.errors import NotFound, ValidationFailed
from apps.core.money import Money, to_decimal, validate_currency
from apps.sandbox import auth, faults
from apps.sandbox.models import (
    BatchStatus,
    Channel,
    ErpFlavour,
    JournalStatus,
    PeriodStatus,
    SandboxCategoryAccount,
    SandboxCostCentre,
    SandboxEmployee,
    SandboxErp,
    SandboxErpEntity,
    SandboxErpPaymentBatch,
    SandboxFxRate,
    SandboxGlAccount,
    SandboxJournal,
    SandboxPaymentStatusUpdate,
    SandboxPeriod,
    SandboxTaxCode,
)
from apps.sandbox.services import sandbox_root

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


# -- lookups ------------------------------------------------------------------------------------------------------

def erp_get(code: str, *, lock: bool = False) -> SandboxErp:
    qs = SandboxErp.objects.select_for_update() if lock else SandboxErp.objects
    erp = qs.filter(code=code).first()
    if erp is None:
        raise NotFound(f"No sandbox ERP {code!r}.", {"erp": code})
    return erp


def erp_entity(erp: SandboxErp, code: str) -> SandboxErpEntity:
    entity = erp.entities.filter(code=code).first()
    if entity is None:
        raise ValidationFailed(f"Entity {code!r} is not kept in ERP {erp.code}.", {"field": "entity"})
    return entity


def erp_dir(erp: SandboxErp) -> Path:
    return Path(erp.file_root) if erp.file_root else sandbox_root() / erp.code


def _files_later(erp: SandboxErp, fn, *args) -> None:
    """Legacy ERPs rewrite their export files once the change is committed."""
    if erp.is_legacy:
        from apps.sandbox import erp_files

        transaction.on_commit(lambda: getattr(erp_files, fn)(*args))


# -- set-up -------------------------------------------------------------------------------------------------------

@transaction.atomic
def sandbox_erp_ensure(*, code: str, name: str, flavour: str = ErpFlavour.CLOUD, api_key: str | None = None,
                       client_id: str | None = None, client_secret: str | None = None,
                       file_root: str | None = None) -> tuple[SandboxErp, dict[str, str]]:
    """Create the ERP if missing (idempotent); returns it and its credentials (api_key, client_id, client_secret).
    Given credentials replace the stored ones; missing ones are generated once and kept."""
    if flavour not in ErpFlavour.values:
        raise ValidationFailed(f"flavour: {flavour!r} is not one of {', '.join(ErpFlavour.values)}.",
                               {"field": "flavour"})
    erp = SandboxErp.objects.select_for_update().filter(code=code).first()
    if erp is None:
        erp = SandboxErp.objects.create(code=code, name=name, flavour=flavour, file_root=file_root or "")
    else:
        changes = {"name": name, "flavour": flavour, **({"file_root": file_root} if file_root is not None else {})}
        changed = [f for f, v in changes.items() if getattr(erp, f) != v]
        for f in changed:
            setattr(erp, f, changes[f])
        if changed:
            erp.save(update_fields=[*changed, "updated_at"])
    credentials = auth.partner_credentials_ensure(erp, api_key=api_key, client_id=client_id,
                                                  client_secret=client_secret)
    if erp.is_legacy:
        from apps.sandbox import erp_files

        transaction.on_commit(lambda: erp_files.erp_dirs_ensure(erp))
    return erp, credentials


@transaction.atomic
def sandbox_erp_entity_ensure(*, erp_code: str, code: str, name: str, country: str, currency: str,
                              employee_payable_account: str = "", rounding_account: str = "") -> SandboxErpEntity:
    erp = erp_get(erp_code, lock=True)
    values = {"name": name, "country": country.upper(), "currency": validate_currency(currency),
              "employee_payable_account": employee_payable_account, "rounding_account": rounding_account}
    entity, created = SandboxErpEntity.objects.get_or_create(erp=erp, code=code, defaults=values)
    changed = [f for f, v in values.items() if getattr(entity, f) != v]
    if changed:
        for f in changed:
            setattr(entity, f, values[f])
        entity.master_data_changed_at = timezone.now()
        entity.save(update_fields=[*changed, "master_data_changed_at"])
    if created or changed:
        _files_later(erp, "masterdata_write", entity.pk)
    return entity


@transaction.atomic
def sandbox_erp_faults_set(*, erp_code: str, clear: bool = False, **settings: Any) -> SandboxErp:
    """Fault injection, as for the sandbox bank (``apps.sandbox.faults``)."""
    erp = faults.faults_apply(erp_get(erp_code, lock=True), clear=clear, **settings)
    erp.save()
    return erp


# -- master data --------------------------------------------------------------------------------------------------

def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise ValidationFailed(f"{where}: expected text.", {"field": where})
    return str(value).strip()


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y"):
        return True
    if text in ("false", "0", "no", "n"):
        return False
    raise ValidationFailed(f"{where}: expected true or false, got {value!r}.", {"field": where})


def _date(value: Any, where: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{where}: {value!r} is not a date (YYYY-MM-DD).", {"field": where}) from None


def _rate(value: Any, where: str) -> Decimal:
    number = to_decimal(value, field=where)
    if number < 0:
        raise ValidationFailed(f"{where}: {value!r} must not be negative.", {"field": where})
    return number


def _period_bounds(period: str) -> tuple[dt.date, dt.date]:
    year, month = (int(p) for p in period.split("-"))
    start = dt.date(year, month, 1)
    end = (dt.date(year + month // 12, month % 12 + 1, 1)) - dt.timedelta(days=1)
    return start, end


REQUIRED = object()

#: section -> (model, natural key fields, ((input key, model field, parser, default or REQUIRED), ...))
SECTIONS: dict[str, tuple[type[Model], tuple[str, ...], tuple]] = {
    "gl_accounts": (SandboxGlAccount, ("code",), (
        ("code", "code", _text, REQUIRED), ("name", "name", _text, ""), ("active", "active", _bool, True))),
    "cost_centres": (SandboxCostCentre, ("code",), (
        ("code", "code", _text, REQUIRED), ("name", "name", _text, ""), ("active", "active", _bool, True),
        ("valid_from", "valid_from", _date, None), ("valid_to", "valid_to", _date, None))),
    "tax_codes": (SandboxTaxCode, ("code",), (
        ("code", "code", _text, REQUIRED), ("country", "country", _text, REQUIRED), ("rate", "rate", _rate, REQUIRED),
        ("gl_account", "gl_account", _text, ""), ("active", "active", _bool, True))),
    "employees": (SandboxEmployee, ("employee_id",), (
        ("id", "employee_id", _text, REQUIRED), ("name", "name", _text, REQUIRED), ("email", "email", _text, ""),
        ("active", "active", _bool, True), ("iban", "iban", _text, ""), ("bic", "bic", _text, ""),
        ("account_number", "account_number", _text, ""), ("routing", "routing", _text, ""),
        ("currency", "currency", _text, REQUIRED), ("street", "street", _text, ""),
        ("postal_code", "postal_code", _text, ""), ("town", "town", _text, ""), ("country", "country", _text, ""))),
    "periods": (SandboxPeriod, ("period",), (
        ("period", "period", _text, REQUIRED), ("start", "start", _date, None), ("end", "end", _date, None),
        ("status", "status", _text, PeriodStatus.OPEN))),
    "category_accounts": (SandboxCategoryAccount, ("category",), (
        ("category", "category", _text, REQUIRED), ("gl_account", "gl_account", _text, REQUIRED))),
    "fx_rates": (SandboxFxRate, ("date", "base", "quote"), (
        ("date", "date", _date, REQUIRED), ("base", "base", _text, REQUIRED), ("quote", "quote", _text, REQUIRED),
        ("rate", "rate", _rate, REQUIRED))),
}


def _row(section: str, index: int, item: Any) -> dict[str, Any]:
    where = f"{section}[{index}]"
    if not isinstance(item, dict):
        raise ValidationFailed(f"{where}: expected a mapping.", {"field": where})
    _model, _key, fields = SECTIONS[section]
    values: dict[str, Any] = {}
    for key, field, parse, default in fields:
        raw = item.get(key)
        if raw in (None, ""):
            if default is REQUIRED:
                raise ValidationFailed(f"{where}.{key}: required.", {"field": f"{where}.{key}"})
            values[field] = default
        else:
            values[field] = parse(raw, f"{where}.{key}")
    if section == "periods":
        if not PERIOD.match(values["period"]):
            raise ValidationFailed(f"{where}.period: {values['period']!r} is not YYYY-MM.", {"field": f"{where}.period"})
        start, end = _period_bounds(values["period"])
        values["start"], values["end"] = values["start"] or start, values["end"] or end
        if values["status"] not in PeriodStatus.values:
            raise ValidationFailed(f"{where}.status: expected open or closed.", {"field": f"{where}.status"})
    if section in ("employees",):
        values["currency"] = validate_currency(values["currency"], field=f"{where}.currency")
    if section == "fx_rates":
        for f in ("base", "quote"):
            values[f] = validate_currency(values[f], field=f"{where}.{f}")
        if values["rate"] <= 0:
            raise ValidationFailed(f"{where}.rate: must be positive.", {"field": f"{where}.rate"})
    if section == "tax_codes" and values["rate"] > 100:
        raise ValidationFailed(f"{where}.rate: a percentage, at most 100.", {"field": f"{where}.rate"})
    return values


@transaction.atomic
def sandbox_erp_master_data_load(*, erp_code: str, entity_code: str, data: dict) -> dict[str, int]:
    """Upsert an entity's master data by natural key. ``data`` has the sections of finops.master_data.v1
    (``gl_accounts``, ``cost_centres``, ``tax_codes``, ``employees``, ``periods``, ``category_accounts``,
    ``fx_rates``; ``accounts``: ``employee_payable``, ``rounding``). Returns rows created or changed per section."""
    erp = erp_get(erp_code, lock=True)
    entity = erp_entity(erp, entity_code)
    unknown = set(data) - set(SECTIONS) - {"accounts", "schema", "entity", "as_of"}
    if unknown:
        raise ValidationFailed(f"Unknown master data section(s): {', '.join(sorted(unknown))}.",
                               {"fields": sorted(unknown)})
    counts: dict[str, int] = {}
    for section, (model, key, _fields) in SECTIONS.items():
        items = data.get(section) or []
        if not isinstance(items, list):
            raise ValidationFailed(f"{section}: expected a list.", {"field": section})
        changed = 0
        for index, item in enumerate(items):
            values = _row(section, index, item)
            lookup = {k: values.pop(k) for k in key}
            row = model.objects.filter(entity=entity, **lookup).first()
            if row is None:
                model.objects.create(entity=entity, **lookup, **values)
                changed += 1
                continue
            diff = [f for f, v in values.items() if getattr(row, f) != v]
            if diff:
                for f in diff:
                    setattr(row, f, values[f])
                row.save(update_fields=diff)
                changed += 1
        counts[section] = changed
    accounts = data.get("accounts") or {}
    account_fields = {"employee_payable": "employee_payable_account", "rounding": "rounding_account"}
    diff = [account_fields[k] for k, v in accounts.items()
            if k in account_fields and getattr(entity, account_fields[k]) != str(v)]
    for k, v in accounts.items():
        if k in account_fields:
            setattr(entity, account_fields[k], str(v))
    counts["accounts"] = len(diff)
    if any(counts.values()):
        entity.master_data_changed_at = timezone.now()
        entity.save(update_fields=[*diff, "master_data_changed_at"])
        _files_later(erp, "masterdata_write", entity.pk)
    return counts


def _touch(entity: SandboxErpEntity) -> None:
    entity.master_data_changed_at = timezone.now()
    entity.save(update_fields=["master_data_changed_at"])
    _files_later(entity.erp, "masterdata_write", entity.pk)


@transaction.atomic
def sandbox_cost_centre_set_active(*, erp_code: str, entity_code: str, code: str, active: bool,
                                   valid_to: dt.date | None | str = "keep") -> SandboxCostCentre:
    """Deactivate (or reactivate) a cost centre: journals using an inactive one are rejected. ``valid_to`` (a date,
    or None for open-ended) also moves the end of its validity, as a controller reopening it would."""
    entity = erp_entity(erp_get(erp_code, lock=True), entity_code)
    centre = entity.cost_centres.filter(code=code).first()
    if centre is None:
        raise NotFound(f"No cost centre {code!r} in {erp_code}:{entity_code}.", {"field": "code"})
    changed = []
    if centre.active != active:
        centre.active = active
        changed.append("active")
    if valid_to != "keep" and centre.valid_to != valid_to:
        centre.valid_to = valid_to
        changed.append("valid_to")
    if changed:
        centre.save(update_fields=changed)
        _touch(entity)
    return centre


@transaction.atomic
def sandbox_period_set_status(*, erp_code: str, entity_code: str, period: str, status: str) -> SandboxPeriod:
    """Close (or open) an accounting period; a missing period is created with that status."""
    entity = erp_entity(erp_get(erp_code, lock=True), entity_code)
    if not PERIOD.match(period):
        raise ValidationFailed(f"period: {period!r} is not YYYY-MM.", {"field": "period"})
    if status not in PeriodStatus.values:
        raise ValidationFailed("status: expected open or closed.", {"field": "status"})
    start, end = _period_bounds(period)
    row, created = SandboxPeriod.objects.get_or_create(entity=entity, period=period,
                                                       defaults={"start": start, "end": end, "status": status})
    changed = not created and row.status != status
    if changed:
        row.status = status
        row.save(update_fields=["status"])
    if created or changed:
        _touch(entity)
    return row


# -- payment batches ----------------------------------------------------------------------------------------------

def _batch_payload(erp: SandboxErp, index: int, batch: Any) -> tuple[SandboxErpEntity, dict, Money]:
    where = f"batches[{index}]"
    if not isinstance(batch, dict):
        raise ValidationFailed(f"{where}: expected a mapping.", {"field": where})
    payload = {k: copy.deepcopy(v) for k, v in batch.items() if k != "schema"}
    for key in ("entity", "debtor_account", "requested_execution_date", "erp_reference"):
        if not str(payload.get(key) or "").strip():
            raise ValidationFailed(f"{where}.{key}: required.", {"field": f"{where}.{key}"})
    entity = erp_entity(erp, str(payload["entity"]))
    _date(payload["requested_execution_date"], f"{where}.requested_execution_date")
    instructions = payload.get("instructions")
    if not isinstance(instructions, list) or not instructions:
        raise ValidationFailed(f"{where}.instructions: at least one instruction.", {"field": f"{where}.instructions"})
    total: Money | None = None
    for i, instruction in enumerate(instructions):
        at = f"{where}.instructions[{i}]"
        if not isinstance(instruction, dict) or not isinstance(instruction.get("creditor"), dict):
            raise ValidationFailed(f"{at}: expected a mapping with a creditor.", {"field": at})
        if not str(instruction.get("end_to_end_id") or "").strip():
            raise ValidationFailed(f"{at}.end_to_end_id: required.", {"field": f"{at}.end_to_end_id"})
        currency = validate_currency(str(instruction.get("currency") or ""), field=f"{at}.currency")
        amount = Money.of(instruction.get("amount"), currency, field=f"{at}.amount")
        if amount.amount <= 0:
            raise ValidationFailed(f"{at}.amount: must be positive.", {"field": f"{at}.amount"})
        if total is not None and total.currency != currency:
            raise ValidationFailed(f"{at}.currency: one currency per payment batch ({total.currency}).",
                                   {"field": f"{at}.currency"})
        total = amount if total is None else Money(total.amount + amount.amount, currency)
        instruction["amount"] = str(amount.amount)
    return entity, payload, total


@transaction.atomic
def sandbox_erp_batches_queue(*, erp_code: str, batches: list[dict]) -> list[SandboxErpPaymentBatch]:
    """One payment run: batches (finops.payment_batch.v1 shape) the ERP wants paid, status ``ready``. A cloud ERP
    lists them at ``payment-batches?status=ready``; a legacy ERP writes them, once committed, as ONE CSV file into
    ``export/payments/``. An ``erp_reference`` already queued is refused."""
    erp = erp_get(erp_code, lock=True)
    created = []
    for index, batch in enumerate(batches):
        entity, payload, total = _batch_payload(erp, index, batch)
        reference = str(payload["erp_reference"])
        if erp.payment_batches.filter(reference=reference).exists():
            raise ValidationFailed(f"batches[{index}].erp_reference: {reference} is queued already.",
                                   {"field": f"batches[{index}].erp_reference"})
        created.append(SandboxErpPaymentBatch.objects.create(
            erp=erp, entity=entity, reference=reference, payload=payload, total=total.amount,
            currency=total.currency))
    if created:
        _files_later(erp, "payment_run_export", erp.code)
    return created


@transaction.atomic
def sandbox_erp_batch_pick_up(*, erp_code: str, batch_id: int) -> SandboxErpPaymentBatch:
    """The hub took the batch (cloud: ``POST payment-batches/<id>/ack``). Repeating it changes nothing."""
    erp = erp_get(erp_code)
    batch = SandboxErpPaymentBatch.objects.select_for_update().filter(erp=erp, pk=batch_id).first()
    if batch is None:
        raise NotFound(f"No payment batch {batch_id} at ERP {erp_code}.")
    if batch.status != BatchStatus.PICKED_UP:
        batch.status, batch.picked_up_at = BatchStatus.PICKED_UP, timezone.now()
        batch.save(update_fields=["status", "picked_up_at"])
    return batch


# -- journals -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JournalError:
    code: str
    message: str
    field: str = ""
    period: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "field": self.field, "period": self.period}


class JournalRejected(Exception):
    def __init__(self, error: JournalError):
        super().__init__(error.message)
        self.error = error


@dataclass
class JournalOutcome:
    journal: SandboxJournal
    already_posted: bool = False

    @property
    def posted(self) -> bool:
        return self.journal.status == JournalStatus.POSTED


def _invalid(message: str, field: str, period: str) -> JournalRejected:
    return JournalRejected(JournalError("invalid", message, field, period))


def _amount(value: Any, where: str, period: str, currency: str) -> Decimal:
    try:
        amount = Money.of("0" if value in (None, "") else value, currency, field=where).amount
    except ValidationFailed as exc:
        raise _invalid(exc.message, where, period) from None
    if amount < 0:
        raise _invalid(f"{where}: must not be negative.", where, period)
    return amount


def _check_journal(erp: SandboxErp, data: dict) -> tuple[SandboxErpEntity, dt.date, str, Decimal]:
    """Validate a journal against the ERP's master data; raises JournalRejected with the first problem."""
    period = str(data.get("period") or "").strip()
    entity = erp.entities.filter(code=str(data.get("entity") or "")).first()
    if entity is None:
        raise _invalid(f"Company {data.get('entity')!r} is not kept in this ERP.", "entity", period)
    try:
        posting_date = dt.date.fromisoformat(str(data.get("posting_date") or ""))
    except ValueError:
        raise _invalid(f"posting_date: {data.get('posting_date')!r} is not a date (YYYY-MM-DD).", "posting_date",
                       period) from None
    if not PERIOD.match(period):
        raise _invalid(f"period: {period!r} is not YYYY-MM.", "period", period)
    currency = str(data.get("currency") or "")
    try:
        validate_currency(currency)
    except ValidationFailed as exc:
        raise _invalid(exc.message, "currency", period) from None
    lines = data.get("lines")
    if not isinstance(lines, list) or len(lines) < 2:
        raise _invalid("A journal needs at least two lines.", "lines", period)
    open_period = entity.periods.filter(period=period).first()
    if open_period is None or open_period.status != PeriodStatus.OPEN:
        state = "not defined" if open_period is None else "closed"
        raise JournalRejected(JournalError(
            "period_closed", f"Posting period {period} of {entity.code} is {state}; post into an open period.",
            "period", period))
    if not open_period.start <= posting_date <= open_period.end:
        raise _invalid(f"posting_date {posting_date} is outside period {period} ({open_period.start} to "
                       f"{open_period.end}).", "posting_date", period)
    debit = credit = Decimal(0)
    for i, line in enumerate(lines):
        at = f"lines[{i}]"
        if not isinstance(line, dict):
            raise _invalid(f"{at}: expected a mapping.", at, period)
        d = _amount(line.get("debit"), f"{at}.debit", period, currency)
        c = _amount(line.get("credit"), f"{at}.credit", period, currency)
        if (d > 0) == (c > 0):
            raise _invalid(f"{at}: exactly one of debit and credit must be above zero.", f"{at}.debit", period)
        _amount(line.get("tax_amount"), f"{at}.tax_amount", period, currency)
        debit, credit = debit + d, credit + c
        account = str(line.get("account") or "")
        gl = entity.gl_accounts.filter(code=account).first()
        if gl is None or not gl.active:
            why = "does not exist" if gl is None else "is blocked for posting"
            raise JournalRejected(JournalError("unknown_account", f"{at}: G/L account {account!r} of {entity.code} "
                                                                  f"{why}.", f"{at}.account", period))
        centre_code = str(line.get("cost_centre") or "")
        if centre_code:
            centre = entity.cost_centres.filter(code=centre_code).first()
            if centre is None:
                raise JournalRejected(JournalError(
                    "unknown_cost_centre", f"{at}: cost centre {centre_code!r} does not exist in {entity.code}.",
                    f"{at}.cost_centre", period))
            if not centre.active or not centre.valid_on(posting_date):
                why = "is inactive" if not centre.active else f"is not valid on {posting_date}"
                raise JournalRejected(JournalError(
                    "inactive_cost_centre", f"{at}: cost centre {centre_code} of {entity.code} {why}.",
                    f"{at}.cost_centre", period))
        tax_code = str(line.get("tax_code") or "")
        if tax_code:
            tax = entity.tax_codes.filter(code=tax_code).first()
            if tax is None or not tax.active:
                why = "does not exist" if tax is None else "is inactive"
                raise JournalRejected(JournalError(
                    "unknown_tax_code", f"{at}: tax code {tax_code!r} of {entity.code} {why}.", f"{at}.tax_code",
                    period))
    if debit != credit:
        raise JournalRejected(JournalError(
            "unbalanced", f"Debits {debit} and credits {credit} {currency} differ by {abs(debit - credit)}.",
            "lines", period))
    return entity, posting_date, currency, debit


@transaction.atomic
def sandbox_journal_receive(*, erp_code: str, data: dict, channel: str = Channel.REST) -> JournalOutcome:
    """Post a journal (normalised: ``external_reference``, ``entity``, ``posting_date``, ``period``, ``currency``,
    ``description``, ``source``, ``lines`` of ``account``, ``cost_centre``, ``debit``, ``credit``, ``tax_code``,
    ``tax_amount``, ``text``).

    The same external reference posted before answers with its document number (``already_posted``) and changes
    nothing; a rejected one is validated again. A rejection is recorded with its error and returned, not raised.
    """
    erp = erp_get(erp_code, lock=True)  # one posting at a time per ERP: numbers and references stay unique
    reference = str(data.get("external_reference") or "").strip()
    if not reference or len(reference) > 100:
        raise ValidationFailed("external_reference: required (at most 100 characters).",
                               {"field": "external_reference"})
    journal = SandboxJournal.objects.filter(erp=erp, external_reference=reference).first()
    if journal is not None and journal.status == JournalStatus.POSTED:
        return JournalOutcome(journal, already_posted=True)
    if journal is None:
        journal = SandboxJournal(erp=erp, external_reference=reference, attempts=0)
    journal.payload, journal.channel, journal.attempts = data, channel, journal.attempts + 1
    journal.period = str(data.get("period") or "")[:7]
    try:
        entity, posting_date, currency, total = _check_journal(erp, data)
    except JournalRejected as rejected:
        journal.status, journal.error = JournalStatus.REJECTED, rejected.error.as_dict()
        journal.entity = erp.entities.filter(code=str(data.get("entity") or "")).first()
        journal.save()
        return JournalOutcome(journal)
    erp.journal_seq += 1
    erp.save(update_fields=["journal_seq", "updated_at"])
    prefix = "GL" if erp.is_legacy else "JE"
    journal.document_number = f"{prefix}-{posting_date.year}-{erp.journal_seq:06d}"
    journal.status, journal.error, journal.entity = JournalStatus.POSTED, {}, entity
    journal.posting_date, journal.currency, journal.total_debit = posting_date, currency, total
    journal.save()
    return JournalOutcome(journal)


# -- payment status ----------------------------------------------------------------------------------------------

@transaction.atomic
def sandbox_payment_status_receive(*, erp_code: str, data: dict,
                                   channel: str = Channel.REST) -> tuple[SandboxPaymentStatusUpdate, bool]:
    """Take a payment status update (``event_id``, ``company``, ``payment_run``, ``hub_batch_id``, ``run_status``,
    ``occurred_at``, ``items``). Deduplicated by event id: returns ``(update, created)``."""
    erp = erp_get(erp_code, lock=True)
    event_id = str(data.get("event_id") or "").strip()
    if not event_id or len(event_id) > 100:
        raise ValidationFailed("event_id: required (at most 100 characters).", {"field": "event_id"})
    existing = SandboxPaymentStatusUpdate.objects.filter(erp=erp, event_id=event_id).first()
    if existing is not None:
        return existing, False
    if data.get("company"):
        erp_entity(erp, str(data["company"]))
    reference = str(data.get("payment_run") or "")[:100]
    status = str(data.get("run_status") or "")[:30]
    update = SandboxPaymentStatusUpdate.objects.create(erp=erp, event_id=event_id, batch_reference=reference,
                                                       status=status, payload=data, channel=channel)
    batch = erp.payment_batches.filter(reference=reference).first() if reference else None
    if batch is not None and status:
        batch.last_status = status
        batch.save(update_fields=["last_status"])
    return update, True
