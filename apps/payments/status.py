"""Status back from the bank: pain.002 status reports (through ``bank_import``) and returns on statements."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from lxml import etree

from apps.core.errors import ValidationFailed
from apps.core.events import event_emit
from apps.core.models import RawDocument
from apps.core.services import document_open
from apps.exceptions.services import case_open
from apps.payments.models import (
    BATCH_TRANSITIONS,
    INSTRUCTION_TRANSITIONS,
    BatchStatus,
    InstructionStatus,
    PaymentBatch,
    PaymentFile,
    PaymentInstruction,
)
from apps.payments.reasons import explain

SUCCESS = {"ACCP", "ACSC", "ACSP", "ACTC", "ACWC", "ACWP", "ACCC"}


@dataclass
class TxStatus:
    end_to_end_id: str
    status: str
    reasons: list[str] = field(default_factory=list)
    info: str = ""


@dataclass
class StatusReport:
    message_id: str
    original_message_id: str
    group_status: str
    group_reasons: list[str]
    transactions: list[TxStatus]


def _text(el, path: str) -> str:
    found = el.find(path)
    return (found.text or "").strip() if found is not None else ""


def pain002_parse(content: bytes) -> StatusReport:
    """pain.002.001.03 / .001.10 (any namespace: banks' national variants included)."""
    if b"<!DOCTYPE" in content[:2048] or b"<!ENTITY" in content:
        raise ValidationFailed("DOCTYPE/entity declarations are not allowed in a status report.")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise ValidationFailed(f"line {exc.lineno}: the status report is not well-formed XML ({exc.msg}).") from None
    report = root.find("{*}CstmrPmtStsRpt")
    if report is None:
        raise ValidationFailed("The file has no <CstmrPmtStsRpt>: not a pain.002 status report.")
    group = report.find("{*}OrgnlGrpInfAndSts")
    if group is None:
        raise ValidationFailed("/Document/CstmrPmtStsRpt: <OrgnlGrpInfAndSts> is missing.")
    reasons = [r.text.strip() for r in group.iterfind("{*}StsRsnInf/{*}Rsn/{*}Cd") if r.text]
    txs = []
    for info in report.iterfind("{*}OrgnlPmtInfAndSts"):
        pmt_status = _text(info, "{*}PmtInfSts")
        pmt_reasons = [r.text.strip() for r in info.iterfind("{*}StsRsnInf/{*}Rsn/{*}Cd") if r.text]
        for tx in info.iterfind("{*}TxInfAndSts"):
            txs.append(TxStatus(
                end_to_end_id=_text(tx, "{*}OrgnlEndToEndId"),
                status=_text(tx, "{*}TxSts") or pmt_status,
                reasons=[r.text.strip() for r in tx.iterfind("{*}StsRsnInf/{*}Rsn/{*}Cd") if r.text] or pmt_reasons,
                info=" ".join(a.text.strip() for a in tx.iterfind("{*}StsRsnInf/{*}AddtlInf") if a.text),
            ))
        if not info.findall("{*}TxInfAndSts") and pmt_status:
            txs.append(TxStatus(end_to_end_id="*", status=pmt_status, reasons=pmt_reasons))
    return StatusReport(
        message_id=_text(report, "{*}GrpHdr/{*}MsgId"), original_message_id=_text(group, "{*}OrgnlMsgId"),
        group_status=_text(group, "{*}GrpSts"), group_reasons=reasons, transactions=txs,
    )


def status_report_import(*, document: RawDocument, source: str = "", actor=None) -> dict:
    """``bank_import`` handler for pain.002: apply the bank's statuses to the file's instructions, once."""
    with document_open(document) as fh:
        report = pain002_parse(fh.read())
    file = PaymentFile.objects.select_related("batch").filter(message_id=report.original_message_id).first()
    if file is None:
        case_open(kind="payment.status_unmatched", subject=document, raw_document=document, actor=actor,
                  reason_code="unknown_message_id",
                  message=f"Status report {report.message_id or document.filename} refers to message "
                  f"{report.original_message_id!r}, which we never sent. Check which system sent that file.")
        return {"status_report": "unmatched", "original_message_id": report.original_message_id}
    return _apply(file.batch_id, report, document, actor)


@transaction.atomic
def _apply(batch_id: int, report: StatusReport, document: RawDocument, actor) -> dict:
    batch = PaymentBatch.objects.select_for_update().select_related("entity").get(pk=batch_id)
    instructions = {i.end_to_end_id: i for i in batch.instructions.select_for_update()
                    .exclude(status__in=[InstructionStatus.HELD, InstructionStatus.CANCELLED])}
    statuses = list(report.transactions)
    if not statuses and report.group_status:  # group level only: it speaks for every transaction
        statuses = [TxStatus("*", report.group_status, report.group_reasons)]
    counts = {"accepted": 0, "rejected": 0, "pending": 0, "unchanged": 0}
    unknown = []
    for tx in statuses:
        targets = list(instructions.values()) if tx.end_to_end_id == "*" else (
            [instructions[tx.end_to_end_id]] if tx.end_to_end_id in instructions else [])
        if not targets:
            unknown.append(tx.end_to_end_id)
            continue
        for instruction in targets:
            counts[_apply_one(instruction, tx, report, document, actor)] += 1
    if unknown:
        case_open(kind="payment.status_unmatched", subject=document, raw_document=document, actor=actor,
                  legal_entity=batch.entity, reason_code="unknown_end_to_end_id",
                  message=f"Status report {report.message_id} for batch {batch.erp_reference} names end-to-end ids "
                  f"we did not send in it: {', '.join(unknown[:10])}.")
    _batch_outcome(batch, report, actor)
    return {"status_report": "applied", "original_message_id": report.original_message_id, "batch": batch.pk,
            **counts, "unknown_end_to_end_ids": unknown}


def _apply_one(instruction: PaymentInstruction, tx: TxStatus, report: StatusReport, document, actor) -> str:
    reason = tx.reasons[0] if tx.reasons else ""
    if tx.status in SUCCESS:
        if instruction.status != InstructionStatus.READY:
            return "unchanged"
        instruction.bank_status, instruction.bank_reason_code = tx.status, reason
        INSTRUCTION_TRANSITIONS.move(instruction, to=InstructionStatus.ACCEPTED, actor=actor,
                                     reason=f"bank: {tx.status}", also=["bank_status", "bank_reason_code"])
        event_emit("payment_instruction.accepted", instruction, _tx_payload(instruction), actor=actor)
        return "accepted"
    if tx.status == "RJCT":
        if instruction.status in (InstructionStatus.REJECTED, InstructionStatus.RETURNED):
            return "unchanged"
        explanation = explain(reason)
        instruction.bank_status, instruction.bank_reason_code = "RJCT", reason
        INSTRUCTION_TRANSITIONS.move(instruction, to=InstructionStatus.REJECTED, actor=actor,
                                     reason=f"bank: RJCT {reason}".strip(), also=["bank_status", "bank_reason_code"])
        case_open(
            kind="payment.rejected_by_bank", subject=instruction, legal_entity=instruction.batch.entity,
            raw_document=document, reason_code=reason or "RJCT", amount=instruction.amount,
            currency=instruction.currency, actor=actor, suggested_actions=list(explanation.actions),
            message=f"The bank rejected {instruction.amount} {instruction.currency} to {instruction.creditor_name} "
            f"({instruction.end_to_end_id}, batch {instruction.batch.erp_reference}): {reason or 'no code'} "
            f"{explanation.text}{(' Bank says: ' + tx.info) if tx.info else ''}",
        )
        event_emit("payment_instruction.rejected", instruction,
                   {**_tx_payload(instruction), "explanation": explanation.text}, actor=actor)
        return "rejected"
    if instruction.bank_status != tx.status:
        instruction.bank_status = tx.status
        instruction.save(update_fields=["bank_status", "updated_at"])
    return "pending"


def _tx_payload(instruction: PaymentInstruction) -> dict:
    return {"batch_id": instruction.batch_id, "erp_reference": instruction.batch.erp_reference,
            "end_to_end_id": instruction.end_to_end_id, "instruction_erp_reference": instruction.erp_reference,
            "status": instruction.status, "bank_status": instruction.bank_status,
            "reason_code": instruction.bank_reason_code, "amount": str(instruction.amount),
            "currency": instruction.currency}


def _batch_outcome(batch: PaymentBatch, report: StatusReport, actor) -> None:
    sent = batch.instructions.exclude(status__in=[InstructionStatus.HELD, InstructionStatus.CANCELLED])
    states = set(sent.values_list("status", flat=True))
    target = None
    if states == {InstructionStatus.REJECTED}:
        target = BatchStatus.REJECTED
    elif InstructionStatus.REJECTED in states and states & {InstructionStatus.ACCEPTED, InstructionStatus.SETTLED}:
        target = BatchStatus.PARTIALLY_ACCEPTED
    elif states and states <= {InstructionStatus.ACCEPTED, InstructionStatus.SETTLED}:
        target = BatchStatus.ACCEPTED
    if target is None or target == batch.status or not BATCH_TRANSITIONS.allowed(batch.status, target):
        return
    BATCH_TRANSITIONS.move(batch, to=target, actor=actor,
                           reason=f"status report {report.message_id}: {report.group_status or 'per transaction'}")
    event_emit(f"payment_batch.{target}", batch, {"batch_id": batch.pk, "erp_reference": batch.erp_reference,
                                                  "entity": batch.entity.code, "status": target}, actor=actor)


def statement_return_subscriber(event) -> None:
    """Outbox subscriber: a return on a bank statement moves the matching sent payment to returned."""
    if event.type != "statement.entry_returned":
        return
    e2e = event.payload.get("original_end_to_end_id")
    if not e2e:
        return
    instruction = (PaymentInstruction.objects.select_for_update().select_related("batch__entity")
                   .filter(end_to_end_id=e2e, status__in=[InstructionStatus.READY, InstructionStatus.ACCEPTED,
                                                          InstructionStatus.SETTLED],
                           batch__status__in=[BatchStatus.TRANSMITTED, BatchStatus.ACCEPTED,
                                              BatchStatus.PARTIALLY_ACCEPTED, BatchStatus.SETTLED])
                   .order_by("-created_at").first())
    if instruction is None:
        return
    reason = event.payload.get("return_reason") or ""
    explanation = explain(reason)
    instruction.bank_reason_code = reason
    INSTRUCTION_TRANSITIONS.move(instruction, to=InstructionStatus.RETURNED, actor=None,
                                 reason=f"returned on statement: {reason}".strip(), also=["bank_reason_code"])
    case_open(
        kind="payment.rejected_by_bank", subject=instruction, legal_entity=instruction.batch.entity,
        reason_code=reason or "RETURN", amount=instruction.amount, currency=instruction.currency,
        suggested_actions=list(explanation.actions),
        message=f"{instruction.amount} {instruction.currency} to {instruction.creditor_name} "
        f"({instruction.end_to_end_id}) came back on the bank statement: {reason or 'no reason code'} "
        f"{explanation.text}",
    )
    event_emit("payment_instruction.returned", instruction, {**_tx_payload(instruction), "reason": reason})
