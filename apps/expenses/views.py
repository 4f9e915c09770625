"""Console pages of expenses (HTMX): reports list and detail (lines, validation results, journals, ERP document
number, reimbursement, timeline, repost actions) and the master-data sync status per entity with "sync now".
Views parse input, call selectors or one service, and render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.console.http import filter_params, htmx_target, require_any_perm
from apps.core.errors import ApplicationError
from apps.exceptions.selectors import case_for_subject
from apps.expenses import selectors, services
from apps.expenses.filters import ReportFilter
from apps.expenses.models import ReportStatus
from apps.org.selectors import entity_list

VIEW = "expenses.view_expensereport"
PAGE_SIZE = 25


@login_required
@require_GET
def report_list(request):
    require_any_perm(request, VIEW)
    params = filter_params(request)
    filtered = ReportFilter(params, queryset=selectors.report_list(user=request.user).order_by("-created_at", "-pk"))
    errors = [f"{field}: {' '.join(msgs)}" for field, msgs in filtered.errors.items()] if not filtered.is_valid() else []
    qs = filtered.qs if not errors else selectors.report_list(user=request.user).none()
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = params.copy()
    query.pop("page", None)
    context = {"page": page, "params": params, "query": query.urlencode(), "filter_errors": errors,
               "entities": entity_list(user=request.user), "statuses": ReportStatus.choices,
               "selected_statuses": params.getlist("status")}
    template = "expenses/_report_table.html" if htmx_target(request, "reports") else "expenses/list.html"
    return render(request, template, context)


def _visible(request, pk: int):
    try:
        return selectors.report_get(user=request.user, pk=pk)
    except Exception:  # DoesNotExist for reports of other entities: exactly as if it did not exist
        raise Http404("No such expense report") from None


@login_required
@require_GET
def report_detail(request, pk: int):
    require_any_perm(request, VIEW)
    report = _visible(request, pk)
    user = request.user
    context = {
        "report": report, "lines": list(report.lines.all()),
        "journals": list(report.journals.order_by("-created_at").prefetch_related("lines")),
        "case": case_for_subject(subject=report, kind=services.BLOCKED_KIND)
        or case_for_subject(subject=report, kind=services.REIMBURSEMENT_KIND),
        "timeline": selectors.report_timeline(report=report)
        if user.has_perm("expenses.view_historicalexpensereport") else None,
        "can_request_repost": user.has_perm("expenses.post_expensereport") and report.status == ReportStatus.BLOCKED
        and any(p.get("code") == "period_closed" for p in report.problems),
        "can_decide_repost": user.has_perm("expenses.approve_repost") and report.status == ReportStatus.REPOST_PENDING
        and report.repost_requested_by_id != user.pk,
    }
    return render(request, "expenses/detail.html", context)


@login_required
@require_POST
def report_repost(request, pk: int):
    _visible(request, pk)
    action = request.POST.get("action", "")
    reason = request.POST.get("reason", "").strip()
    try:
        if action == "request":
            if not reason:
                raise ApplicationError("Give a reason for the repost (it is recorded).")
            services.expense_report_repost_request(report_id=pk, actor=request.user, reason=reason)
            messages.success(request, "Repost requested; another person must approve it.")
        elif action == "approve":
            report = services.expense_report_repost_approve(report_id=pk, actor=request.user)
            messages.success(request, f"Repost approved: the report is {report.get_status_display().lower()}.")
        elif action == "reject":
            if not reason:
                raise ApplicationError("Give a reason for refusing the repost.")
            services.expense_report_repost_reject(report_id=pk, actor=request.user, reason=reason)
            messages.success(request, "Repost refused.")
        else:
            raise ApplicationError("Unknown action.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("expenses:detail", pk=pk)


@login_required
@require_GET
def master_data(request):
    require_any_perm(request, "expenses.view_masterdatasync")
    return render(request, "expenses/master_data.html", {
        "rows": selectors.master_data_status(user=request.user),
        "can_sync": request.user.has_perm("connectors.run_connection")})


@login_required
@require_POST
def master_data_sync(request, code: str):
    from apps.connectors.services import connection_run_request

    require_any_perm(request, "connectors.run_connection")
    try:
        entity = selectors.entity_for_sync(user=request.user, code=code)
    except Exception:
        raise Http404("No such entity") from None
    if entity.erp_connection is None:
        messages.error(request, f"{entity.code} has no ERP connection; an admin sets it (config_load entities).")
    else:
        try:
            run = connection_run_request(connection_id=entity.erp_connection_id, operation="pull_master_data",
                                         actor=request.user)
            messages.success(request, f"Master-data sync of {entity.code} queued (run {run.pk}).")
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return redirect("expenses:master-data")


@login_required
@require_GET
def report_document(request, pk: int):
    """The payload the report came in, as received (auditors' lineage)."""
    from django.http import FileResponse

    from apps.core.services import document_open

    report = _visible(request, pk)
    require_any_perm(request, "core.download_rawdocument")
    doc = report.raw_document
    if doc is None:
        raise Http404("This report has no stored payload")
    return FileResponse(document_open(doc), as_attachment=True, filename=doc.filename or f"{report.external_id}.json",
                        content_type=doc.media_type or "application/json")


@login_required
def report_upload(request):
    """Upload approved reports as CSV (see apps/expenses/csvimport.py for the columns)."""
    from apps.expenses.csvimport import REQUIRED, expense_csv_import

    require_any_perm(request, "expenses.add_expensereport")
    result, error = None, ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        platform = (request.POST.get("platform") or "upload").strip()[:40]
        if upload is None:
            error = "Choose a CSV file."
        else:
            try:
                result = expense_csv_import(content=upload.read(), platform=platform, actor=request.user,
                                            filename=upload.name)
            except ApplicationError as exc:
                error = exc.message
    return render(request, "expenses/upload.html", {"result": result, "error": error, "required": REQUIRED})
