"""Expense reports from intake to reimbursement. One function per transition; network calls to the ERP and the
expense platform happen outside database transactions and are idempotent (the ERP knows our journal reference,
the platform our report id)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.audit import audited_save
from apps.core.bulk import bulk_create_audited, bulk_insert
from apps.core.errors import ApplicationError, NotFound, PermissionDenied, RetryFailed, ValidationFailed
from apps.core.events import event_emit
from apps.core.models import RawDocument
from apps.core.services import document_json, document_store
from apps.exceptions.selectors import case_for_subject
from apps.exceptions.services import case_open, case_resolve
from apps.expenses.inputs import report_input_parse
from apps.expenses.masterdata import MasterData, master_data_load
from apps.expenses.models import (
    JOURNAL_TRANSITIONS, REPORT_TRANSITIONS, ExpenseLine, ExpensePolicy, ExpenseReport, Journal, JournalLine,
    JournalStatus, MasterKind, ReportStatus,
)
from apps.expenses.validation import Rates, validate
from apps.org.models import LegalEntity
from apps.org.selectors import can_access_entity

logger = logging.getLogger(__name__)

BLOCKED_KIND = "expense.posting_blocked"
REIMBURSEMENT_KIND = "expense.reimbursement_failed"


def _user(actor):
    return actor if getattr(actor, "pk", None) else None


def _require(actor, perm: str, what: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise PermissionDenied(f"Your role may not {what}.")


def _payload(report: ExpenseReport, **extra) -> dict:
    return {"report_id": report.pk, "platform": report.platform, "external_id": report.external_id,
            "entity": report.entity.code, "employee_id": report.employee_id, "status": report.status,
            "total": str(report.total), "currency": report.currency, **extra}


# -- intake ----------------------------------------------------------------------------------------------------------

def expense_reports_receive(*, items: list[tuple[dict, RawDocument | None]], source: str, actor=None
                            ) -> list[tuple[ExpenseReport, bool]]:
    """Store validated reports (``report_input_parse`` output) with their lines, and queue their processing.

    A report delivered again (same platform and report id) is recognised and returned with ``created=False``:
    never stored or posted twice. Returns ``(report, created)`` per item, in order."""
    entities = {e.code: e for e in LegalEntity.objects.filter(code__in={d["entity"] for d, _ in items}, active=True)}
    for data, _raw in items:
        entity = entities.get(data["entity"])
        if entity is None or (actor is not None and not can_access_entity(user=actor, entity_id=entity.pk)):
            raise ValidationFailed(f"entity: no active legal entity {data['entity']!r} you may use.",
                                   {"field": "entity", "report_id": data["report_id"]})
    try:
        return _receive(items, entities, source, actor)
    except IntegrityError:
        # another delivery of one of these reports committed between our read and our insert: read again, and
        # what exists now is recognised as delivered before
        return _receive(items, entities, source, actor)


def _receive(items, entities, source, actor) -> list[tuple[ExpenseReport, bool]]:
    with transaction.atomic():
        keys = {(d["platform"], d["report_id"]) for d, _ in items}
        existing = {(r.platform, r.external_id): r for r in ExpenseReport.objects.filter(
            platform__in={k[0] for k in keys}, external_id__in={k[1] for k in keys}).select_for_update()}
        new, results, seen = [], [], {}
        for data, raw in items:
            key = (data["platform"], data["report_id"])
            if key in existing or key in seen:
                results.append((existing.get(key) or seen[key], False))
                continue
            report = ExpenseReport(
                platform=data["platform"], external_id=data["report_id"], entity=entities[data["entity"]],
                employee_id=data["employee_id"], employee_name=data.get("employee_name", ""),
                title=data.get("title", ""), currency=data["currency"], total=data["total"],
                submitted_at=data.get("submitted_at"), approved_at=data.get("approved_at"),
                approved_by=data.get("approved_by", ""), source=source, raw_document=raw)
            seen[key] = report
            new.append((report, data))
            results.append((report, True))
        if new:
            bulk_create_audited(ExpenseReport, [r for r, _ in new], actor=actor, reason=f"received ({source})")
            lines = [ExpenseLine(report=report, position=n, **line)
                     for report, data in new for n, line in enumerate(data["lines"])]
            bulk_insert(ExpenseLine, lines)
            for report, _data in new:
                event_emit("expense_report.received", report, _payload(report), actor=actor)
            ids = [r.pk for r, _ in new]
            transaction.on_commit(lambda: _queue_process(ids))
    return results


def _queue_process(report_ids: list[int]) -> None:
    from apps.expenses.tasks import expense_reports_process_task

    for start in range(0, len(report_ids), 500):
        expense_reports_process_task.delay(report_ids[start:start + 500])


def expense_report_receive(*, payload, source: str, actor=None, raw: bytes | None = None,
                           document: RawDocument | None = None) -> tuple[ExpenseReport, bool]:
    """One report from the API, a webhook, a pulled document or an upload. ``payload`` is validated here."""
    data = report_input_parse(payload)
    if document is None and raw is not None:
        document, _ = document_store(content=raw, source=f"expense:{data['platform']}", media_type="application/json",
                                     filename=f"expense-report-{data['platform']}-{data['report_id']}.json",
                                     actor=actor)
    return expense_reports_receive(items=[(data, document)], source=source, actor=actor)[0]


def expense_document_import(*, document_id: int, source: str = "pull") -> tuple[ExpenseReport, bool]:
    """A ``finops.expense_report.v1`` document pulled from a platform. A bad one raises ValidationFailed naming
    the problem; the caller opens a case with the document attached."""
    document = RawDocument.objects.get(pk=document_id)
    return expense_report_receive(payload=document_json(document), source=source, document=document)


# -- validation and journals -----------------------------------------------------------------------------------------

def _journal_reference(report: ExpenseReport, attempt: int) -> str:
    return f"EXP-{report.entity.code}-{report.pk:07d}-{attempt}"


def _policies(entity_ids) -> dict[int, ExpensePolicy]:
    return {p.entity_id: p for p in ExpensePolicy.objects.filter(entity_id__in=list(entity_ids))}


def _block(report: ExpenseReport, problems: list[dict], *, actor, reason: str) -> None:
    report.problems = problems
    REPORT_TRANSITIONS.move(report, to=ReportStatus.BLOCKED, actor=actor, reason=reason[:100], also=["problems"])
    first = problems[0]
    where = f"line {first['line']} {first['field']}" if first.get("line") else first["field"]
    more = f" (and {len(problems) - 1} more problem(s), see the report)" if len(problems) > 1 else ""
    case_open(
        kind=BLOCKED_KIND, subject=report, legal_entity=report.entity, reason_code=first["code"],
        amount=report.total, currency=report.currency, actor=actor,
        message=f"{report.platform} report {report.external_id} ({report.employee_name or report.employee_id}, "
        f"{report.total} {report.currency}) cannot be posted: {where}: {first['message']}{more}",
    )
    event_emit("expense_report.blocked", report, _payload(report, problems=problems), actor=actor)


def expense_reports_process(*, report_ids: list[int], actor=None) -> dict[str, int]:
    """Validate received (or re-validate blocked) reports against their entity's master data; turn each valid one
    into a balanced journal ready to post, each invalid one into a case. Then queue the postings."""
    counts = {"ready": 0, "blocked": 0}
    with transaction.atomic():
        reports = list(ExpenseReport.objects.select_for_update(of=("self",)).select_related("entity")
                       .filter(pk__in=report_ids, status__in=[ReportStatus.RECEIVED, ReportStatus.BLOCKED,
                                                              ReportStatus.REPOST_PENDING]).order_by("pk"))
        if not reports:
            return counts
        lines: dict[int, list[ExpenseLine]] = defaultdict(list)
        for line in ExpenseLine.objects.filter(report__in=reports).order_by("report_id", "position"):
            lines[line.report_id].append(line)
        entity_ids = {r.entity_id for r in reports}
        master, policies, rates = master_data_load(entity_ids), _policies(entity_ids), Rates()
        attempts = defaultdict(int)
        for report_id, reference_count in _journal_counts([r.pk for r in reports]).items():
            attempts[report_id] = reference_count
        ready, journals, journal_lines = [], [], []
        for report in reports:
            problems, draft = validate(report, lines[report.pk], master[report.entity_id],
                                       policies.get(report.entity_id), rates)
            if problems:
                _block(report, [p.as_dict() for p in problems], actor=actor,
                       reason=f"blocked: {problems[0].code}")
                counts["blocked"] += 1
                continue
            journal = Journal(
                reference=_journal_reference(report, attempts[report.pk] + 1), report=report, entity=report.entity,
                posting_date=draft.posting_date, period=draft.period, currency=draft.currency,
                description=f"Expense report {report.external_id} ({report.employee_name or report.employee_id})"[:300])
            journals.append(journal)
            journal_lines.append([JournalLine(position=n, currency=draft.currency, **line)
                                  for n, line in enumerate(draft.lines)])
            report.problems, report.period, report.posting_date = [], draft.period, draft.posting_date
            ready.append(report)
        if ready:
            _supersede_rejected([r.pk for r in ready], actor)
            bulk_create_audited(Journal, journals, actor=actor, reason="journal built")
            rows = []
            for journal, jlines in zip(journals, journal_lines, strict=True):
                for line in jlines:
                    line.journal = journal
                    rows.append(line)
            bulk_insert(JournalLine, rows)
            for report in ready:
                case = None if report.status == ReportStatus.RECEIVED else case_for_subject(subject=report,
                                                                                            kind=BLOCKED_KIND)
                if case is not None and case.status != "waiting_retry":  # a retry in flight records its own outcome
                    case_resolve(case_id=case.pk, actor=None, reason="the report validates now")
            REPORT_TRANSITIONS.move_many(ready, to=ReportStatus.READY, actor=actor, reason="validated, journal built",
                                         also=["problems", "period", "posting_date"])
            for report, journal in zip(ready, journals, strict=True):
                event_emit("expense_report.validated", report, _payload(report, journal=journal.reference),
                           actor=actor)
            counts["ready"] = len(ready)
            journal_ids = [j.pk for j in journals]
            transaction.on_commit(lambda: _queue_post(journal_ids))
    return counts


def _journal_counts(report_ids: list[int]) -> dict[int, int]:
    from django.db.models import Count

    return dict(Journal.objects.filter(report_id__in=report_ids).values("report_id")
                .annotate(n=Count("pk")).values_list("report_id", "n"))


def _supersede_rejected(report_ids: list[int], actor) -> None:
    for journal in Journal.objects.select_for_update().filter(report_id__in=report_ids,
                                                              status__in=[JournalStatus.REJECTED, JournalStatus.READY]):
        JOURNAL_TRANSITIONS.move(journal, to=JournalStatus.SUPERSEDED, actor=actor, reason="replaced by a new journal")


def _queue_post(journal_ids: list[int]) -> None:
    from apps.expenses.tasks import expense_journal_post_task

    for pk in journal_ids:
        expense_journal_post_task.delay(pk)


# -- posting ---------------------------------------------------------------------------------------------------------

def journal_document(journal: Journal) -> dict:
    report = journal.report
    return {
        "schema": "finops.journal.v1", "journal_id": journal.reference, "entity": journal.entity.code,
        "posting_date": journal.posting_date.isoformat(), "period": journal.period, "currency": journal.currency,
        "description": journal.description,
        "source": {"kind": "expense_report", "platform": report.platform, "report_id": report.external_id},
        "lines": [{"account": line.account, "cost_centre": line.cost_centre, "debit": str(line.debit),
                   "credit": str(line.credit), "tax_code": line.tax_code, "tax_amount": str(line.tax_amount),
                   "text": line.text} for line in journal.lines.all()],
    }


def _check_balanced(journal: Journal) -> None:
    """The rule the database enforces on PostgreSQL (a deferred constraint trigger), checked in every database."""
    debit = credit = Decimal(0)
    for line in journal.lines.all():
        debit += line.debit
        credit += line.credit
    if debit != credit or debit == 0:
        raise ValidationFailed(f"journal {journal.reference} is not balanced: debits {debit}, credits {credit}.")


def _claim_for_posting(journal_id: int) -> tuple[Journal, object] | None:
    """Under the journal's lock: decide where it goes and mark it sending. ``None`` if nothing is to be done."""
    from apps.connectors.models import Connection

    with transaction.atomic():
        journal = (Journal.objects.select_for_update(of=("self",)).select_related("report", "entity")
                   .filter(pk=journal_id).first())
        if journal is None or journal.status not in (JournalStatus.READY, JournalStatus.SENDING):
            return None
        report = ExpenseReport.objects.select_for_update().select_related("entity").get(pk=journal.report_id)
        if report.status != ReportStatus.READY:
            return None
        if journal.erp_connection:  # sent before: the same ERP is asked again (it knows the reference)
            conn = Connection.objects.filter(code=journal.erp_connection).first()
        else:  # the entity's ERP at this moment decides where the journal goes
            entity = LegalEntity.objects.select_related("erp_connection").get(pk=journal.entity_id)
            conn = entity.erp_connection
        if conn is None or not conn.active:
            journal.erp_error = {"code": "no_erp_connection"}
            journal.save(update_fields=["erp_error", "updated_at"])
            _block(report, [{"line": "", "field": "entity", "code": "no_erp_connection",
                             "message": f"{journal.entity.code} has no active ERP connection; an admin must set the "
                                        "entity's erp_connection (config_load entities), then retry."}],
                   actor=None, reason="blocked: no ERP connection")
            JOURNAL_TRANSITIONS.move(journal, to=JournalStatus.SUPERSEDED, actor=None, reason="no ERP connection")
            return None
        _check_balanced(journal)
        if journal.raw_document_id is None:
            body = json.dumps(journal_document(journal), cls=DjangoJSONEncoder, indent=1).encode()
            journal.raw_document, _ = document_store(
                content=body, source=f"erp:{conn.code}", media_type="application/json",
                filename=f"{journal.reference}.json", direction=RawDocument.Direction.OUTBOUND)
        journal.erp_connection = conn.code
        journal.attempts += 1
        JOURNAL_TRANSITIONS.move(journal, to=JournalStatus.SENDING, actor=None, reason=f"to {conn.code}",
                                 also=["raw_document", "erp_connection", "attempts"])
        return journal, conn


