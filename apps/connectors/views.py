"""Console pages for connections and sync runs (HTMX). Each action parses the form, calls one service, renders."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.connectors import selectors, services
from apps.connectors.filters import SyncRunFilter
from apps.connectors.models import Connection, SyncRun
from apps.core.errors import ApplicationError
from apps.core.services import document_open

RECENT_RUNS = 25


def _visible(request, pk: int) -> Connection:
    try:
        return selectors.connection_get(user=request.user, pk=pk)
    except Connection.DoesNotExist:
        raise Http404("No such connection") from None


def _rows(connections) -> list[dict]:
    return [{"c": c, "health": selectors.connection_health(connection=c),
             "operations": services.runnable_operations(c)} for c in connections]


@login_required
@require_GET
def connection_list(request):
    if not request.user.has_perm("connectors.view_connection"):
        raise DjangoPermissionDenied
    connections = selectors.connection_list(user=request.user)
    runs = selectors.sync_run_list(user=request.user)[:RECENT_RUNS]
    return render(request, "connectors/list.html", {"rows": _rows(connections), "runs": runs})


@login_required
@require_GET
def connection_detail(request, pk: int):
    conn = _visible(request, pk)
    params = request.GET.copy()
    params["connection_id"] = str(conn.pk)
    filterset = SyncRunFilter(params, queryset=selectors.sync_run_list(user=request.user))
    runs = filterset.qs if filterset.is_valid() else selectors.sync_run_list(user=request.user).none()
    page = Paginator(runs, RECENT_RUNS).get_page(request.GET.get("page"))
    return render(request, "connectors/detail.html", {
        "c": conn, "health": selectors.connection_health(connection=conn), "page": page,
        "operations": services.runnable_operations(conn), "statuses": SyncRun.Status.choices,
        "can_manage": request.user.has_perm("connectors.change_connection"),
        "can_run": request.user.has_perm("connectors.run_connection"),
    })


@login_required
@require_POST
def connection_run(request, pk: int):
    conn = _visible(request, pk)
    if not request.user.has_perm("connectors.run_connection"):
        raise DjangoPermissionDenied
    error, run = "", None
    try:
        run = services.connection_run_request(connection_id=conn.pk, operation=request.POST.get("operation", ""),
                                              actor=request.user)
    except ApplicationError as exc:
        error = exc.message
    if run is not None:
        run.refresh_from_db()  # in-process (eager) workers have finished it already
    if request.htmx:
        return render(request, "connectors/_run_result.html", {"run": run, "error": error, "c": conn})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Run {run.pk} ({run.operation}): {run.get_status_display()}.")
    return redirect("connectors:detail", pk=conn.pk)


def _manage(request, pk: int, action) -> object:
    conn = _visible(request, pk)
    if not request.user.has_perm("connectors.change_connection"):
        raise DjangoPermissionDenied
    try:
        action(conn)
        messages.success(request, "Saved.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("connectors:detail", pk=conn.pk)


@login_required
@require_POST
def connection_toggle(request, pk: int):
    active = request.POST.get("active") == "true"
    reason = request.POST.get("reason", "").strip()
    return _manage(request, pk, lambda c: services.connection_set_active(
        connection_id=c.pk, active=active, actor=request.user, reason=reason))


@login_required
@require_POST
def connection_circuit_reset(request, pk: int):
    reason = request.POST.get("reason", "").strip()
    return _manage(request, pk, lambda c: services.connection_circuit_reset(
        connection_id=c.pk, actor=request.user, reason=reason))


@login_required
@require_POST
def connection_credentials(request, pk: int):
    """Write-only form: the stored values are never rendered; a new JSON object replaces them."""
    credentials = request.POST.get("credentials", "")
    reason = request.POST.get("reason", "").strip()
    return _manage(request, pk, lambda c: services.connection_credentials_replace(
        connection_id=c.pk, credentials=credentials, actor=request.user, reason=reason))


@login_required
@require_GET
def run_detail(request, pk: int):
    try:
        run = selectors.sync_run_get(user=request.user, pk=pk)
    except SyncRun.DoesNotExist:
        raise Http404("No such run") from None
    return render(request, "connectors/run_detail.html", {
        "run": run, "moved": selectors.sync_run_documents(run=run),
        "can_download": request.user.has_perm("core.download_rawdocument"),
    })


@login_required
@require_GET
def run_status(request, pk: int):
    """HTMX fragment polled while a run is queued or running."""
    try:
        run = selectors.sync_run_get(user=request.user, pk=pk)
    except SyncRun.DoesNotExist:
        raise Http404("No such run") from None
    return render(request, "connectors/_run_result.html", {"run": run, "error": ""})


@login_required
@require_GET
def run_document(request, pk: int, document_id: int):
    try:
        run = selectors.sync_run_get(user=request.user, pk=pk)
    except SyncRun.DoesNotExist:
        raise Http404("No such run") from None
    if not request.user.has_perm("core.download_rawdocument"):
        raise DjangoPermissionDenied
    link = selectors.sync_run_documents(run=run).filter(document_id=document_id).first()
    if link is None:
        raise Http404("This run did not move that document")
    doc = link.document
    return FileResponse(document_open(doc), as_attachment=True, filename=doc.filename or f"{doc.sha256}.bin",
                        content_type=doc.media_type or "application/octet-stream")
