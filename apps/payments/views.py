"""Console pages of payments out (HTMX): the batch list, a batch with its instructions, flags, approvals, files and
timeline, and the approvals inbox.

Each view parses input, calls selectors (reads, filtered by the user's entities) or one service, and renders. A
batch of an entity the user may not see is a 404, exactly as if it did not exist. Domain refusals (maker-checker,
held instructions, a missing reason) come back as ``ApplicationError`` and are shown where the user acted.

The read helpers in the "reads" section below (counts, timeline, what changed since the last approval, the inbox)
are written as selectors: keyword-only, user-scoped, no writes. They belong in ``selectors.py``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.console.http import filter_params, htmx_target, require_any_perm
from apps.core.errors import ApplicationError
from apps.core.roles import TREASURY, has_role
from apps.core.services import document_open
from apps.org.selectors import entity_list
from apps.payments import selectors, services
from apps.payments.filters import BatchFilter
from apps.payments.forms import BatchActionForm, FlagClearForm
from apps.payments.models import (
    BATCH_TRANSITIONS,
    BatchStatus,
    FlagKind,
    PaymentBatch,
    PaymentFile,
    PaymentFlag,
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


# --- helpers -----------------------------------------------------------------------------------------------------




def _visible_batch(request, pk: int) -> PaymentBatch:
    batch = selectors.batch_with_counts(selectors.batch_list(user=request.user)).filter(pk=pk).first()
    if batch is None:
        raise Http404("No such payment batch")
    return batch


# --- batches -----------------------------------------------------------------------------------------------------

@login_required
@require_GET
def batch_list(request):
    require_any_perm(request, VIEW_BATCH)
    params = filter_params(request)
    sort = params.get("sort", "")
    if sort not in BATCH_SORTS:
        sort = ""
    base = selectors.batch_list(user=request.user)
    filterset = BatchFilter(params, queryset=base, request=request)
    qs = filterset.qs if filterset.is_valid() else base.none()
    errors = [f"{name}: {' '.join(msgs)}" for name, msgs in filterset.errors.items()]
    page = Paginator(selectors.batch_with_counts(qs).order_by(*BATCH_SORTS[sort][1]), PAGE_SIZE).get_page(request.GET.get("page"))
    query = params.copy()
    query.pop("page", None)
    context = {
        "filter": filterset, "page": page, "query": query.urlencode(), "filter_errors": errors, "params": params,
        "sort": sort, "sorts": [(k, label) for k, (label, _) in BATCH_SORTS.items()],
        "statuses": BatchStatus.choices, "selected_statuses": params.getlist("status"),
        "entities": entity_list(user=request.user).order_by("code"),
    }
    template = "payments/_batch_table.html" if htmx_target(request, "batches") else "payments/list.html"
    return render(request, template, context)


def _detail_context(request, batch: PaymentBatch, **extra) -> dict:
    user = request.user
    instructions = (batch.instructions.select_related("counterparty").prefetch_related("flags")
                    .order_by("position"))
    ipage = request.GET.get("ipage") or request.POST.get("ipage")
    page = Paginator(instructions, INSTRUCTION_PAGE_SIZE).get_page(ipage)
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
        "timeline": selectors.batch_timeline(batch=batch) if user.has_perm("payments.view_historicalpaymentbatch") else None,
        "can_approve": pending and user.has_perm(APPROVE),
        "can_cancel": BATCH_TRANSITIONS.allowed(batch.status, BatchStatus.CANCELLED) and (
            user.has_perm("payments.change_paymentbatch") or user.has_perm(APPROVE)),
        "blocker": selectors.approval_blocker(batch=batch, user=user) if pending else "",
        "erp": selectors.batch_erp_exchange(batch=batch),
    }
    context.update(extra)
    return context


@login_required
@require_GET
def batch_detail(request, pk: int):
    batch = _visible_batch(request, pk)
    template = "payments/_batch_body.html" if htmx_target(request, "batch") else "payments/detail.html"
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
        require_any_perm(request, APPROVE)
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
                "blocker": selectors.approval_blocker(batch=batch, user=request.user),
                "changes": selectors.batch_changes(batch=batch, user=request.user),
                "pending_count": selectors.approval_pending_count(user=request.user),
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
    require_any_perm(request, "payments.change_paymentinstruction", APPROVE)
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
    require_any_perm(request, "core.download_rawdocument")
    doc = file.raw_document
    return FileResponse(
        document_open(doc), as_attachment=True, filename=doc.filename or f"{file.message_id}.xml",
        content_type=doc.media_type or "application/octet-stream",
    )


# --- approvals inbox ---------------------------------------------------------------------------------------------

@login_required
@require_GET
def approval_inbox_page(request):
    require_any_perm(request, APPROVE)
    page = Paginator(selectors.approval_inbox(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    items = [{"batch": b, "blocker": selectors.approval_blocker(batch=b, user=request.user),
              "changes": selectors.batch_changes(batch=b, user=request.user)} for b in page]
    return render(request, "payments/inbox.html", {
        "page": page, "items": items, "query": "", "pending_count": selectors.approval_pending_count(user=request.user)})


@login_required
@require_GET
def approval_count(request):
    """The nav's "(N pending)", loaded after the page so that no other app's view has to count batches."""
    if not request.user.has_perm(APPROVE):
        return HttpResponse("")
    return render(request, "payments/_pending_count.html",
                  {"pending_count": selectors.approval_pending_count(user=request.user)})
