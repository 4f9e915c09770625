"""Turning an approved batch into the bank's file and sending it through the bank channel, once."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from apps.core.audit import audited_save
from apps.core.errors import ApplicationError, Conflict, RetryFailed
from apps.core.events import event_emit
from apps.core.services import document_store
from apps.exceptions.services import case_open
from apps.org.models import PaymentFormat
from apps.payments import nacha, pain001
from apps.payments.cutoff import execution_date_roll
from apps.payments.models import BATCH_TRANSITIONS, BatchStatus, InstructionStatus, PaymentBatch, PaymentFile

logger = logging.getLogger(__name__)


def payment_file_build(batch: PaymentBatch) -> tuple[bytes, str, str]:
    """The bank's file for the batch's ready instructions: (content, format, message id). XSD-valid or raises."""
    bank = batch.debtor_account.bank
    version = bank.payment_format
    now = timezone.now()
    earlier = batch.files.count()  # a rebuilt file (execution date moved) never reuses a message id
    message_id = f"FO{batch.pk:010d}{now:%y%m%d%H%M%S}" + (f"V{earlier + 1}" if earlier else "")
    account = batch.debtor_account
    fields = [f for f in pain001.Transfer.__dataclass_fields__]
    transfers = [
        pain001.Transfer(**row)
        for row in batch.instructions.filter(status=InstructionStatus.READY).order_by("position").values(*fields)
    ]
    if not transfers:
        raise ApplicationError(f"Batch {batch.erp_reference} has no instruction ready to pay.")
    debtor = pain001.Debtor(name=batch.entity.name, iban=account.iban or "", account_number=account.account_number,
                            bic=bank.bic, currency=account.currency)
    if version == PaymentFormat.NACHA:
        if not (account.routing_code and account.ach_company_id):
            raise ApplicationError(f"{account} needs its routing code and the ACH company id {bank.name} assigned "
                                   "(bank_accounts: routing_code, ach_company_id) before NACHA files can be made.")
        content = nacha.build(
            immediate_destination=account.routing_code, immediate_origin=account.ach_company_id,
            destination_name=bank.name, origin_name=batch.entity.name, company_name=batch.entity.name,
            company_id=account.ach_company_id, entry_description="VENDOR PAY" if batch.source != "reimbursement"
            else "EXPENSES", effective_date=batch.requested_execution_date, created_at=now,
            sec_code="PPD" if batch.source == "reimbursement" else "CCD", debtor=debtor, transfers=transfers,
        )
        nacha.validate(content)
        return content, version, message_id
    content = pain001.build(
        version=version, message_id=message_id, created_at=now, initiating_party=batch.entity.name,
        payment_info_id=f"{batch.erp_reference}"[:35], execution_date=batch.requested_execution_date,
        debtor=debtor, transfers=transfers, sepa=batch.currency == "EUR" and bool(account.iban),
    )
    pain001.validate(content, version)
    return content, version, message_id


def payment_batch_transmit(*, batch_id: int, actor=None) -> PaymentFile | None:
    """Generate (once) and send (once) the approved batch's file. Safe to call again: a sent file is never sent
    twice; a send whose outcome is unknown is left for a person to check with the bank."""
    with transaction.atomic():
        batch = PaymentBatch.objects.select_for_update().select_related(
            "entity", "debtor_account__bank").get(pk=batch_id)
        file = batch.files.select_for_update().order_by("-created_at").first()
        if batch.status != BatchStatus.APPROVED:
            if file is not None and file.status == PaymentFile.Status.SENT:
                return file
            raise Conflict(f"Batch {batch.erp_reference} is {batch.status}; only approved batches are sent.")
        if file is None or file.status == PaymentFile.Status.GENERATED:  # the date is still ours to set
            rolled = execution_date_roll(batch, actor=actor)  # the bank's cut-off passed: next business day
            if rolled is not None and file is not None:
                file.status = PaymentFile.Status.SUPERSEDED  # never sent: rebuilt below with the new date
                audited_save(file, actor=actor, update_fields=["status"],
                             reason=f"superseded: execution date now {batch.requested_execution_date}")
                file = None
        if file is None:
            try:
                content, version, message_id = payment_file_build(batch)
            except ApplicationError as exc:
                _transmission_case(batch, f"The bank file could not be produced: {exc.message}", "file.invalid",
                                   actor)
                return None
            document, _ = document_store(content=content, source=f"bank:{batch.debtor_account.bank.code}",
                                         media_type="text/plain" if version == PaymentFormat.NACHA
                                         else "application/xml",
                                         filename=f"{message_id}.{'ach' if version == PaymentFormat.NACHA else 'xml'}",
                                         direction="outbound", actor=actor)
            file = PaymentFile(batch=batch, bank_partner=batch.debtor_account.bank, format=version,
                               message_id=message_id, raw_document=document)
            audited_save(file, actor=actor, reason="generated")
        if file.status == PaymentFile.Status.SENT:
            return file
        if file.status == PaymentFile.Status.SENDING:
            _transmission_case(batch, f"File {file.message_id} may or may not have reached the bank (the last send "
                                      "did not finish). Check with the bank before sending anything again.",
                               "send.unknown", actor)
            return file
        file.status = PaymentFile.Status.SENDING
        file.attempts += 1
        audited_save(file, actor=actor, reason=f"sending, attempt {file.attempts}", update_fields=["status",
                                                                                                 "attempts"])
    try:
        from apps.connectors.services import bank_channel_for_partner  # the domain calls the interface

        receipt = bank_channel_for_partner(file.bank_partner.code).send_payment_file(file.raw_document)
    except ApplicationError as exc:
        with transaction.atomic():
            file = PaymentFile.objects.select_for_update().get(pk=file.pk)
            file.status, file.last_error = PaymentFile.Status.GENERATED, exc.message[:2000]
            audited_save(file, actor=actor, reason="send failed", update_fields=["status", "last_error"])
            _transmission_case(batch, f"File {file.message_id} was not sent: {exc.message}", "send.failed", actor)
        return file
    with transaction.atomic():
        file = PaymentFile.objects.select_for_update().get(pk=file.pk)
        batch = PaymentBatch.objects.select_for_update().get(pk=batch_id)
        file.status, file.sent_at, file.last_error = PaymentFile.Status.SENT, timezone.now(), ""
        audited_save(file, actor=actor, reason=f"sent: {receipt}"[:100], update_fields=["status", "sent_at",
                                                                                      "last_error"])
        BATCH_TRANSITIONS.move(batch, to=BatchStatus.TRANSMITTED, actor=actor, reason=f"file {file.message_id} sent")
        event_emit("payment_batch.transmitted", batch, {
            "batch_id": batch.pk, "entity": batch.entity.code, "erp_reference": batch.erp_reference,
            "message_id": file.message_id, "format": file.format, "status": batch.status,
        }, actor=actor)
    return file


def _transmission_case(batch: PaymentBatch, message: str, reason_code: str, actor) -> None:
    case_open(kind="payment.transmission_failed", subject=batch, legal_entity=batch.entity, reason_code=reason_code,
              amount=batch.total_amount, currency=batch.currency, actor=actor,
              message=f"Batch {batch.erp_reference} ({batch.total_amount} {batch.currency}): {message}")


def transmission_retry(case) -> str:
    """Retry handler for payment.transmission_failed: send again (the file is built once, sent at most once)."""
    file = payment_batch_transmit(batch_id=int(case.subject_id))
    if file is None or file.status != PaymentFile.Status.SENT:
        raise RetryFailed(file.last_error if file is not None and file.last_error else "The file was not sent.")
    return f"file {file.message_id} sent"
