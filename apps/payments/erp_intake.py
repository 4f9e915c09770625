"""Payment batches pulled from ERPs: the same batches as ``POST /api/v1/payment-batches/``, through the adapters.

Rules
- ``erp_batch_documents_subscriber`` (outbox subscriber) takes ``connection.documents_received`` of the operation
  ``pull_payment_batches``. In the relay's transaction it only writes one ``BatchIntake`` row per document (unique
  by document, so a document handed over twice, or an event relayed twice, is imported once) and queues the import
  after commit.
- ``erp_batch_intake_process`` reads the ``finops.payment_batch.v1`` document with the API's parser and input
  serializer and hands it to ``payment_batch_receive(source="erp_pull")``: the checks are the API's, and the pulled
  document becomes the batch's raw document.
- An ``erp_reference`` received before never creates a second batch: the same content again is recorded as a
  duplicate of the existing batch; other content under a used reference is refused.
- A document that cannot become a batch (not JSON, not the schema, invalid, a reused reference) is refused with
  a ``payment.batch_rejected`` case naming every problem, with the document attached; retrying the case imports
  the kept document again (after the cause was fixed, e.g. the debtor account configured).
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ParseError

from apps.core.api.parsers import StrictJSONParser
from apps.core.errors import ApplicationError, RetryFailed
from apps.core.models import RawDocument
from apps.core.services import document_open
from apps.exceptions.services import case_open
from apps.org.models import LegalEntity
from apps.payments.models import BatchIntake, PaymentBatch, Source
from apps.payments.services import payment_batch_receive

logger = logging.getLogger(__name__)

SCHEMA = "finops.payment_batch.v1"
PULL_OPERATION = "pull_payment_batches"
CASE_KIND = "payment.batch_rejected"
MAX_PROBLEMS_IN_MESSAGE = 10


class _Refused(Exception):
    def __init__(self, problems: list[dict], reason_code: str):
        super().__init__(problems[0]["message"] if problems else reason_code)
        self.problems = problems
        self.reason_code = reason_code


# --- the outbox subscriber ----------------------------------------------------------------------------------------

def erp_batch_documents_subscriber(event) -> None:
    """One intake row per pulled document; the import is queued after commit (one task per document)."""
    if event.type != "connection.documents_received" or event.payload.get("operation") != PULL_OPERATION:
        return
    from apps.payments.tasks import erp_batch_intake_task

    ids = [int(i) for i in event.payload.get("documents") or []]
    known = set(BatchIntake.objects.filter(raw_document_id__in=ids).values_list("raw_document_id", flat=True))
    for document in RawDocument.objects.filter(pk__in=ids).exclude(pk__in=known).order_by("pk"):
        intake = BatchIntake.objects.create(
            raw_document=document, connection_code=str(event.payload.get("connection") or "")[:100],
            sync_run_id=event.payload.get("run_id"),
        )
        transaction.on_commit(lambda pk=intake.pk: erp_batch_intake_task.delay(pk))


# --- the import ---------------------------------------------------------------------------------------------------

def _field_problems(detail, where: str = "") -> list[dict]:
    """DRF's nested errors as ``[{"field": "instructions[1].creditor.iban", "message": ...}]``."""
    if isinstance(detail, dict):
        found = []
        for key, value in detail.items():
            if key == "non_field_errors":
                found += _field_problems(value, where)
            elif isinstance(key, int) or str(key).isdigit():
                found += _field_problems(value, f"{where}[{key}]")
            else:
                found += _field_problems(value, f"{where}.{key}" if where else str(key))
        return found
    if isinstance(detail, list):
        if all(isinstance(item, (dict, list)) for item in detail):  # one entry per item of a list
            return [p for n, item in enumerate(detail) for p in _field_problems(item, f"{where}[{n}]")]
        return [{"field": where, "message": str(item)} for item in detail]
    return [{"field": where, "message": str(detail)}]


def _read(document: RawDocument) -> tuple[bytes, dict]:
    with document_open(document) as fh:
        content = fh.read()
    if not content.strip():
        raise _Refused([{"field": "", "message": "the document is empty."}], "invalid_json")
    try:
        data = StrictJSONParser().parse(io.BytesIO(content))
    except ParseError as exc:
        raise _Refused([{"field": "", "message": str(exc.detail)}], "invalid_json") from None
    if not isinstance(data, dict):
        raise _Refused([{"field": "", "message": "the document is not a JSON object."}], "invalid_json")
    return content, data


def _without_schema(data: dict) -> dict:
    schema = data.get("schema")
    if schema != SCHEMA:
        raise _Refused([{"field": "schema", "message": f"expected {SCHEMA!r}, got {schema!r}."}], "wrong_schema")
    return {k: v for k, v in data.items() if k != "schema"}


def _existing(entity_code, erp_reference) -> PaymentBatch | None:
    return PaymentBatch.objects.select_related("entity", "raw_document").filter(
        entity__code=entity_code, erp_reference=erp_reference).first()


def _same_content(batch: PaymentBatch, body: dict) -> bool:
    """Was ``batch`` received from this very body (schema aside)? Compared as parsed JSON, so key order, spacing
    and the transport do not matter; any difference in a value does."""
    if batch.raw_document is None:
        return False
    try:
        _content, earlier = _read(batch.raw_document)
    except _Refused:
        return False
    earlier.pop("schema", None)
    return earlier == body


