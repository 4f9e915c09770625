"""Console pages of the exception queue (HTMX). Each action parses the form, calls one service, renders."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.console.http import filter_params
from apps.core.errors import ApplicationError
from apps.core.services import document_open
from apps.exceptions import selectors, services
from apps.exceptions.filters import CaseFilter
from apps.exceptions.models import ExceptionCase
from apps.exceptions.registry import get_kind

PAGE_SIZE = 25
MAX_BULK = 200


def _visible_case(request, pk: int) -> ExceptionCase:
    try:
        return selectors.case_get(user=request.user, pk=pk)
    except ExceptionCase.DoesNotExist:
        raise Http404("No such case") from None


def _queue_context(request) -> dict:
    params = filter_params(request)
    if not any(k in params for k in ("status", "active")):
        params["active"] = "true"  # the queue shows work still to do unless asked otherwise
    filterset = CaseFilter(params, queryset=selectors.case_list(user=request.user), request=request)
    queryset = filterset.qs if filterset.is_valid() else selectors.case_list(user=request.user).none()
    errors = [f"{name}: {' '.join(msgs)}" for name, msgs in filterset.errors.items()]
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = params.copy()
    query.pop("page", None)
    return {"filter": filterset, "page": page, "query": query.urlencode(), "filter_errors": errors}


@login_required
@require_GET
def case_queue(request):
    if not request.user.has_perm("exceptions.view_exceptioncase"):
        raise DjangoPermissionDenied
    context = _queue_context(request)
    template = "exceptions/_queue_table.html" if request.htmx and request.htmx.target == "queue" else "exceptions/queue.html"
    return render(request, template, context)


@login_required
@require_GET
def case_detail(request, pk: int):
    case = _visible_case(request, pk)
    timeline = selectors.case_timeline(case=case) if request.user.has_perm(
        "exceptions.view_historicalexceptioncase") else []
    return render(
        request,
        "exceptions/detail.html",
        {"case": case, "kind": get_kind(case.kind), "timeline": timeline,
         "occurrences": case.occurrence_log.all()[:50]},
    )


def _act(request, case_id: int) -> ExceptionCase:
    action = request.POST.get("action", "")
    reason = request.POST.get("reason", "").strip()
    actor = request.user
    if action == "assign_me":
        return services.case_assign(case_id=case_id, assignee=actor, actor=actor, reason="assigned to self")
    if action == "unassign":
        return services.case_assign(case_id=case_id, assignee=None, actor=actor, reason=reason)
    if action == "start":
        return services.case_start(case_id=case_id, actor=actor, reason=reason)
    if action == "retry":
        return services.case_retry(case_id=case_id, actor=actor)
    if action == "resolve":
        return services.case_resolve(case_id=case_id, actor=actor, reason=reason,
                                     resolution=request.POST.get("resolution") or "fixed")
    if action == "dismiss":
        return services.case_dismiss(case_id=case_id, actor=actor, reason=reason)
    raise ApplicationError(f"Unknown action {action!r}.")


@login_required
@require_POST
def case_action(request, pk: int):
    case = _visible_case(request, pk)
    if not request.user.has_perm("exceptions.work_exceptioncase"):
        raise DjangoPermissionDenied  # readers (auditors, approvers) never act
    error = ""
    try:
        case = _act(request, case.pk)
    except ApplicationError as exc:
        error = exc.message
        case = _visible_case(request, pk)
    if request.htmx:
        template = "exceptions/_case_panel.html" if request.POST.get("from") == "detail" else "exceptions/_queue_row.html"
        return render(request, template, {"case": case, "error": error, "kind": get_kind(case.kind)})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Case #{case.pk}: {case.get_status_display()}.")
    return redirect("exceptions:detail", pk=case.pk)


@login_required
@require_POST
def case_bulk(request):
    if not request.user.has_perm("exceptions.work_exceptioncase"):
        raise DjangoPermissionDenied
    ids = [int(i) for i in request.POST.getlist("case") if i.isdigit()][:MAX_BULK]
    action = request.POST.get("action", "")
    done, failed = 0, []
    for case_id in ids:
        try:
            if action == "assign_me":
                services.case_assign(case_id=case_id, assignee=request.user, actor=request.user,
                                     reason="bulk: assigned to self")
            elif action == "retry":
                services.case_retry(case_id=case_id, actor=request.user)
            else:
                raise ApplicationError(f"Unknown bulk action {action!r}.")
            done += 1
        except ApplicationError as exc:
            failed.append(f"#{case_id}: {exc.message}")
    if done:
        messages.success(request, f"{done} case(s) updated.")
    for line in failed[:10]:
        messages.error(request, line)
    context = _queue_context(request)
    if request.htmx:
        context["oob_messages"] = True  # show the outcome now, not on the next full page load
        return render(request, "exceptions/_queue_table.html", context)
    return redirect(f"{reverse('exceptions:queue')}?{context['query']}")


@login_required
@require_GET
def case_document(request, pk: int):
    case = _visible_case(request, pk)
    if case.raw_document is None:
        raise Http404("This case has no raw document")
    if not request.user.has_perm("core.download_rawdocument"):
        raise DjangoPermissionDenied
    doc = case.raw_document
    return FileResponse(
        document_open(doc), as_attachment=True, filename=doc.filename or f"{doc.sha256}.bin",
        content_type=doc.media_type or "application/octet-stream",
    )
