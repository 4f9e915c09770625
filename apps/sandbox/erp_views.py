"""The cloud sandbox ERP's REST API under ``/sandbox/erps/<code>/`` (trailing slashes optional).

Authentication: ``X-API-Key``, or ``Authorization: Bearer <token>`` from ``POST oauth/token`` (client credentials).
Lists are paginated (``?limit=&offset=``; ``{"items": [...], "next": <absolute URL or null>}``) and master data is
filtered by ``?entity=``. The resources speak the ERP's own dialect (company, number, blocked, ...); the hub's
``rest_erp`` adapter translates them into the canonical documents of docs/partner-documents.md.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.core.errors import NotFound, ValidationFailed
from apps.sandbox import erp_services as services
from apps.sandbox.http import (
    faults_endpoint,
    json_body,
    money_text,
    paginate,
    partner_endpoint,
    partner_json,
    require_method,
    token_endpoint,
)
from apps.sandbox.models import (
    BatchStatus,
    Channel,
    SandboxCategoryAccount,
    SandboxCostCentre,
    SandboxEmployee,
    SandboxErp,
    SandboxErpEntity,
    SandboxErpPaymentBatch,
    SandboxFxRate,
    SandboxGlAccount,
    SandboxJournal,
    SandboxPeriod,
    SandboxTaxCode,
)


def _find(code: str) -> SandboxErp | None:
    return SandboxErp.objects.filter(code=code).first()


def erp_endpoint(*, inject: bool = True, authenticate: bool = True, cloud_only: bool = True) -> Callable:
    base = partner_endpoint(_find, what="sandbox ERP", inject=inject,
                            **({} if authenticate else {"authorised": None}))

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def cloud(request: HttpRequest, erp: SandboxErp, *args, **kwargs) -> HttpResponse:
            if cloud_only and erp.is_legacy:
                raise NotFound(f"ERP {erp.code} is a legacy ERP: it has no REST API and exchanges CSV files in "
                               f"{services.erp_dir(erp)} (see docs/sandbox.md).")
            return view(request, erp, *args, **kwargs)

        return base(cloud)

    return decorator


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _entity_json(e: SandboxErpEntity) -> dict:
    return {"code": e.code, "name": e.name, "country": e.country, "currency": e.currency,
            "as_of": _utc(e.master_data_changed_at),
            "accounts": {"employee_payable": e.employee_payable_account, "rounding": e.rounding_account}}


#: resource -> (model, ordering, ERP-dialect JSON of a row)
RESOURCES: dict[str, tuple[type, tuple[str, ...], Callable[..., dict]]] = {
    "entities": (SandboxErpEntity, ("code",), _entity_json),
    "gl-accounts": (SandboxGlAccount, ("entity__code", "code"), lambda a: {
        "company": a.entity.code, "number": a.code, "description": a.name, "blocked": not a.active}),
    "cost-centres": (SandboxCostCentre, ("entity__code", "code"), lambda c: {
        "company": c.entity.code, "cost_centre": c.code, "description": c.name, "active": c.active,
        "valid_from": _day(c.valid_from), "valid_to": _day(c.valid_to)}),
    "tax-codes": (SandboxTaxCode, ("entity__code", "code"), lambda t: {
        "company": t.entity.code, "tax_code": t.code, "country": t.country, "rate_percent": t.rate_text,
        "tax_account": t.gl_account, "active": t.active}),
    "employees": (SandboxEmployee, ("entity__code", "employee_id"), lambda e: {
        "company": e.entity.code, "personnel_number": e.employee_id, "full_name": e.name, "email": e.email,
        "active": e.active, "currency": e.currency,
        "bank": {"iban": e.iban, "bic": e.bic, "account_number": e.account_number, "routing_number": e.routing},
        "home_address": {"street": e.street, "zip": e.postal_code, "city": e.town, "country": e.country}}),
    "periods": (SandboxPeriod, ("entity__code", "period"), lambda p: {
        "company": p.entity.code, "fiscal_period": p.period, "start": _day(p.start), "end": _day(p.end),
        "status": p.status}),
    "category-accounts": (SandboxCategoryAccount, ("entity__code", "category"), lambda c: {
        "company": c.entity.code, "expense_category": c.category, "gl_account": c.gl_account}),
    "fx-rates": (SandboxFxRate, ("entity__code", "date", "base", "quote"), lambda r: {
        "company": r.entity.code, "valid_on": _day(r.date), "from_currency": r.base, "to_currency": r.quote,
        "rate": format(r.rate.normalize(), "f")}),
}


@erp_endpoint(cloud_only=False)
def erp_detail(request: HttpRequest, erp: SandboxErp) -> HttpResponse:
    require_method(request, "GET")
    return partner_json(request, erp, {"code": erp.code, "name": erp.name, "flavour": erp.flavour,
                                       "entities": list(erp.entities.order_by("code").values_list("code", flat=True))})


@erp_endpoint(authenticate=False, cloud_only=False)
def erp_token(request: HttpRequest, erp: SandboxErp) -> HttpResponse:
    return token_endpoint(request, erp)


@erp_endpoint()
def master_data(request: HttpRequest, erp: SandboxErp, resource: str) -> HttpResponse:
    require_method(request, "GET")
    model, ordering, to_json = RESOURCES[resource]
    rows = model.objects.filter(erp=erp) if model is SandboxErpEntity else (
        model.objects.filter(entity__erp=erp).select_related("entity"))
    entity = request.GET.get("entity", "")
    if entity:
        rows = rows.filter(code=entity) if model is SandboxErpEntity else rows.filter(entity__code=entity)
    return partner_json(request, erp, paginate(request, rows.order_by(*ordering), to_json))


def _batch_json(batch: SandboxErpPaymentBatch) -> dict:
    return {"id": str(batch.pk), "status": batch.status, "created_at": _utc(batch.created_at),
            "total": money_text(batch.total, batch.currency), "currency": batch.currency,
            "last_status": batch.last_status, "batch": batch.payload}


@erp_endpoint()
def payment_batches(request: HttpRequest, erp: SandboxErp) -> HttpResponse:
    """``GET payment-batches[?status=ready|picked_up]``: the runs the ERP wants paid."""
    require_method(request, "GET")
    rows = erp.payment_batches.order_by("pk")
    status = request.GET.get("status", "")
    if status:
        if status not in BatchStatus.values:
            raise ValidationFailed(f"status: {status!r} is not one of {', '.join(BatchStatus.values)}.",
                                   {"field": "status"})
        rows = rows.filter(status=status)
    return partner_json(request, erp, paginate(request, rows, _batch_json))


@erp_endpoint()
def payment_batch_detail(request: HttpRequest, erp: SandboxErp, pk: int) -> HttpResponse:
    require_method(request, "GET")
    batch = erp.payment_batches.filter(pk=pk).first()
    if batch is None:
        raise NotFound(f"No payment batch {pk}.")
    return partner_json(request, erp, _batch_json(batch))


@erp_endpoint()
def payment_batch_ack(request: HttpRequest, erp: SandboxErp, pk: int) -> HttpResponse:
    """``POST payment-batches/<id>/ack``: the hub took it; no longer listed as ready. Repeating it is harmless."""
    require_method(request, "POST")
    batch = services.sandbox_erp_batch_pick_up(erp_code=erp.code, batch_id=pk)
    return partner_json(request, erp, {"id": str(batch.pk), "status": batch.status,
                                       "picked_up_at": _utc(batch.picked_up_at)})


def _journal_json(journal: SandboxJournal) -> dict:
    return {"id": str(journal.pk), "external_reference": journal.external_reference,
            "company": journal.entity.code if journal.entity else journal.payload.get("entity", ""),
            "status": journal.status, "document_number": journal.document_number or None,
            "error": journal.error or None, "posting_date": _day(journal.posting_date), "period": journal.period,
            "attempts": journal.attempts, "created_at": _utc(journal.created_at),
            "updated_at": _utc(journal.updated_at)}


def _journal_input(body: dict) -> dict:
    """The ERP's journal dialect (company, header_text) in the normalised form its posting logic takes."""
    lines = body.get("lines")
    return {"external_reference": body.get("external_reference"), "entity": body.get("company"),
            "posting_date": body.get("posting_date"), "period": body.get("period"), "currency": body.get("currency"),
            "description": body.get("header_text", ""), "source": body.get("source") or {},
            "lines": lines if isinstance(lines, list) else None}