def _reference_taken(batch: PaymentBatch, body: dict) -> tuple[str, PaymentBatch]:
    if _same_content(batch, body):
        return BatchIntake.Status.DUPLICATE, batch
    raise _Refused([{"field": "erp_reference", "message": (
        f"batch {batch.erp_reference!r} of {batch.entity.code} was received before (batch {batch.pk}, "
        f"{batch.get_status_display().lower()}) with different content. The ERP must send a change under a new "
        "reference; cancel the earlier batch first if it must not be paid.")}], "erp_reference_reused")


def _import(intake: BatchIntake) -> tuple[str, PaymentBatch]:
    from apps.payments.api.serializers import BatchInput  # the API's input serializer: the same checks

    content, data = _read(intake.raw_document)
    intake.entity_code = str(data.get("entity") or "")[:20]
    intake.erp_reference = str(data.get("erp_reference") or "")[:100]
    body = _without_schema(data)
    serializer = BatchInput(data=body)
    if not serializer.is_valid():
        raise _Refused(_field_problems(serializer.errors), "invalid_batch")
    values = serializer.validated_data
    earlier = _existing(values["entity"], values["erp_reference"])
    if earlier is not None:
        return _reference_taken(earlier, body)
    try:
        with transaction.atomic():
            batch = payment_batch_receive(data=values, source=Source.ERP_PULL, raw=content)
    except IntegrityError:  # the same reference committed meanwhile (the unique constraint decided)
        earlier = _existing(values["entity"], values["erp_reference"])
        if earlier is None:
            raise
        return _reference_taken(earlier, body)
    except ApplicationError as exc:
        earlier = _existing(values["entity"], values["erp_reference"])
        if earlier is not None:
            return _reference_taken(earlier, body)
        raise _Refused(exc.extra.get("errors") or [{"field": exc.extra.get("field", ""), "message": exc.message}],
                       "invalid_batch") from None
    return BatchIntake.Status.IMPORTED, batch


def _case_message(intake: BatchIntake, problems: list[dict]) -> str:
    what = f"ERP batch {intake.erp_reference!r}" if intake.erp_reference else (
        f"ERP document {intake.raw_document.filename or intake.raw_document.sha256[:12]}")
    source = f" from {intake.connection_code}" if intake.connection_code else ""
    listed = "; ".join(f"{p['field'] or 'document'}: {str(p['message']).rstrip('.')}"
                       for p in problems[:MAX_PROBLEMS_IN_MESSAGE])
    more = f" (and {len(problems) - MAX_PROBLEMS_IN_MESSAGE} more)" if len(problems) > MAX_PROBLEMS_IN_MESSAGE else ""
    return f"{what}{source} was not imported: {listed}{more}."


def erp_batch_intake_process(*, intake_id: int, retry: bool = False) -> BatchIntake | None:
    """Import one pulled document, once. Safe to run twice: only a pending intake is processed (under its row
    lock); ``retry`` (the case's retry) processes a refused one again without opening another case."""
    with transaction.atomic():
        intake = (BatchIntake.objects.select_for_update(of=("self",)).select_related("raw_document")
                  .filter(pk=intake_id).first())
        if intake is None:
            return None
        if intake.status != BatchIntake.Status.PENDING and not (retry and intake.status == BatchIntake.Status.REJECTED):
            return intake
        intake.attempts += 1
        try:
            intake.status, intake.batch = _import(intake)
            intake.problems = []
        except _Refused as refused:
            intake.status, intake.problems = BatchIntake.Status.REJECTED, refused.problems
            if not retry:
                case_open(kind=CASE_KIND, subject=intake, raw_document=intake.raw_document,
                          legal_entity=LegalEntity.objects.filter(code=intake.entity_code).first(),
                          reason_code=refused.reason_code, message=_case_message(intake, refused.problems))
        intake.finished_at = timezone.now()
        intake.save(update_fields=["status", "batch", "problems", "attempts", "entity_code", "erp_reference",
                                   "finished_at"])
    logger.info("ERP batch intake %s (%s): %s", intake.pk, intake.erp_reference, intake.status)
    return intake


def erp_batch_intake_retry(case) -> str:
    """Retry handler for ``payment.batch_rejected``: import the kept document again."""
    intake = erp_batch_intake_process(intake_id=int(case.subject_id), retry=True)
    if intake is None:
        raise RetryFailed("The intake record of this document no longer exists.")
    if intake.status == BatchIntake.Status.REJECTED:
        raise RetryFailed(_case_message(intake, intake.problems))
    if intake.status == BatchIntake.Status.DUPLICATE:
        return f"already received as batch {intake.batch_id} ({intake.erp_reference}); no new batch"
    return f"imported as batch {intake.batch_id} ({intake.erp_reference})"


def erp_batch_intakes_enqueue_stale(*, older_than_seconds: int = 300, limit: int = 500) -> int:
    """Queue imports still pending after a while (a lost task, a worker that died): none is left behind."""
    from apps.payments.tasks import erp_batch_intake_task

    since = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(BatchIntake.objects.filter(status=BatchIntake.Status.PENDING, created_at__lt=since)
               .order_by("created_at").values_list("pk", flat=True)[:limit])
    for pk in ids:
        erp_batch_intake_task.delay(pk)
    return len(ids)
