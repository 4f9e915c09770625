from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.exceptions.registry import get_kind
from apps.exceptions.selectors import case_counts


def _counts(user) -> dict:
    counts = case_counts(user=user)
    counts["queues"] = [
        {"kind": kind, "title": (get_kind(kind).title if get_kind(kind) else kind), "count": n}
        for kind, n in counts["per_kind"].items()
    ]
    return counts


@login_required
@require_GET
def home(request):
    return render(request, "console/home.html", {"counts": _counts(request.user)})


@login_required
@require_GET
def home_counts(request):
    return render(request, "console/_counts.html", {"counts": _counts(request.user)})


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def page_not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"message": "Not found.", "extra": {}}, status=404)
    return render(request, "404.html", status=404)


def permission_denied(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"message": "You do not have permission to do this.", "extra": {}}, status=403)
    return render(request, "403.html", status=403)


def server_error(request):
    request_id = getattr(request, "request_id", "")
    if _wants_json(request):
        return JsonResponse(
            {"message": "Internal error. It has been logged; quote the request id to support.",
             "extra": {"request_id": request_id}},
            status=500,
        )
    return render(request, "500.html", {"request_id": request_id}, status=500)
