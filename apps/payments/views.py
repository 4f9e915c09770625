"""Console pages of payments out (HTMX): the batch list, a batch with its instructions, flags, approvals, files and
timeline, and the approvals inbox.

Each view parses input, calls selectors (reads, filtered by the user's entities) or one service, and renders. A
batch of an entity the user may not see is a 404, exactly as if it did not exist. Domain refusals (maker-checker,
held instructions, a missing reason) come back as ``ApplicationError`` and are shown where the user acted.

The read helpers in the "reads" section below (counts, timeline, what changed since the last approval, the inbox)
are written as selectors: keyword-only, user-scoped, no writes. They belong in ``selectors.py``.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ApplicationError
from apps.core.roles import TREASURY, has_role, user_roles
from apps.core.services import document_open
from apps.org.selectors import counterparty_list, entity_list
from apps.payments import selectors, services
from apps.payments.filters import BatchFilter
from apps.payments.forms import BatchActionForm, FlagClearForm
from apps.payments.models import (
    BATCH_TRANSITIONS,
    Approval,
    BatchStatus,
    FlagKind,
    InstructionStatus,
    PaymentBatch,
    PaymentFile,
    PaymentFlag,
    PaymentInstruction,
)
from apps.payments.reasons import explain

PAGE_SIZE = 25
INSTRUCTION_PAGE_SIZE = 100
MAX_FLAGS_SHOWN = 200
MAX_CHANGES_SHOWN = 50

VIEW_BATCH = "payments.view_paymentbatch"
APPROVE = "payments.approve_paymentbatch"

BATCH_SORTS = {
    "": ("Newest first", ("-created_at", "-pk")),
    "execution": ("Execution date", ("requested_execution_date", "-pk")),
    "-execution": ("Execution date, latest first", ("-requested_execution_date", "-pk")),
    "-amount": ("Largest total", ("-total_amount", "-pk")),
    "amount": ("Smallest total", ("total_amount", "-pk")),
    "entity": ("Entity", ("entity__code", "-created_at", "-pk")),
    "status": ("Status", ("status", "-created_at", "-pk")),
}
HISTORY_NOISE = ["updated_at", "created_at", "content_sha256"]


# --- reads (selectors: they belong in apps/payments/selectors.py) ------------------------------------------------

def batch_with_counts(queryset: QuerySet[PaymentBatch]) -> QuerySet[PaymentBatch]:
    """Annotate live approvals (bound to the current content), held instructions and open holding flags."""
    live = (Approval.objects.filter(batch=OuterRef("pk"), voided_at__isnull=True,
                                    content_sha256=OuterRef("content_sha256"))
            .order_by().values("batch").annotate(n=Count("pk")).values("n"))
    held = (PaymentInstruction.objects.filter(batch=OuterRef("pk"), status=InstructionStatus.HELD)
            .order_by().values("batch").annotate(n=Count("pk")).values("n"))
    flags = (PaymentFlag.objects.filter(instruction__batch=OuterRef("pk"), holds=True, cleared_at__isnull=True)
             .order_by().values("instruction__batch").annotate(n=Count("pk")).values("n"))
    return queryset.annotate(
        live_approvals=Coalesce(Subquery(live, output_field=IntegerField()), 0),
        held_count=Coalesce(Subquery(held, output_field=IntegerField()), 0),
        open_flags=Coalesce(Subquery(flags, output_field=IntegerField()), 0),
    )


def batch_timeline(*, batch: PaymentBatch) -> list[dict]:
    """The batch's history, newest first: who, when, the status, what changed and why."""
    records = list(batch.history.select_related("history_user").order_by("history_date", "history_id"))
    entries = []
    for n, record in enumerate(records):
        changes = []
        if n:
            delta = record.diff_against(records[n - 1], excluded_fields=[*HISTORY_NOISE, "status"])
            changes = [(c.field, c.old, c.new) for c in delta.changes]
        entries.append({
            "when": record.history_date,
            "who": record.history_user.username if record.history_user else "system",
            "type": {"+": "created", "~": "changed", "-": "deleted"}[record.history_type],
            "status": record.get_status_display(),
            "reason": record.history_change_reason or "",
            "changes": changes,
        })
    entries.reverse()
    return entries


