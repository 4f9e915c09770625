"""The sandbox bank's HTTP API (plain Django views, JSON and XML; authenticated by the bank's API key).

Paths follow the hub's REST bank-channel contract (``apps/connectors/channels.RestBankChannel``): with the
connection endpoint ``http://127.0.0.1:8100/sandbox/banks/<code>/`` its defaults ``payment-files``,
``statements`` and ``status-reports`` work unchanged; ``payments/`` is an alias of ``payment-files/``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.core.errors import NotFound, ValidationFailed
from apps.sandbox import faults, selectors, services
from apps.sandbox.auth import API_KEY_HEADER
from apps.sandbox.http import faults_endpoint, json_body, partner_endpoint, require_method
from apps.sandbox.models import Channel, DocumentKind, SandboxBank

KINDS = {"status-reports": [DocumentKind.STATUS_REPORT],
         "statements": [DocumentKind.STATEMENT, DocumentKind.NOTIFICATION]}


def _presented_key(request: HttpRequest) -> str:
    key = request.headers.get(API_KEY_HEADER, "")
    auth = request.headers.get("Authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key


def bank_endpoint(*, inject: bool = True):
    """Find the bank, apply its outage window, check the API key, inject faults, turn errors into JSON."""
    return partner_endpoint(
        lambda code: SandboxBank.objects.filter(code=code).first(), what="sandbox bank", inject=inject,
        authorised=lambda bank, request: services.sandbox_bank_check_key(bank, _presented_key(request)),
        unauthorised=f"Missing or wrong {API_KEY_HEADER}.",
    )


@bank_endpoint()
def bank_detail(request: HttpRequest, bank: SandboxBank) -> HttpResponse:
    return JsonResponse({"code": bank.code, "name": bank.name, "bic": bank.bic,
                         "statement_format": bank.statement_format,
                         "business_date": bank.business_date.isoformat() if bank.business_date else None,
                         "accounts": selectors.sandbox_account_list(bank=bank)})


def _message_json(request: HttpRequest, bank: SandboxBank, message) -> dict:
    reports = [selectors.document_json(request, bank, d) for d in message.documents.order_by("pk")]
    return {"id": str(message.pk), "msg_id": message.msg_id, "version": message.version,
            "group_status": message.group_status, "group_reason": message.group_reason,
            "duplicate": message.is_duplicate, "status_reports": reports,
            "href": selectors.bank_url(request, bank, f"payment-files/{message.pk}")}


@bank_endpoint()
def payment_files(request: HttpRequest, bank: SandboxBank) -> HttpResponse:
    """POST a pain.001 (the raw XML body, or multipart ``file``): 202 with its id and the pain.002 to fetch."""
    require_method(request, "POST")
    upload = request.FILES.get("file")
    content = upload.read() if upload else request.body
    filename = request.headers.get("X-Filename", "") or (upload.name if upload else "")
    idempotency_key = request.headers.get("Idempotency-Key", "")[:128]
    if not content:
        raise ValidationFailed("Send the pain.001 XML as the request body.")
    message = services.sandbox_payment_file_receive(bank_code=bank.code, content=content, channel=Channel.REST,
                                                    filename=filename, idempotency_key=idempotency_key)
    return JsonResponse(_message_json(request, bank, message), status=202)


@bank_endpoint()
def payment_file_detail(request: HttpRequest, bank: SandboxBank, pk: int) -> HttpResponse:
    message = bank.messages.filter(pk=pk).first()
    if message is None:
        raise NotFound(f"No payment file {pk}.")
    return JsonResponse(_message_json(request, bank, message))


@bank_endpoint()
def document_list(request: HttpRequest, bank: SandboxBank, kind: str) -> HttpResponse:
    require_method(request, "GET")
    include_acknowledged = request.GET.get("all", "").lower() in ("1", "true", "yes")
    docs = selectors.sandbox_document_list(bank=bank, kinds=KINDS[kind], include_acknowledged=include_acknowledged,
                                           only_kind=request.GET.get("kind", ""))
    return JsonResponse({"items": [selectors.document_json(request, bank, d) for d in docs]})


@bank_endpoint()
def document_content(request: HttpRequest, bank: SandboxBank, kind: str, pk: int) -> HttpResponse:
    require_method(request, "GET")
    doc = selectors.sandbox_document_get(bank=bank, kinds=KINDS[kind], pk=pk)
    response = HttpResponse(faults.maybe_truncate(bank, bytes(doc.content)), content_type=doc.media_type)
    response["Content-Disposition"] = f'attachment; filename="{doc.filename}"'
    return response


@bank_endpoint()
def document_ack(request: HttpRequest, bank: SandboxBank, kind: str, pk: int) -> HttpResponse:
    require_method(request, "POST")
    selectors.sandbox_document_get(bank=bank, kinds=KINDS[kind], pk=pk)
    doc = services.sandbox_document_acknowledge(bank_code=bank.code, document_id=pk)
    return JsonResponse({"id": str(doc.pk), "acknowledged_at": doc.acknowledged_at.isoformat()})


@bank_endpoint(inject=False)
def bank_faults(request: HttpRequest, bank: SandboxBank) -> HttpResponse:
    """GET the fault settings; POST ``{"latency_ms": 200, ...}`` (``"clear": true`` resets the others first)."""
    return faults_endpoint(request, bank, lambda code, **kw: services.sandbox_faults_set(bank_code=code, **kw))


@bank_endpoint()
def credits(request: HttpRequest, bank: SandboxBank) -> HttpResponse:
    """POST ``{"account", "amount", "debtor_name", "debtor_account", "remittance", "end_to_end_id"}``."""
    require_method(request, "POST")
    body = json_body(request)
    allowed = {"account", "amount", "debtor_name", "debtor_account", "remittance", "end_to_end_id"}
    unknown = set(body) - allowed
    if unknown or "account" not in body or "amount" not in body:
        raise ValidationFailed("Send account and amount (and optionally debtor_name, debtor_account, remittance, "
                               "end_to_end_id).", {"unknown": sorted(unknown)})
    booking = services.sandbox_credit_seed(bank_code=bank.code, **{k: str(v) for k, v in body.items()})
    return JsonResponse({"reference": booking.reference, "amount": str(booking.amount),
                         "currency": booking.currency, "booking_date": booking.booking_date.isoformat()},
                        status=201)