def expense_journal_post(*, journal_id: int) -> Journal | None:
    """Post one journal to its entity's ERP. Safe to run twice and after a crash: the adapter asks the ERP for the
    reference before posting, so a journal that landed on a first, timed-out attempt is not posted again."""
    from apps.connectors.services import get_erp_adapter

    claimed = _claim_for_posting(journal_id)
    if claimed is None:
        return Journal.objects.filter(pk=journal_id).first()
    journal, conn = claimed
    try:
        answer = get_erp_adapter(conn).post_journal(journal.raw_document)
    except ApplicationError as exc:
        # the connector recorded the run and, after its retries, a connector.unavailable case; we keep the journal
        # in "sending" and the periodic resume posts it again (idempotent) when the ERP is back
        Journal.objects.filter(pk=journal.pk).update(erp_error={"code": "connector", "message": exc.message},
                                                     updated_at=timezone.now())
        logger.info("journal %s not posted yet: %s", journal.reference, exc.message)
        return Journal.objects.get(pk=journal.pk)
    return journal_answer_record(journal_id=journal.pk, answer=answer or {})


def _translate(error: dict, journal: Journal, conn_name: str) -> str:
    code, message = error.get("code", ""), error.get("message", "")
    entity = journal.entity.code
    if code == "period_closed":
        period = error.get("period") or journal.period
        return (f"period {period} is closed in {conn_name} for {entity}: repost into the next open period "
                f"(needs an approval) or ask controlling to reopen {period}.")
    if code in ("unknown_cost_centre", "inactive_cost_centre"):
        return (f"{conn_name} refused cost centre {error.get('value') or error.get('field', '')} for {entity} "
                f"({message}): fix the cost centre in the ERP or on the report, then retry.")
    if code in ("unknown_account", "unknown_tax_code"):
        return f"{conn_name} does not know {error.get('field', 'an account')} for {entity} ({message}): fix the " \
               "mapping or the master data, then retry."
    return f"{conn_name} rejected journal {journal.reference}: {message or code or 'no reason given'}."