def _approval_baseline(batch: PaymentBatch) -> tuple:
    """Since when changes count: the earliest live approval, else the moment the batch was put up for approval."""
    first = (batch.approvals.filter(voided_at__isnull=True, content_sha256=batch.content_sha256)
             .select_related("approver").order_by("created_at").first())
    if first is not None:
        return first.created_at, f"the first live approval ({first.approver.username})"
    put_up = (batch.history.filter(status=BatchStatus.PENDING_APPROVAL).order_by("history_date", "history_id")
              .values_list("history_date", flat=True).first())
    return put_up or batch.created_at, "receipt"


def batch_changes(*, batch: PaymentBatch, user) -> dict:
    """What an approver must know before approving: approvals voided and why, every change to an instruction
    since the earliest live approval (or since receipt), and which bank details changed."""
    since, since_label = _approval_baseline(batch)
    voided = list(batch.approvals.filter(voided_at__isnull=False).select_related("approver").order_by("-voided_at"))
    records = list(
        PaymentInstruction.history.filter(batch_id=batch.pk, history_type="~", history_date__gt=since)
        .select_related("history_user").order_by("history_date", "history_id")[:MAX_CHANGES_SHOWN + 1]
    )
    changes = []
    for record in records[:MAX_CHANGES_SHOWN]:
        previous = record.prev_record
        if previous is None:
            continue
        delta = record.diff_against(previous, excluded_fields=HISTORY_NOISE)
        if delta.changes:
            changes.append({
                "when": record.history_date, "end_to_end_id": record.end_to_end_id,
                "who": record.history_user.username if record.history_user else "system",
                "reason": record.history_change_reason or "",
                "changes": [(c.field, c.old, c.new) for c in delta.changes],
            })
    bank_flags = list(PaymentFlag.objects.filter(instruction__batch=batch, kind=FlagKind.BANK_DETAILS_CHANGED)
                      .select_related("instruction", "cleared_by").order_by("cleared_at", "created_at"))
    recent = timezone.now() - timedelta(days=services.BANK_DETAILS_RECENT_DAYS)
    counterparties = []
    for counterparty in (counterparty_list(user=user)
                         .filter(pk__in=batch.instructions.values("counterparty_id"), bank_details_changed_at__gte=recent)
                         .order_by("name")[:20]):
        change = _bank_detail_change(counterparty)
        if change is not None:
            counterparties.append({"counterparty": counterparty, **change})
    return {"since": since, "since_label": since_label, "voided": voided, "changes": changes,
            "more_changes": len(records) > MAX_CHANGES_SHOWN, "bank_flags": bank_flags,
            "counterparties": counterparties}


def _bank_detail_change(counterparty) -> dict | None:
    """The counterparty's latest change of bank details (a record created recently is not a change)."""
    records = list(counterparty.history.select_related("history_user").order_by("-history_date", "-history_id")[:10])
    for n, record in enumerate(records[:-1]):
        delta = record.diff_against(records[n + 1], included_fields=["iban", "bic", "account_number", "routing_code"])
        if delta.changes:
            return {"when": record.history_date, "reason": record.history_change_reason or "",
                    "who": record.history_user.username if record.history_user else "system",
                    "changes": [(c.field, c.old, c.new) for c in delta.changes]}
    return None


def approval_blocker(*, batch: PaymentBatch, user) -> str:
    """Why ``user`` may not approve ``batch`` now ("" if they may). The service decides; this only explains."""
    if user.pk == batch.created_by_id:
        return "you submitted this batch"
    if user.pk == batch.last_edited_by_id:
        return "you last changed this batch"
    if any(a.approver_id == user.pk and a.voided_at is None for a in batch.approvals.all()):
        return "you have approved it already"
    if batch.required_roles and not (set(batch.required_roles) & user_roles(user)) and not user.is_superuser:
        return f"it needs an approver with the role {' or '.join(batch.required_roles)}"
    return ""


def approval_inbox(*, user) -> QuerySet[PaymentBatch]:
    """Batches pending approval that the user can see; the ones they made or last changed sort last."""
    if not user.has_perm(APPROVE):
        return PaymentBatch.objects.none()
    mine = Case(When(Q(created_by=user) | Q(last_edited_by=user), then=Value(1)), default=Value(0),
                output_field=IntegerField())
    return batch_with_counts(selectors.batch_list(user=user).filter(status=BatchStatus.PENDING_APPROVAL)) \
        .annotate(mine=mine).order_by("mine", "requested_execution_date", "created_at", "pk")


