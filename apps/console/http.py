"""Small helpers every console view uses (one place, not a copy per app)."""

from django.core.exceptions import PermissionDenied
from django.http import QueryDict


def filter_params(request) -> QueryDict:
    """The query string without the empty values a form sends for "any" (no filter, not an invalid one)."""
    params = request.GET.copy()
    for key in list(params):
        values = [v for v in params.getlist(key) if v != ""]
        if values:
            params.setlist(key, values)
        else:
            del params[key]
    return params


def require_any_perm(request, *perms: str) -> None:
    if not any(request.user.has_perm(p) for p in perms):
        raise PermissionDenied


def htmx_target(request, target: str) -> bool:
    """Is this an HTMX request that swaps only the element ``target``?"""
    return bool(request.htmx) and request.htmx.target == target