def journal_answer_record(*, journal_id: int, answer: dict) -> Journal:
    """Record the ERP's answer to a posting (or a status query): posted, rejected or still submitted."""
    from apps.connectors.models import Connection

    status = answer.get("status")
    with transaction.atomic():
        journal = Journal.objects.select_for_update(of=("self",)).select_related("report", "entity").get(pk=journal_id)
        report = ExpenseReport.objects.select_for_update().select_related("entity").get(pk=journal.report_id)
        if journal.status not in (JournalStatus.SENDING, JournalStatus.SUBMITTED):
            return journal
        if status == "posted":
            journal.erp_document_number = str(answer.get("document_number") or "")[:100]
            journal.posted_at, journal.erp_error = timezone.now(), {}
            JOURNAL_TRANSITIONS.move(journal, to=JournalStatus.POSTED, actor=None,
                                     reason=f"ERP document {journal.erp_document_number}",
                                     also=["erp_document_number", "posted_at", "erp_error"])
            report.erp_document_number = journal.erp_document_number
            REPORT_TRANSITIONS.move(report, to=ReportStatus.POSTED, actor=None,
                                    reason=f"posted as {journal.erp_document_number}", also=["erp_document_number"])
            event_emit("expense_report.posted", report, _payload(report, journal=journal.reference,
                                                                 document_number=journal.erp_document_number))
            transaction.on_commit(lambda: _queue_platform_update(report.pk, "exported"))
        elif status == "submitted":
            if journal.status == JournalStatus.SENDING:
                JOURNAL_TRANSITIONS.move(journal, to=JournalStatus.SUBMITTED, actor=None,
                                         reason=f"ERP took {answer.get('reference') or 'the file'}")
                REPORT_TRANSITIONS.move(report, to=ReportStatus.SUBMITTED, actor=None, reason="waiting for the ERP")
        elif status == "rejected":
            error = answer.get("error") or {}
            journal.erp_error = error
            JOURNAL_TRANSITIONS.move(journal, to=JournalStatus.REJECTED, actor=None,
                                     reason=f"ERP: {error.get('code', 'rejected')}", also=["erp_error"])
            conn = Connection.objects.filter(code=journal.erp_connection).first()
            message = _translate(error, journal, conn.name if conn else journal.erp_connection)
            _block(report, [{"line": "", "field": error.get("field") or "journal", "code": error.get("code") or
                             "erp_rejected", "message": message, "period": error.get("period", "")}],
                   actor=None, reason=f"ERP rejected: {error.get('code', '')}")
        else:
            raise ValidationFailed(f"The ERP answered with an unknown status {status!r} for {journal.reference}.")
        return journal