def approval_pending_count(*, user) -> int:
    """Pending batches the user could still approve: not their own, not approved by them already."""
    if not user.has_perm(APPROVE):
        return 0
    approved = Approval.objects.filter(approver=user, voided_at__isnull=True).values("batch")
    return (selectors.batch_list(user=user).filter(status=BatchStatus.PENDING_APPROVAL)
            .exclude(created_by=user).exclude(last_edited_by=user).exclude(pk__in=approved).count())


# --- helpers -----------------------------------------------------------------------------------------------------

def _require(request, *perms: str) -> None:
    if not any(request.user.has_perm(p) for p in perms):
        raise DjangoPermissionDenied


def _params(request) -> QueryDict:
    """The query string without the empty values a form sends for "any" (no filter, not an invalid one)."""
    params = request.GET.copy()
    for key in list(params):
        values = [v for v in params.getlist(key) if v != ""]
        if values:
            params.setlist(key, values)
        else:
            del params[key]
    return params


def _partial(request, target: str) -> bool:
    return bool(request.htmx) and request.htmx.target == target


def _visible_batch(request, pk: int) -> PaymentBatch:
    batch = batch_with_counts(selectors.batch_list(user=request.user)).filter(pk=pk).first()
    if batch is None:
        raise Http404("No such payment batch")
    return batch


# --- batches -----------------------------------------------------------------------------------------------------

@login_required
@require_GET
def batch_list(request):
    _require(request, VIEW_BATCH)
    params = _params(request)
    sort = params.get("sort", "")
    if sort not in BATCH_SORTS:
        sort = ""
    base = selectors.batch_list(user=request.user)
    filterset = BatchFilter(params, queryset=base, request=request)
    qs = filterset.qs if filterset.is_valid() else base.none()
    errors = [f"{name}: {' '.join(msgs)}" for name, msgs in filterset.errors.items()]
    page = Paginator(batch_with_counts(qs).order_by(*BATCH_SORTS[sort][1]), PAGE_SIZE).get_page(request.GET.get("page"))
    query = params.copy()
    query.pop("page", None)
    context = {
        "filter": filterset, "page": page, "query": query.urlencode(), "filter_errors": errors, "params": params,
        "sort": sort, "sorts": [(k, label) for k, (label, _) in BATCH_SORTS.items()],
        "statuses": BatchStatus.choices, "selected_statuses": params.getlist("status"),
        "entities": entity_list(user=request.user).order_by("code"),
    }
    template = "payments/_batch_table.html" if _partial(request, "batches") else "payments/list.html"
    return render(request, template, context)


def _detail_context(request, batch: PaymentBatch, **extra) -> dict:
    user = request.user
    instructions = (batch.instructions.select_related("counterparty").prefetch_related("flags")
                    .order_by("position"))
    page = Paginator(instructions, INSTRUCTION_PAGE_SIZE).get_page(request.GET.get("ipage") or request.POST.get("ipage"))
    for instruction in page:
        instruction.reason = explain(instruction.bank_reason_code) if (
            instruction.bank_reason_code or instruction.bank_status == "RJCT") else None
    flags = list(PaymentFlag.objects.filter(instruction__batch=batch).select_related("instruction", "cleared_by")
                 .order_by("cleared_at", "-holds", "created_at")[:MAX_FLAGS_SHOWN])
    may_clear = user.has_perm("payments.change_paymentinstruction") or user.has_perm(APPROVE)
    is_treasury = has_role(user, TREASURY)
    for flag in flags:
        flag.can_clear = (flag.holds and flag.cleared_at is None and may_clear
                          and (flag.kind != FlagKind.BANK_DETAILS_CHANGED or is_treasury))
    approvals = list(batch.approvals.select_related("approver").order_by("created_at"))
    pending = batch.status == BatchStatus.PENDING_APPROVAL
    context = {
        "batch": batch, "instructions": page, "flags": flags, "approvals": approvals,
        "still_needed": max(batch.required_approvals - batch.live_approvals, 0) if pending else 0,
        "files": list(batch.files.select_related("raw_document", "bank_partner").order_by("-created_at")),
        "timeline": batch_timeline(batch=batch) if user.has_perm("payments.view_historicalpaymentbatch") else None,
        "can_approve": pending and user.has_perm(APPROVE),
        "can_cancel": BATCH_TRANSITIONS.allowed(batch.status, BatchStatus.CANCELLED) and (
            user.has_perm("payments.change_paymentbatch") or user.has_perm(APPROVE)),
        "blocker": approval_blocker(batch=batch, user=user) if pending else "",
    }
    context.update(extra)
    return context