@erp_endpoint()
def journals(request: HttpRequest, erp: SandboxErp) -> HttpResponse:
    """``POST journals``: 201 posted, 200 posted before (same document number), 422 ``{"error": {code, message,
    field, period}}`` rejected. ``GET journals[?external_reference=]``: what the ERP has (posted or rejected)."""
    require_method(request, "GET", "POST")
    if request.method == "GET":
        rows = erp.journals.select_related("entity").order_by("pk")
        reference = request.GET.get("external_reference", "")
        if reference:
            rows = rows.filter(external_reference=reference)
        return partner_json(request, erp, paginate(request, rows, _journal_json))
    outcome = services.sandbox_journal_receive(erp_code=erp.code, data=_journal_input(json_body(request)),
                                               channel=Channel.REST)
    body = _journal_json(outcome.journal)
    if not outcome.posted:
        return partner_json(request, erp, {"error": outcome.journal.error, "journal": body}, status=422)
    body["already_posted"] = outcome.already_posted
    return partner_json(request, erp, body, status=200 if outcome.already_posted else 201)


@erp_endpoint()
def payment_status(request: HttpRequest, erp: SandboxErp) -> HttpResponse:
    """``POST payment-status``: 202 taken, 200 when the event id was taken before (nothing stored twice)."""
    require_method(request, "POST")
    update, created = services.sandbox_payment_status_receive(erp_code=erp.code, data=json_body(request),
                                                              channel=Channel.REST)
    return partner_json(request, erp, {"event_id": update.event_id, "status": "accepted" if created else "duplicate",
                                       "received_at": _utc(update.received_at)}, status=202 if created else 200)


@erp_endpoint(inject=False, cloud_only=False)
def erp_faults(request: HttpRequest, erp: SandboxErp) -> HttpResponse:
    return faults_endpoint(request, erp, lambda code, **kw: services.sandbox_erp_faults_set(erp_code=code, **kw))