def expense_journal_follow_up(*, journal_id: int) -> Journal | None:
    """For a file-based ERP: read its acknowledgement of a submitted journal."""
    from apps.connectors.services import get_erp_adapter

    journal = Journal.objects.filter(pk=journal_id, status=JournalStatus.SUBMITTED).first()
    if journal is None:
        return None
    try:
        answer = get_erp_adapter(journal.erp_connection).journal_status(journal.reference)
    except ApplicationError as exc:
        logger.info("journal %s: status not available yet: %s", journal.reference, exc.message)
        return journal
    if (answer or {}).get("status") in ("posted", "rejected"):
        return journal_answer_record(journal_id=journal.pk, answer=answer)
    return journal


def expense_postings_resume(*, older_than: dt.timedelta = dt.timedelta(minutes=5)) -> dict[str, int]:
    """Periodic: post journals left ready or sending (ERP was down, a worker died) and ask about submitted ones."""
    cutoff = timezone.now() - older_than
    pending = list(Journal.objects.filter(status__in=[JournalStatus.READY, JournalStatus.SENDING],
                                          updated_at__lt=cutoff).values_list("pk", flat=True)[:1000])
    submitted = list(Journal.objects.filter(status=JournalStatus.SUBMITTED).values_list("pk", flat=True)[:1000])
    for pk in pending:
        expense_journal_post(journal_id=pk)
    for pk in submitted:
        expense_journal_follow_up(journal_id=pk)
    from apps.connectors.models import Connection

    platforms = Connection.objects.filter(partner_kind="expense", active=True).values("partner_ref")
    untold = list(ExpenseReport.objects.filter(updated_at__lt=cutoff, platform__in=platforms).filter(
        Q(status__in=[ReportStatus.POSTED, ReportStatus.REIMBURSING], platform_state="") |
        (Q(status=ReportStatus.REIMBURSED) & ~Q(platform_state="paid"))).values_list("pk", "status")[:1000])
    for pk, status in untold:
        expense_platform_update(report_id=pk, state="paid" if status == ReportStatus.REIMBURSED else "exported")
    return {"posted_again": len(pending), "followed_up": len(submitted), "platform_updates": len(untold)}


