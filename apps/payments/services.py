"""Payments out: intake, validation and policy checks, approvals (maker-checker, bound to the batch's content).

One function per transition, each in a transaction, recorded in history, emitted as an event. Transmission to the
bank (pain.001 / NACHA through the bank channel) and status back (pain.002) build on these states.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from rapidfuzz import fuzz, utils

from apps.core.audit import audited_save
from apps.core.bulk import bulk_create_audited
from apps.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.core.events import event_emit
from apps.core.roles import user_roles
from apps.core.services import document_store
from apps.exceptions.selectors import case_for_subject
from apps.exceptions.services import case_open, case_resolve
from apps.org.models import BankAccount, Counterparty, LegalEntity
from apps.org.selectors import can_access_entity, fx_convert
from apps.payments.models import (
    BATCH_TRANSITIONS,
    INSTRUCTION_TRANSITIONS,
    Approval,
    ApprovalRule,
    BatchStatus,
    DenylistEntry,
    FlagKind,
    InstructionStatus,
    PaymentBatch,
    PaymentFlag,
    PaymentInstruction,
)
from apps.payments.profiles import bank_profile_check
from apps.payments.validation import (
    Problems,
    check_amount,
    check_bic,
    check_iban,
    is_business_day,
    next_business_day,
    sepa_text,
)

DUPLICATE_WINDOW_DAYS = 30
BANK_DETAILS_RECENT_DAYS = 14
DENYLIST_SCORE = 88  # rapidfuzz token-sort ratio from which a name counts as a hit
MAX_INSTRUCTIONS = 100_000


# --- intake ------------------------------------------------------------------------------------------------------

def _resolve_debtor(entity: LegalEntity, value: str, problems: Problems) -> BankAccount | None:
    value = (value or "").replace(" ", "").upper()
    qs = BankAccount.objects.select_related("bank").filter(entity=entity)
    account = qs.filter(iban=value).first() or (qs.filter(pk=int(value)).first() if value.isdigit() else None)
    if account is None:
        account = qs.filter(iban__isnull=True, account_number=value).first()
    if account is None:
        problems.add("debtor_account", f"{value!r} is not a bank account of {entity.code}.")
    elif not account.active:
        problems.add("debtor_account", f"{account} is not active.")
    return account


def _canonical(batch_fields: dict, instructions: list[dict]) -> str:
    """SHA-256 of what an approver approves: debtor, date and every instruction's money-relevant fields."""
    keys = ["end_to_end_id", "amount", "currency", "creditor_name", "creditor_iban", "creditor_account_number",
            "creditor_routing", "creditor_bic", "remittance_information", "status"]
    body = {
        "debtor_account": batch_fields["debtor_account"],
        "requested_execution_date": str(batch_fields["requested_execution_date"]),
        "instructions": [{k: str(i[k]) for k in keys} for i in instructions],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _instruction_snapshot(instruction: PaymentInstruction) -> dict:
    return {
        "end_to_end_id": instruction.end_to_end_id, "amount": instruction.amount, "currency": instruction.currency,
        "creditor_name": instruction.creditor_name, "creditor_iban": instruction.creditor_iban,
        "creditor_account_number": instruction.creditor_account_number,
        "creditor_routing": instruction.creditor_routing, "creditor_bic": instruction.creditor_bic,
        "remittance_information": instruction.remittance_information, "status": instruction.status,
    }


def batch_content_hash(batch: PaymentBatch) -> str:
    instructions = [_instruction_snapshot(i) for i in batch.instructions.exclude(status=InstructionStatus.CANCELLED)]
    return _canonical({"debtor_account": batch.debtor_account_id,
                       "requested_execution_date": batch.requested_execution_date}, instructions)


def payment_batch_receive(*, data: dict, source: str = "api", actor=None, raw: bytes | None = None) -> PaymentBatch:
    """Take an approved batch from the ERP: validate every instruction, apply policy checks, and put it in front
    of the approvers. Invalid input is refused whole with every problem named (nothing is half-stored);
    suspicious but valid instructions are held with a flag and an exception case."""
    if actor is not None and not actor.has_perm("payments.add_paymentbatch"):
        raise PermissionDenied("Your role may not submit payment batches.")
    problems = Problems()
    entity = LegalEntity.objects.filter(code=data["entity"], active=True).first()
    if entity is None or (actor is not None and not can_access_entity(user=actor, entity_id=entity.pk)):
        raise ValidationFailed(f"entity: no active legal entity {data['entity']!r} you may use.", {"field": "entity"})
    debtor = _resolve_debtor(entity, data["debtor_account"], problems)
    execution = data["requested_execution_date"]
    instructions = data["instructions"]
    if not instructions:
        problems.add("instructions", "a batch needs at least one instruction.")
    if len(instructions) > MAX_INSTRUCTIONS:
        problems.add("instructions", f"at most {MAX_INSTRUCTIONS} instructions per batch.")
    currency = debtor.currency if debtor else None
    if currency and execution < timezone.localdate():
        problems.add("requested_execution_date", f"{execution} is in the past.")
    elif currency and not is_business_day(execution, currency):
        problems.add("requested_execution_date",
                     f"{execution} is not a business day for {currency}; the next one is "
                     f"{next_business_day(execution, currency)}.")
    rows, seen_e2e, notes = [], set(), []
    for n, item in enumerate(instructions):
        where = f"instructions[{n}]"
        creditor = item["creditor"]
        if item["currency"] != currency and currency:
            problems.add(f"{where}.currency", f"{item['currency']} cannot be paid from {debtor} ({currency}).")
        amount = check_amount(item["amount"], item["currency"], f"{where}.amount", problems)
        if item["end_to_end_id"] in seen_e2e:
            problems.add(f"{where}.end_to_end_id", f"{item['end_to_end_id']!r} appears twice in this batch.")
        seen_e2e.add(item["end_to_end_id"])
        iban, derived_bic = creditor.get("iban") or "", ""
        if iban:
            iban, derived_bic = check_iban(iban, f"{where}.creditor.iban", problems)
        elif not creditor.get("account_number"):
            problems.add(f"{where}.creditor", "give an iban, or an account_number with its routing code.")
        bic = creditor.get("bic") or ""
        bic = check_bic(bic, f"{where}.creditor.bic", problems) if bic else derived_bic
        name, remittance = creditor["name"], item.get("remittance_information") or ""
        if currency == "EUR":  # SEPA: basic Latin only; transliterate and say so
            name, changed_name = sepa_text(name)
            remittance, changed_text = sepa_text(remittance)
            if changed_name or changed_text:
                notes.append((n, "creditor.name" if changed_name else "remittance_information",
                              f"Characters outside the SEPA set were replaced: {creditor['name']!r} / "
                              f"{item.get('remittance_information') or ''!r} -> {name!r} / {remittance!r}."))
        rows.append({
            "position": n, "end_to_end_id": item["end_to_end_id"], "amount": amount, "currency": item["currency"],
            "creditor_name": name[:140], "creditor_iban": iban if creditor.get("iban") else "",
            "creditor_account_number": creditor.get("account_number") or "",
            "creditor_routing": creditor.get("routing") or "", "creditor_bic": bic,
            "creditor_address": creditor.get("address") or {}, "counterparty_ref": creditor.get("counterparty_ref")
            or "", "remittance_information": remittance[:140], "purpose": item.get("purpose") or "",
            "erp_reference": item.get("erp_reference") or "", "status": InstructionStatus.READY,
        })
    if debtor is not None and currency:
        bank_profile_check(bank=debtor.bank, execution=execution, currency=currency, rows=rows, problems=problems)
    if PaymentBatch.objects.filter(entity=entity, erp_reference=data["erp_reference"]).exists():
        problems.add("erp_reference", f"batch {data['erp_reference']!r} of {entity.code} was received before.")
    problems.raise_if_any()
    return _store_batch(entity, debtor, data, rows, notes, source, actor, raw)


@transaction.atomic
def _store_batch(entity, debtor, data, rows, notes, source, actor, raw) -> PaymentBatch:
    document = None
    if raw is not None:
        document, _ = document_store(content=raw, source=f"erp:{source}", media_type="application/json",
                                     filename=f"payment-batch-{data['erp_reference']}.json", actor=actor)
    total = sum((r["amount"] for r in rows), Decimal(0))
    batch = PaymentBatch(
        entity=entity, debtor_account=debtor, requested_execution_date=data["requested_execution_date"],
        erp_reference=data["erp_reference"], source=source, currency=debtor.currency, total_amount=total,
        instruction_count=len(rows), raw_document=document, created_by=actor if getattr(actor, "pk", None) else None,
        content_sha256="",
    )
    required, roles, applied = _approval_requirement(entity, total, debtor.currency, source)
    batch.required_approvals, batch.required_roles, batch.approval_rules = required, roles, applied
    audited_save(batch, actor=actor, reason=f"received from {source}")
    counterparties = {c.code: c for c in Counterparty.objects.filter(
        entity=entity, code__in=[r["counterparty_ref"] for r in rows if r["counterparty_ref"]])}
    instructions = [PaymentInstruction(batch=batch, counterparty=counterparties.get(row["counterparty_ref"]), **row)
                    for row in rows]
    instructions = bulk_create_audited(PaymentInstruction, instructions, actor=actor, reason="received")
    for position, field, message in notes:
        PaymentFlag.objects.create(instruction=instructions[position], kind=FlagKind.TRANSLITERATED, field=field,
                                   message=message, holds=False)
    _policy_checks(batch, instructions, actor)
    batch.content_sha256 = _canonical(
        {"debtor_account": batch.debtor_account_id, "requested_execution_date": batch.requested_execution_date},
        [_instruction_snapshot(i) for i in instructions])
    batch.save(update_fields=["content_sha256"])
    event_emit("payment_batch.received", batch, _payload(batch), actor=actor)
    BATCH_TRANSITIONS.move(batch, to=BatchStatus.VALIDATED, actor=actor, reason="validated")
    BATCH_TRANSITIONS.move(batch, to=BatchStatus.PENDING_APPROVAL, actor=actor,
                           reason=f"needs {batch.required_approvals} approval(s)")
    event_emit("payment_batch.pending_approval", batch, _payload(batch), actor=actor)
    return batch


def _payload(batch: PaymentBatch, **extra) -> dict:
    return {"batch_id": batch.pk, "entity": batch.entity.code, "erp_reference": batch.erp_reference,
            "status": batch.status, "total_amount": str(batch.total_amount), "currency": batch.currency,
            "instructions": batch.instruction_count, **extra}


# --- policy checks -------------------------------------------------------------------------------------------------

def _hold(instruction: PaymentInstruction, kind: str, field: str, message: str, actor) -> None:
    PaymentFlag.objects.create(instruction=instruction, kind=kind, field=field, message=message, holds=True)
    if instruction.status != InstructionStatus.HELD:
        INSTRUCTION_TRANSITIONS.move(instruction, to=InstructionStatus.HELD, actor=actor, reason=f"held: {kind}")
    case_open(
        kind="payment.flagged", subject=instruction, legal_entity=instruction.batch.entity, reason_code=kind,
        amount=instruction.amount, currency=instruction.currency, actor=actor,
        message=f"Batch {instruction.batch.erp_reference}, instruction {instruction.end_to_end_id} "
        f"({instruction.amount} {instruction.currency} to {instruction.creditor_name}): {message}",
    )


def _policy_checks(batch: PaymentBatch, instructions: list[PaymentInstruction], actor) -> None:
    """Duplicates, changed bank details and denylist hits, with a handful of set-based queries per batch."""
    since = timezone.now() - timedelta(days=DUPLICATE_WINDOW_DAYS)
    accounts = {i.creditor_iban or i.creditor_account_number for i in instructions}
    earlier: dict[tuple, PaymentInstruction] = {}
    for other in (PaymentInstruction.objects.filter(Q(creditor_iban__in=accounts) |
                                                    Q(creditor_account_number__in=accounts), created_at__gte=since)
                  .exclude(batch=batch).exclude(status__in=[InstructionStatus.CANCELLED, InstructionStatus.REJECTED])
                  .exclude(batch__status__in=[BatchStatus.CANCELLED, BatchStatus.REJECTED]).select_related("batch")
                  .order_by("created_at")):
        key = (other.creditor_iban or other.creditor_account_number, other.amount, other.currency,
               other.remittance_information)
        earlier.setdefault(key, other)
    counterparty_ids = {i.counterparty_id for i in instructions if i.counterparty_id}
    last_paid: dict[int, str] = {}
    for cp_id, iban, number in (PaymentInstruction.objects.filter(counterparty_id__in=counterparty_ids)
                                .exclude(batch=batch).exclude(status=InstructionStatus.CANCELLED)
                                .order_by("counterparty_id", "-created_at")
                                .values_list("counterparty_id", "creditor_iban", "creditor_account_number")):
        last_paid.setdefault(cp_id, iban or number)
    denylist = list(DenylistEntry.objects.filter(active=True))
    recent_since = timezone.now() - timedelta(days=BANK_DETAILS_RECENT_DAYS)
    for instruction in instructions:
        account = instruction.creditor_iban or instruction.creditor_account_number
        duplicate = earlier.get((account, instruction.amount, instruction.currency,
                                 instruction.remittance_information))
        if duplicate is not None:
            _hold(instruction, FlagKind.DUPLICATE, "remittance_information",
                  f"same creditor account, amount and reference as {duplicate.end_to_end_id} in batch "
                  f"{duplicate.batch.erp_reference} ({duplicate.created_at:%Y-%m-%d}). Cancel it if it is a "
                  "duplicate, or clear the flag.", actor)
        counterparty = instruction.counterparty
        if counterparty is not None:
            known = counterparty.iban or counterparty.account_number
            paid_before = last_paid.get(counterparty.pk)
            changed = counterparty.bank_details_changed_at  # stamped at creation, and at every change after it
            recent = bool(changed and changed > recent_since and changed > counterparty.created_at + timedelta(seconds=1))
            if (known and account != known) or (paid_before and paid_before != account) or recent:
                _hold(instruction, FlagKind.BANK_DETAILS_CHANGED, "creditor.iban",
                      f"the creditor account {account} differs from the one on file ({known or '—'}) or last paid "
                      f"({paid_before or '—'}), or was changed recently. Confirm it with {counterparty.name} by "
                      "phone; treasury must clear this flag.", actor)
        for entry in denylist:
            hit = (entry.account and entry.account.replace(" ", "").upper() == account.upper()) or (
                entry.name and fuzz.token_sort_ratio(entry.name, instruction.creditor_name,
                                                     processor=utils.default_process) >= DENYLIST_SCORE)
            if hit:
                _hold(instruction, FlagKind.DENYLIST, "creditor.name",
                      f"{instruction.creditor_name} / {account} matches the denylist entry {entry} "
                      f"({entry.reason or 'no reason given'}). Review before releasing.", actor)
                break


def _approval_requirement(entity: LegalEntity, total: Decimal, currency: str, source: str):
    """Rules that match chain in sequence. Amounts compare in the entity's base currency, converted with the stored
    rate of the day; without a rate every amount rule applies (the safe side), and the batch says so."""
    rules = ApprovalRule.objects.filter(entity=entity, active=True).order_by("min_amount")
    base_total = fx_convert(amount=total, from_currency=currency, to_currency=entity.base_currency,
                            day=timezone.localdate())
    required, roles, applied = 1, set(), []
    if base_total is None:
        applied.append({"fx": f"no {currency}/{entity.base_currency} rate of the day: every amount rule applies"})
    for rule in rules:
        if rule.sources and source not in rule.sources:
            continue
        if rule.changed_bank_details:
            continue  # raised at approval time when a batch has changed bank details
        if base_total is not None and base_total < rule.min_amount:
            continue
        required = max(required, rule.approvers)
        roles.update(rule.roles)
        applied.append({"rule": rule.name, "version": rule.version, "approvers": rule.approvers})
    return required, sorted(roles), applied


# --- approvals ---------------------------------------------------------------------------------------------------

def _lock_batch(batch_id: int, actor) -> PaymentBatch:
    batch = PaymentBatch.objects.select_for_update().select_related("entity", "debtor_account").filter(
        pk=batch_id).first()
    if batch is None or (actor is not None and not can_access_entity(user=actor, entity_id=batch.entity_id)):
        raise NotFound(f"Payment batch {batch_id} does not exist.")
    return batch


@transaction.atomic
def payment_batch_approve(*, batch_id: int, actor) -> PaymentBatch:
    """Approve the batch as it is now. Maker-checker: its creator or last editor never approves; nobody counts
    twice. The approval is bound to the batch's content hash; enough live approvals release it."""
    batch = _lock_batch(batch_id, actor)
    if not actor.has_perm("payments.approve_paymentbatch"):
        raise PermissionDenied("Your role may not approve payments.")
    if batch.status != BatchStatus.PENDING_APPROVAL:
        raise Conflict(f"Batch {batch.erp_reference} is {batch.get_status_display().lower()}, not pending approval.")
    if actor.pk in {batch.created_by_id, batch.last_edited_by_id}:
        raise PermissionDenied("You created or last changed this batch: someone else must approve it (maker-checker).")
    if batch.required_roles and not (set(batch.required_roles) & user_roles(actor)) and not actor.is_superuser:
        raise PermissionDenied(f"This batch needs an approver with the role {' or '.join(batch.required_roles)}.")
    held = batch.instructions.filter(status=InstructionStatus.HELD).count()
    if held:
        raise Conflict(f"{held} instruction(s) are held for review: clear or cancel them before approving.")
    # Every change goes through a service that re-hashes the batch and voids earlier approvals, so the stored
    # hash is the content the approver sees; approvals bound to another hash do not count.
    current = batch.content_sha256
    if batch.approvals.filter(approver=actor, voided_at__isnull=True).exists():
        raise Conflict("You have already approved this batch.")
    Approval.objects.create(batch=batch, approver=actor, content_sha256=current)
    live = batch.approvals.filter(voided_at__isnull=True, content_sha256=current).count()
    event_emit("payment_batch.approval_given", batch, _payload(batch, approver=actor.username, approvals=live),
               actor=actor)
    if live >= batch.required_approvals:
        BATCH_TRANSITIONS.move(batch, to=BatchStatus.APPROVED, actor=actor,
                               reason=f"approved by {live} of {batch.required_approvals}")
        event_emit("payment_batch.approved", batch, _payload(batch), actor=actor)
        from apps.payments.tasks import payment_batch_transmit_task

        transaction.on_commit(lambda: payment_batch_transmit_task.delay(batch.pk))
    else:
        audited_save(batch, actor=actor, reason=f"approval {live} of {batch.required_approvals}",
                     update_fields=["status"])
    return batch


@transaction.atomic
def payment_batch_reject(*, batch_id: int, actor, reason: str) -> PaymentBatch:
    batch = _lock_batch(batch_id, actor)
    if not actor.has_perm("payments.approve_paymentbatch"):
        raise PermissionDenied("Your role may not reject payments.")
    BATCH_TRANSITIONS.move(batch, to=BatchStatus.REJECTED, actor=actor, reason=reason)
    event_emit("payment_batch.rejected", batch, _payload(batch, reason=reason), actor=actor)
    return batch


@transaction.atomic
def payment_batch_cancel(*, batch_id: int, actor, reason: str) -> PaymentBatch:
    batch = _lock_batch(batch_id, actor)
    if not (actor.has_perm("payments.change_paymentbatch") or actor.has_perm("payments.approve_paymentbatch")):
        raise PermissionDenied("Your role may not cancel payments.")
    BATCH_TRANSITIONS.move(batch, to=BatchStatus.CANCELLED, actor=actor, reason=reason)
    event_emit("payment_batch.cancelled", batch, _payload(batch, reason=reason), actor=actor)
    return batch


def _void_approvals(batch: PaymentBatch, *, actor, reason: str) -> None:
    voided = batch.approvals.filter(voided_at__isnull=True).update(voided_at=timezone.now(), void_reason=reason[:200])
    batch.content_sha256 = batch_content_hash(batch)
    batch.last_edited_by = actor
    if batch.status == BatchStatus.APPROVED:
        BATCH_TRANSITIONS.move(batch, to=BatchStatus.PENDING_APPROVAL, actor=actor,
                               reason=f"back to approval: {reason}", also=["content_sha256", "last_edited_by"])
    else:
        audited_save(batch, actor=actor, reason=f"{voided} approval(s) voided: {reason}",
                     update_fields=["content_sha256", "last_edited_by"])


@transaction.atomic
def payment_instruction_update(*, instruction_id: int, actor, reason: str, **changes) -> PaymentInstruction:
    """Correct an instruction before transmission. Any edit voids the approvals given so far (they were bound to
    the old content) and makes the editor ineligible to approve."""
    instruction = PaymentInstruction.objects.select_related("batch").get(pk=instruction_id)
    batch = _lock_batch(instruction.batch_id, actor)
    if not actor.has_perm("payments.change_paymentinstruction"):
        raise PermissionDenied("Your role may not change payments.")
    if batch.status not in (BatchStatus.PENDING_APPROVAL, BatchStatus.APPROVED):
        raise Conflict(f"Batch {batch.erp_reference} is {batch.status}; it can no longer be changed.")
    allowed = {"amount", "creditor_name", "creditor_iban", "creditor_bic", "remittance_information"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"{sorted(unknown)[0]}: cannot be changed here.")
    problems = Problems()
    if "creditor_iban" in changes:
        changes["creditor_iban"], _ = check_iban(changes["creditor_iban"], "creditor_iban", problems)
    if "creditor_bic" in changes and changes["creditor_bic"]:
        changes["creditor_bic"] = check_bic(changes["creditor_bic"], "creditor_bic", problems)
    if "amount" in changes:
        changes["amount"] = check_amount(changes["amount"], instruction.currency, "amount", problems)
    problems.raise_if_any()
    for name, value in changes.items():
        setattr(instruction, name, value)
    audited_save(instruction, actor=actor, reason=reason, update_fields=list(changes), require_reason=True)
    totals = batch.instructions.exclude(status=InstructionStatus.CANCELLED).aggregate(total=Sum("amount"))
    batch.total_amount = totals["total"] or Decimal(0)
    batch.save(update_fields=["total_amount", "updated_at"])
    _void_approvals(batch, actor=actor, reason=f"{instruction.end_to_end_id} changed: {reason}")
    event_emit("payment_instruction.changed", instruction,
               {"batch_id": batch.pk, "fields": sorted(changes), "reason": reason}, actor=actor)
    return instruction


@transaction.atomic
def payment_flag_clear(*, flag_id: int, actor, reason: str) -> PaymentFlag:
    """Clear a hold after review. Changed bank details need treasury (the extra approval); the instruction is
    released when no holding flag is left."""
    flag = PaymentFlag.objects.select_related("instruction__batch").get(pk=flag_id)
    batch = _lock_batch(flag.instruction.batch_id, actor)
    if flag.kind == FlagKind.BANK_DETAILS_CHANGED and "treasury" not in user_roles(actor) and not actor.is_superuser:
        raise PermissionDenied("Changed bank details are cleared by treasury after confirming them with the vendor.")
    if not (actor.has_perm("payments.change_paymentinstruction") or actor.has_perm("payments.approve_paymentbatch")):
        raise PermissionDenied("Your role may not clear payment flags.")
    if not (reason or "").strip():
        raise ValidationFailed("reason: say why the flag can be cleared.", {"field": "reason"})
    if flag.cleared_at is not None:
        return flag
    if actor.pk in {batch.created_by_id}:
        raise PermissionDenied("You submitted this batch: someone else must clear its flags.")
    flag.cleared_by, flag.cleared_at = actor, timezone.now()
    flag.save(update_fields=["cleared_by", "cleared_at"])
    instruction = flag.instruction
    if not instruction.flags.filter(holds=True, cleared_at__isnull=True).exists():
        INSTRUCTION_TRANSITIONS.move(instruction, to=InstructionStatus.READY, actor=actor,
                                     reason=f"released: {reason}")
        batch.content_sha256 = batch_content_hash(batch)
        batch.save(update_fields=["content_sha256", "updated_at"])
        case = case_for_subject(subject=instruction, kind="payment.flagged")
        if case is not None:
            case_resolve(case_id=case.pk, actor=None, reason=f"flag cleared by {actor.username}: {reason}")
    event_emit("payment_flag.cleared", instruction, {"batch_id": batch.pk, "flag": flag.kind, "reason": reason},
               actor=actor)
    return flag


# --- after the bank said no -------------------------------------------------------------------------------------

def _rejection_case_close(instruction: PaymentInstruction, note: str) -> None:
    case = case_for_subject(subject=instruction, kind="payment.rejected_by_bank")
    if case is not None:
        case_resolve(case_id=case.pk, actor=None, reason=note)


@transaction.atomic
def payment_instruction_cancel(*, instruction_id: int, actor, reason: str) -> PaymentInstruction:
    """Give up an instruction: before transmission (held or ready), or after the bank rejected or returned it.
    The ERP hears of it through the ``payment_instruction.cancelled`` event."""
    instruction = PaymentInstruction.objects.select_related("batch").get(pk=instruction_id)
    batch = _lock_batch(instruction.batch_id, actor)
    if not (actor.has_perm("payments.change_paymentinstruction") or actor.has_perm("payments.approve_paymentbatch")):
        raise PermissionDenied("Your role may not cancel payments.")
    if instruction.status == InstructionStatus.READY and batch.status not in (
            BatchStatus.PENDING_APPROVAL, BatchStatus.APPROVED):
        raise Conflict(f"{instruction.end_to_end_id} is already with the bank; wait for its answer.")
    INSTRUCTION_TRANSITIONS.move(instruction, to=InstructionStatus.CANCELLED, actor=actor, reason=reason)
    if batch.status in (BatchStatus.PENDING_APPROVAL, BatchStatus.APPROVED):
        totals = batch.instructions.exclude(status=InstructionStatus.CANCELLED).aggregate(total=Sum("amount"))
        batch.total_amount = totals["total"] or Decimal(0)
        batch.save(update_fields=["total_amount", "updated_at"])
        _void_approvals(batch, actor=actor, reason=f"{instruction.end_to_end_id} cancelled: {reason}")
    for name in ("payment.flagged", "payment.rejected_by_bank"):
        case = case_for_subject(subject=instruction, kind=name)
        if case is not None:
            case_resolve(case_id=case.pk, actor=None, reason=f"payment cancelled by {actor.username}: {reason}")
    event_emit("payment_instruction.cancelled", instruction,
               {"batch_id": batch.pk, "erp_reference": batch.erp_reference, "end_to_end_id": instruction.end_to_end_id,
                "instruction_erp_reference": instruction.erp_reference, "reason": reason}, actor=actor)
    return instruction


def payment_instruction_resend(*, instruction_id: int, actor, reason: str, creditor_iban: str | None = None,
                               creditor_bic: str | None = None, creditor_name: str | None = None,
                               amount: str | None = None) -> PaymentBatch:
    """Correct a rejected or returned payment and send it again: a new instruction (new end-to-end id, pointing to
    the one it replaces) in a new batch that goes through every check and a new approval."""
    original = PaymentInstruction.objects.select_related("batch__entity", "batch__debtor_account").get(
        pk=instruction_id)
    if original.status not in (InstructionStatus.REJECTED, InstructionStatus.RETURNED):
        raise Conflict(f"{original.end_to_end_id} is {original.status}: only rejected or returned payments are resent.")
    if not (reason or "").strip():
        raise ValidationFailed("reason: say what was corrected.", {"field": "reason"})
    batch = original.batch
    attempt = original.resent_as.count() + 1
    creditor = {"name": creditor_name or original.creditor_name, "address": original.creditor_address,
                "counterparty_ref": original.counterparty_ref}
    if creditor_iban or original.creditor_iban:
        creditor["iban"] = creditor_iban or original.creditor_iban
    else:
        creditor.update(account_number=original.creditor_account_number, routing=original.creditor_routing)
    if creditor_bic or (original.creditor_bic and not creditor_iban):
        creditor["bic"] = creditor_bic or original.creditor_bic
    day = next_business_day(max(timezone.localdate() + timedelta(days=1), batch.requested_execution_date),
                            original.currency)
    new_batch = payment_batch_receive(actor=actor, source=batch.source, data={
        "entity": batch.entity.code, "debtor_account": batch.debtor_account.iban or str(batch.debtor_account.pk),
        "requested_execution_date": day, "erp_reference": f"{batch.erp_reference}-R{original.pk}-{attempt}"[:100],
        "instructions": [{
            "end_to_end_id": f"{original.end_to_end_id[:30]}-R{attempt}", "amount": amount or str(original.amount),
            "currency": original.currency, "creditor": creditor,
            "remittance_information": original.remittance_information, "purpose": original.purpose,
            "erp_reference": original.erp_reference,
        }],
    })
    with transaction.atomic():
        replacement = new_batch.instructions.get()
        replacement.replaces = original
        audited_save(replacement, actor=actor, reason=f"resends {original.end_to_end_id}: {reason}",
                     update_fields=["replaces"])
        _rejection_case_close(original, f"corrected and resent as {replacement.end_to_end_id} in batch "
                                        f"{new_batch.erp_reference} by {actor.username}: {reason}")
        event_emit("payment_instruction.resent", original, {
            "batch_id": batch.pk, "end_to_end_id": original.end_to_end_id, "new_batch_id": new_batch.pk,
            "new_end_to_end_id": replacement.end_to_end_id, "reason": reason}, actor=actor)
    return new_batch