@login_required
@require_GET
def batch_detail(request, pk: int):
    batch = _visible_batch(request, pk)
    template = "payments/_batch_body.html" if _partial(request, "batch") else "payments/detail.html"
    return render(request, template, _detail_context(request, batch))


def _act(request, batch_id: int, form: BatchActionForm) -> PaymentBatch:
    action, reason, actor = form.cleaned_data["action"], form.cleaned_data["reason"], request.user
    if action == "approve":
        return services.payment_batch_approve(batch_id=batch_id, actor=actor)
    if action == "reject":
        return services.payment_batch_reject(batch_id=batch_id, actor=actor, reason=reason)
    return services.payment_batch_cancel(batch_id=batch_id, actor=actor, reason=reason)


DONE = {"approve": "Your approval is recorded", "reject": "Batch rejected", "cancel": "Batch cancelled"}


@login_required
@require_POST
def batch_action(request, pk: int):
    batch = _visible_batch(request, pk)
    form = BatchActionForm(request.POST)
    if form.is_valid() and form.cleaned_data["action"] in ("approve", "reject"):
        _require(request, APPROVE)
    error = notice = ""
    if not form.is_valid():
        error = form.first_error()
    else:
        try:
            _act(request, batch.pk, form)
        except ApplicationError as exc:
            error = exc.message
        else:
            notice = DONE[form.cleaned_data["action"]]
    batch = _visible_batch(request, pk)
    if notice:
        notice = f"{notice}: batch {batch.erp_reference} is {batch.get_status_display().lower()}."
    if request.htmx:
        if request.POST.get("from") == "inbox":
            return render(request, "payments/_inbox_item.html", {
                "batch": batch, "error": error, "notice": notice, "oob_count": True,
                "blocker": approval_blocker(batch=batch, user=request.user),
                "changes": batch_changes(batch=batch, user=request.user),
                "pending_count": approval_pending_count(user=request.user),
            })
        return render(request, "payments/_batch_body.html",
                      _detail_context(request, batch, error=error, notice=notice))
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    if request.POST.get("from") == "inbox":
        return redirect("payments:inbox")
    return redirect("payments:detail", pk=pk)


@login_required
@require_POST
def flag_clear(request, pk: int):
    flag = (PaymentFlag.objects.select_related("instruction")
            .filter(pk=pk, instruction__batch__in=selectors.batch_list(user=request.user).values("pk")).first())
    if flag is None:
        raise Http404("No such flag")
    _require(request, "payments.change_paymentinstruction", APPROVE)
    form = FlagClearForm(request.POST)
    error = notice = ""
    if not form.is_valid():
        error = form.first_error()
    else:
        try:
            services.payment_flag_clear(flag_id=flag.pk, actor=request.user, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            error = exc.message
        else:
            notice = f"Flag on {flag.instruction.end_to_end_id} cleared."
    batch = _visible_batch(request, flag.instruction.batch_id)
    if request.htmx:
        return render(request, "payments/_batch_body.html",
                      _detail_context(request, batch, flag_error=error, flag_error_id=flag.pk, notice=notice))
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("payments:detail", pk=batch.pk)


@login_required
@require_GET
def file_download(request, pk: int):
    file = (PaymentFile.objects.select_related("raw_document")
            .filter(pk=pk, batch__in=selectors.batch_list(user=request.user).values("pk")).first())
    if file is None:
        raise Http404("No such payment file")
    _require(request, "core.download_rawdocument")
    doc = file.raw_document
    return FileResponse(
        document_open(doc), as_attachment=True, filename=doc.filename or f"{file.message_id}.xml",
        content_type=doc.media_type or "application/octet-stream",
    )


# --- approvals inbox ---------------------------------------------------------------------------------------------

@login_required
@require_GET
def approval_inbox_page(request):
    _require(request, APPROVE)
    page = Paginator(approval_inbox(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    items = [{"batch": b, "blocker": approval_blocker(batch=b, user=request.user),
              "changes": batch_changes(batch=b, user=request.user)} for b in page]
    return render(request, "payments/inbox.html", {
        "page": page, "items": items, "query": "", "pending_count": approval_pending_count(user=request.user)})


@login_required
@require_GET
def approval_count(request):
    """The nav's "(N pending)", loaded after the page so that no other app's view has to count batches."""
    if not request.user.has_perm(APPROVE):
        return HttpResponse("")
    return render(request, "payments/_pending_count.html",
                  {"pending_count": approval_pending_count(user=request.user)})