# -- retry, repost ---------------------------------------------------------------------------------------------------

def expense_report_retry(case) -> str:
    """Retry handler of ``expense.posting_blocked``: validate again with today's master data and post."""
    report = case.subject
    if not isinstance(report, ExpenseReport):
        raise RetryFailed("The case is not about an expense report.")
    if report.status != ReportStatus.BLOCKED:
        raise RetryFailed(f"The report is {report.get_status_display().lower()}, not blocked.")
    expense_reports_process(report_ids=[report.pk])
    report.refresh_from_db()
    if report.status == ReportStatus.BLOCKED:
        raise RetryFailed("; ".join(f"{p.get('line') and 'line ' + p['line'] + ' '}{p['field']}: {p['message']}"
                                    for p in report.problems) or "still blocked")
    for journal in report.journals.filter(status=JournalStatus.READY):
        expense_journal_post(journal_id=journal.pk)
    report.refresh_from_db()
    if report.status == ReportStatus.BLOCKED:
        raise RetryFailed("; ".join(p["message"] for p in report.problems) or "the ERP rejected it again")
    if report.status == ReportStatus.READY:
        return "validated; the ERP is not reachable yet, the journal is posted as soon as it is back"
    return f"posted as {report.erp_document_number}" if report.erp_document_number else "submitted to the ERP"


def _lock_report(report_id: int, actor) -> ExpenseReport:
    report = ExpenseReport.objects.select_for_update().select_related("entity").filter(pk=report_id).first()
    if report is None or (actor is not None and not can_access_entity(user=actor, entity_id=report.entity_id)):
        raise NotFound(f"Expense report {report_id} does not exist.")
    return report


@transaction.atomic
def expense_report_repost_request(*, report_id: int, actor, reason: str) -> ExpenseReport:
    """Ask to post a report blocked by a closed period into the next open one. Needs a second person's approval."""
    _require(actor, "expenses.post_expensereport", "repost expense reports")
    report = _lock_report(report_id, actor)
    if report.status != ReportStatus.BLOCKED or not any(p.get("code") == "period_closed" for p in report.problems):
        raise ValidationFailed("Only a report blocked by a closed period can be reposted into another period.")
    lines = list(report.lines.all())
    md: MasterData = master_data_load([report.entity_id])[report.entity_id]
    from apps.expenses.validation import posting_date_of

    target = md.next_open_period(posting_date_of(report, lines))
    if target is None:
        raise ValidationFailed(f"{report.entity.code}'s ERP has no open period after {posting_date_of(report, lines)};"
                               " ask controlling to open one (then sync master data).")
    report.repost_period, report.repost_requested_by = target.code, _user(actor)
    REPORT_TRANSITIONS.move(report, to=ReportStatus.REPOST_PENDING, actor=actor,
                            reason=f"repost into {target.code} requested: {reason}"[:100],
                            also=["repost_period", "repost_requested_by"])
    event_emit("expense_report.repost_requested", report, _payload(report, period=target.code, reason=reason),
               actor=actor)
    return report


