"""What the sandbox partners' HTTP APIs share: the endpoint decorator (partner lookup, outage, authentication,
injected faults, errors as JSON), JSON bodies, pagination, the OAuth2 token endpoint."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.core.errors import ApplicationError, ValidationFailed
from apps.core.money import minor_units
from apps.sandbox import auth, faults

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class MethodNotAllowed(ApplicationError):
    status_code = 405


class Unprocessable(ApplicationError):
    status_code = 422


def money_text(amount: Decimal, currency: str) -> str:
    """A stored amount (5 decimals) as the partner writes it: the currency's decimals (``1250.00``)."""
    return str(amount.quantize(Decimal(1).scaleb(-minor_units(currency))))


def error_response(exc: ApplicationError) -> JsonResponse:
    return JsonResponse({"message": exc.message, "extra": exc.extra}, status=exc.status_code)


def require_method(request: HttpRequest, *allowed: str) -> None:
    if request.method not in allowed:
        raise MethodNotAllowed(f"Method {request.method} not allowed here.", {"allowed": list(allowed)})


def json_body(request: HttpRequest) -> dict:
    """The request body as a JSON object; numbers are parsed as exact decimals."""
    if not request.body:
        return {}
    try:
        body = json.loads(request.body, parse_float=Decimal)
    except ValueError:
        raise ValidationFailed("The body is not JSON.") from None
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.")
    return body


def partner_endpoint(find: Callable[[str], Any], *, what: str,
                     authorised: Callable[[Any, HttpRequest], bool] | None = auth.request_authorised,
                     unauthorised: str = "Missing or wrong credentials: send X-API-Key, or Authorization: Bearer "
                                         "<access token from oauth/token>.",
                     inject: bool = True) -> Callable:
    """Find the partner by the URL's ``code``, apply its outage window, check the credentials (``authorised``;
    None: no check), inject faults, turn ApplicationErrors into JSON. The view gets the partner instead of the code."""

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, code: str, *args, **kwargs) -> HttpResponse:
            partner = find(code)
            if partner is None:
                return JsonResponse({"message": f"No {what} {code!r}.", "extra": {}}, status=404)
            if inject and faults.in_outage(partner):
                return faults.outage_response(partner)
            if authorised is not None and not authorised(partner, request):
                return JsonResponse({"message": unauthorised, "extra": {}}, status=401)
            if inject:
                injected = faults.injected_response(partner)
                if injected is not None:
                    return injected
            try:
                return view(request, partner, *args, **kwargs)
            except ApplicationError as exc:
                return error_response(exc)

        return wrapper

    return decorator


def partner_json(request: HttpRequest, partner: Any, data: Any, *, status: int = 200) -> HttpResponse:
    """A JSON answer (decimals as strings); for GETs, cut in half when the partner serves malformed payloads."""
    body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False).encode()
    if request.method == "GET":
        body = faults.maybe_truncate(partner, body)
    return HttpResponse(body, status=status, content_type="application/json")


def _whole(request: HttpRequest, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ValidationFailed(f"{name}: expected a whole number {bound}, got {raw!r}.", {"field": name})
    return int(raw)


def paginate(request: HttpRequest, rows: Iterable, to_json: Callable[[Any], dict], *, items_key: str = "items",
             next_key: str = "next", default_limit: int = DEFAULT_LIMIT) -> dict:
    """``?limit=&offset=`` over ``rows`` (a queryset, ordered): ``{items_key: [...], next_key: absolute URL|None}``."""
    limit = _whole(request, "limit", default_limit, 1, MAX_LIMIT)
    offset = _whole(request, "offset", 0, 0)
    page = list(rows[offset:offset + limit + 1])
    following = None
    if len(page) > limit:
        query = request.GET.copy()
        query["limit"], query["offset"] = str(limit), str(offset + limit)
        following = request.build_absolute_uri(f"{request.path}?{urlencode(sorted(query.items()))}")
    return {items_key: [to_json(row) for row in page[:limit]], next_key: following}


def token_endpoint(request: HttpRequest, partner: Any) -> HttpResponse:
    """OAuth2 client-credentials grant (RFC 6749 4.4): form ``grant_type=client_credentials``, HTTP basic client."""
    require_method(request, "POST")
    if request.POST.get("grant_type") != "client_credentials":
        return JsonResponse({"error": "unsupported_grant_type",
                             "error_description": "Only grant_type=client_credentials is supported."}, status=400)
    client_id, client_secret = auth.client_credentials(request)
    issued = auth.token_issue(partner, client_id=client_id, client_secret=client_secret)
    if issued is None:
        response = JsonResponse({"error": "invalid_client", "error_description": "Unknown client or wrong secret."},
                                status=401)
        response["WWW-Authenticate"] = 'Basic realm="sandbox"'
        return response
    response = JsonResponse(issued)
    response["Cache-Control"] = "no-store"
    return response


def faults_endpoint(request: HttpRequest, partner: Any, apply: Callable[..., Any]) -> HttpResponse:
    """GET the fault settings; POST ``{"latency_ms": 200, ...}`` (``"clear": true`` resets the others first)."""
    require_method(request, "GET", "POST")
    if request.method == "POST":
        body = json_body(request)
        clear = bool(body.pop("clear", False))
        partner = apply(partner.code, clear=clear, **body)
    return JsonResponse(faults.faults_json(partner))