def expense_report_repost_approve(*, report_id: int, actor) -> ExpenseReport:
    """A second person approves the repost: the report is booked on the first day of the open period and posted."""
    _require(actor, "expenses.approve_repost", "approve reposts")
    with transaction.atomic():
        report = _lock_report(report_id, actor)
        if report.status != ReportStatus.REPOST_PENDING:
            raise ValidationFailed("No repost of this report is waiting for approval.")
        if report.repost_requested_by_id and actor is not None and report.repost_requested_by_id == actor.pk:
            raise PermissionDenied("You asked for this repost; another person must approve it.")
        md = master_data_load([report.entity_id])[report.entity_id]
        period = md.get(MasterKind.PERIOD, report.repost_period)
        if period is None or period.data.get("status") != "open":
            raise ValidationFailed(f"Period {report.repost_period} is not open any more; request the repost again.")
        report.posting_date, report.repost_approved_by = period.valid_from, _user(actor)
        audited_save(report, actor=actor, reason=f"repost into {report.repost_period} approved",
                     update_fields=["posting_date", "repost_approved_by"])
        event_emit("expense_report.repost_approved", report, _payload(report, period=report.repost_period),
                   actor=actor)
    expense_reports_process(report_ids=[report.pk], actor=actor)
    report.refresh_from_db()
    for journal in report.journals.filter(status=JournalStatus.READY):
        expense_journal_post(journal_id=journal.pk)
    report.refresh_from_db()
    return report


@transaction.atomic
def expense_report_repost_reject(*, report_id: int, actor, reason: str) -> ExpenseReport:
    _require(actor, "expenses.approve_repost", "reject reposts")
    report = _lock_report(report_id, actor)
    if report.status != ReportStatus.REPOST_PENDING:
        raise ValidationFailed("No repost of this report is waiting for approval.")
    REPORT_TRANSITIONS.move(report, to=ReportStatus.BLOCKED, actor=actor, reason=f"repost refused: {reason}"[:100])
    return report


# -- the expense platform --------------------------------------------------------------------------------------------

def _queue_platform_update(report_id: int, state: str) -> None:
    from apps.expenses.tasks import expense_platform_update_task

    expense_platform_update_task.delay(report_id, state)


def expense_platform_update(*, report_id: int, state: str) -> ExpenseReport:
    """Tell the platform the report was exported (posted) or paid. Idempotent on the platform's side."""
    from apps.connectors.models import Connection
    from apps.connectors.services import get_expense_source

    report = ExpenseReport.objects.get(pk=report_id)
    order = {"": 0, "exported": 1, "paid": 2}
    if order.get(report.platform_state, 0) >= order[state]:
        return report
    conn = (Connection.objects.filter(partner_kind="expense", partner_ref=report.platform, active=True)
            .filter(fallback_for__isnull=True).order_by("code").first())
    if conn is None:
        logger.info("report %s: no active connection to platform %s; it is not told %s", report.pk, report.platform,
                    state)
        return report
    try:
        get_expense_source(conn).mark_exported([report.external_id], state=state)
    except ApplicationError as exc:  # recorded on the SyncRun (and a case if the platform stays down); resumed later
        logger.info("report %s: platform %s not told %s yet: %s", report.pk, report.platform, state, exc.message)
        return report
    with transaction.atomic():
        report = ExpenseReport.objects.select_for_update().get(pk=report_id)
        if order.get(report.platform_state, 0) < order[state]:
            report.platform_state = state
            audited_save(report, actor=None, reason=f"platform told: {state}", update_fields=["platform_state"])
    return report


# -- reimbursement ---------------------------------------------------------------------------------------------------

def _employee_creditor(report: ExpenseReport, md: MasterData) -> dict:
    employee = md.get(MasterKind.EMPLOYEE, report.employee_id)
    if employee is None:
        raise ValidationFailed(f"employee {report.employee_id} is not in {report.entity.code}'s master data.")
    data = employee.data
    creditor = {"name": employee.name or report.employee_name, "counterparty_ref": report.employee_id[:50]}
    if data.get("iban"):
        creditor["iban"] = data["iban"]
        if data.get("bic"):
            creditor["bic"] = data["bic"]
    elif data.get("account_number"):
        creditor["account_number"], creditor["routing"] = data["account_number"], data.get("routing", "")
    else:
        raise ValidationFailed(f"employee {report.employee_id} has no bank details in {report.entity.code}'s ERP.")
    address = {"street": data.get("street"), "postal_code": data.get("postal_code"), "town": data.get("town"),
               "country": data.get("country") or report.entity.country}
    creditor["address"] = {k: v for k, v in address.items() if v}
    return creditor


def _reimbursement_account(entity: LegalEntity, currency: str, policy: ExpensePolicy | None):
    from apps.org.models import BankAccount

    if policy and policy.reimbursement_account and policy.reimbursement_account.currency == currency:
        return policy.reimbursement_account
    return BankAccount.objects.filter(entity=entity, currency=currency, active=True).order_by("pk").first()


def expense_reimbursements_create(*, day: dt.date | None = None) -> list[int]:
    """Batch posted, unpaid reports per entity and currency into reimbursement payment batches (one per entity,
    currency and day), through the payments pipeline: validation, duplicate checks, approvals."""
    from apps.payments.models import PaymentBatch
    from apps.payments.services import payment_batch_receive
    from apps.payments.validation import next_business_day

    day = day or timezone.localdate()
    groups: dict[tuple[int, str], list[ExpenseReport]] = defaultdict(list)
    for report in (ExpenseReport.objects.select_related("entity")
                   .filter(status=ReportStatus.POSTED, reimbursement__isnull=True).order_by("pk")):
        groups[(report.entity_id, report.currency)].append(report)
    batches = []
    for (entity_id, currency), reports in groups.items():
        entity = reports[0].entity
        md = master_data_load([entity_id])[entity_id]
        policy = _policies([entity_id]).get(entity_id)
        debtor = _reimbursement_account(entity, currency, policy)
        instructions, included = [], []
        for report in reports:
            try:
                if debtor is None:
                    raise ValidationFailed(f"{entity.code} has no active {currency} bank account to pay "
                                           "reimbursements from; set the expense policy's reimbursement account.")
                creditor = _employee_creditor(report, md)
            except ValidationFailed as exc:
                _reimbursement_problem(report, exc.message)
                continue
            instructions.append({
                "end_to_end_id": f"EXP{report.pk:010d}", "amount": str(report.total), "currency": currency,
                "creditor": creditor, "remittance_information": f"Expense report {report.external_id}"[:140],
                "purpose": "", "erp_reference": report.external_id[:100]})
            included.append(report)
        if not included:
            continue
        seq = PaymentBatch.objects.filter(entity=entity, erp_reference__startswith=f"EXP-{entity.code}-{day:%Y%m%d}-"
                                          ).count() + 1
        reference = f"EXP-{entity.code}-{day:%Y%m%d}-{currency}-{seq}"
        data = {"entity": entity.code, "debtor_account": debtor.iban or str(debtor.pk),
                "requested_execution_date": next_business_day(day + dt.timedelta(days=1), currency),
                "erp_reference": reference, "instructions": instructions}
        try:
            batch = payment_batch_receive(data=data, source="reimbursement", actor=None,
                                          raw=json.dumps(data, cls=DjangoJSONEncoder).encode())
        except ValidationFailed as exc:
            for report in included:
                _reimbursement_problem(report, exc.message)
            continue
        by_e2e = {i.end_to_end_id: i for i in batch.instructions.all()}
        with transaction.atomic():
            for report in included:
                report = ExpenseReport.objects.select_for_update().get(pk=report.pk)
                report.reimbursement = by_e2e[f"EXP{report.pk:010d}"]
                REPORT_TRANSITIONS.move(report, to=ReportStatus.REIMBURSING, actor=None,
                                        reason=f"in payment batch {reference}", also=["reimbursement"])
                event_emit("expense_report.reimbursing", report, _payload(report, batch=reference))
        batches.append(batch.pk)
    return batches


def _reimbursement_problem(report: ExpenseReport, message: str) -> None:
    with transaction.atomic():
        case_open(kind=REIMBURSEMENT_KIND, subject=report, legal_entity=report.entity, amount=report.total,
                  currency=report.currency, reason_code="reimbursement",
                  message=f"{report.platform} report {report.external_id} ({report.employee_name or report.employee_id},"
                  f" {report.total} {report.currency}) cannot be reimbursed: {message}")


def reimbursement_status_subscriber(event) -> None:
    """Outbox subscriber: a reimbursement's payment status moves its report (and tells the platform when paid)."""
    if event.aggregate_type != "payments.paymentinstruction" or not event.type.startswith("payment_instruction."):
        return
    outcome = event.type.split(".", 1)[1]
    if outcome not in ("accepted", "settled", "rejected", "returned", "cancelled"):
        return
    for report in ExpenseReport.objects.select_for_update().select_related("entity").filter(
            reimbursement_id=int(event.aggregate_id)):
        if outcome in ("accepted", "settled") and report.status == ReportStatus.REIMBURSING:
            REPORT_TRANSITIONS.move(report, to=ReportStatus.REIMBURSED, actor=None, reason=f"payment {outcome}")
            event_emit("expense_report.reimbursed", report, _payload(report))
            transaction.on_commit(lambda pk=report.pk: _queue_platform_update(pk, "paid"))
        elif outcome in ("rejected", "returned", "cancelled") and report.status in (ReportStatus.REIMBURSING,
                                                                                     ReportStatus.REIMBURSED):
            REPORT_TRANSITIONS.move(report, to=ReportStatus.REIMBURSEMENT_FAILED, actor=None,
                                    reason=f"payment {outcome}")
            reason = event.payload.get("reason_code") or event.payload.get("reason") or outcome
            case_open(kind=REIMBURSEMENT_KIND, subject=report, legal_entity=report.entity, amount=report.total,
                      currency=report.currency, reason_code=str(reason)[:20],
                      message=f"The reimbursement of {report.platform} report {report.external_id} to "
                      f"{report.employee_name or report.employee_id} ({report.total} {report.currency}) was "
                      f"{outcome} by the bank ({reason}). Correct the employee's bank details in the ERP, sync, "
                      "then retry.")
            event_emit("expense_report.reimbursement_failed", report, _payload(report, reason=str(reason)))


def expense_reimbursement_retry(case) -> str:
    """Retry handler of ``expense.reimbursement_failed``: put the report into the next reimbursement batch."""
    report = case.subject
    if not isinstance(report, ExpenseReport):
        raise RetryFailed("The case is not about an expense report.")
    with transaction.atomic():
        report = ExpenseReport.objects.select_for_update().get(pk=report.pk)
        if report.status == ReportStatus.REIMBURSEMENT_FAILED:
            report.reimbursement = None
            report.status = ReportStatus.POSTED  # back in line for the next batch; history records it
            audited_save(report, actor=None, reason="reimbursement to be retried",
                         update_fields=["reimbursement", "status"])
    batches = expense_reimbursements_create()
    report.refresh_from_db()
    if report.status != ReportStatus.REIMBURSING:
        raise RetryFailed("The report could not be put into a reimbursement batch; see the new case message.")
    return f"in payment batch {report.reimbursement.batch.erp_reference}" if batches else "queued"


# -- documents pulled by connectors ----------------------------------------------------------------------------------

def connector_documents_subscriber(event) -> None:
    """Outbox subscriber: approved reports and master data pulled by connectors are imported by tasks."""
    if event.type != "connection.documents_received":
        return
    operation = event.payload.get("operation")
    if operation not in ("pull_approved_reports", "pull_master_data"):
        return
    from apps.expenses.tasks import expense_document_import_task, master_data_import_task

    task = expense_document_import_task if operation == "pull_approved_reports" else master_data_import_task
    connection_code = event.payload.get("connection", "")
    for document_id in event.payload.get("documents") or []:
        transaction.on_commit(lambda pk=document_id: task.delay(pk, connection_code))


def intake_failure_record(*, document_id: int, message: str, kind: str = "expense.intake_rejected") -> None:
    """A pulled or pushed document we cannot take: the raw document stays, a person sees why."""
    document = RawDocument.objects.get(pk=document_id)
    with transaction.atomic():
        case_open(kind=kind, subject=document, raw_document=document, reason_code="invalid",
                  message=f"{document.filename or 'document'} from {document.source} was not taken: {message}")


# -- configuration ---------------------------------------------------------------------------------------------------

@transaction.atomic
def expense_policy_upsert(*, entity_code: str, reimbursement_account: str = "", payable_account: str = "",
                          rounding_account: str = "", tax_tolerance: str | Decimal | None = None, actor=None,
                          reason: str = "config_load") -> tuple[ExpensePolicy, str, dict]:
    """Create or update an entity's expense policy (config_load section ``expense_policies``)."""
    from apps.org.models import BankAccount

    _require(actor, "expenses.change_expensepolicy", "change expense policies")
    entity = LegalEntity.objects.filter(code=entity_code).first()
    if entity is None:
        raise ValidationFailed(f"entity: no legal entity {entity_code!r}.", {"field": "entity"})
    account = None
    if reimbursement_account:
        account = (BankAccount.objects.filter(entity=entity, iban=reimbursement_account.replace(" ", "")).first()
                   or BankAccount.objects.filter(entity=entity, account_number=reimbursement_account).first())
        if account is None:
            raise ValidationFailed(f"reimbursement_account: {reimbursement_account!r} is not a bank account of "
                                   f"{entity.code}.", {"field": "reimbursement_account"})
    tolerance = Decimal(str(tax_tolerance)) if tax_tolerance not in (None, "") else Decimal("0.02")
    if tolerance < 0:
        raise ValidationFailed("tax_tolerance: must not be negative.", {"field": "tax_tolerance"})
    policy = ExpensePolicy.objects.select_for_update().filter(entity=entity).first()
    created = policy is None
    policy = policy or ExpensePolicy(entity=entity)
    values = {"reimbursement_account_id": account.pk if account else None, "payable_account": payable_account,
              "rounding_account": rounding_account, "tax_tolerance": tolerance}
    changes = {k: (None if created else getattr(policy, k), v) for k, v in values.items()
               if created or getattr(policy, k) != v}
    if not changes:
        return policy, "unchanged", {}
    for key, value in values.items():
        setattr(policy, key, value)
    audited_save(policy, actor=actor, reason=reason)
    return policy, "created" if created else "updated", changes
