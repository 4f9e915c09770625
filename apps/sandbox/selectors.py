"""The sandbox bank's reads."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from apps.core.errors import NotFound
from apps.sandbox.models import DocumentKind, SandboxBank, SandboxDocument

PATH_FOR_KIND = {DocumentKind.STATUS_REPORT: "status-reports", DocumentKind.STATEMENT: "statements",
                 DocumentKind.NOTIFICATION: "statements"}


def sandbox_account_list(*, bank: SandboxBank) -> list[dict]:
    return [{"iban": a.iban, "number": a.number, "currency": a.currency, "balance": str(a.balance),
             "limit": str(a.limit) if a.limit is not None else None, "last_statement_seq": a.last_statement_seq}
            for a in bank.accounts.order_by("pk")]


def sandbox_document_list(*, bank: SandboxBank, kinds: list[str], include_acknowledged: bool = False,
                          only_kind: str = "") -> QuerySet[SandboxDocument]:
    qs = SandboxDocument.objects.filter(bank=bank, kind__in=kinds).defer("content").order_by("pk")
    if only_kind:
        qs = qs.filter(kind=only_kind)
    if not include_acknowledged:
        qs = qs.filter(acknowledged_at__isnull=True)
    return qs


def sandbox_document_get(*, bank: SandboxBank, kinds: list[str], pk: int) -> SandboxDocument:
    doc = SandboxDocument.objects.filter(bank=bank, kind__in=kinds, pk=pk).first()
    if doc is None:
        raise NotFound(f"No document {pk} here.")
    return doc


def document_json(request: HttpRequest, bank: SandboxBank, doc: SandboxDocument) -> dict:
    path = PATH_FOR_KIND[doc.kind]
    return {"id": str(doc.pk), "filename": doc.filename, "media_type": doc.media_type, "kind": doc.kind,
            "created_at": doc.created_at.isoformat(), "acknowledged": doc.acknowledged_at is not None,
            "href": bank_url(request, bank, f"{path}/{doc.pk}/content")}


def bank_url(request: HttpRequest, bank: SandboxBank, suffix: str) -> str:
    """Absolute URL of ``suffix`` under the bank's base URL (``…/sandbox/banks/<code>/``)."""
    return request.build_absolute_uri(reverse("sandbox:bank", args=[bank.code]).rstrip("/") + "/" + suffix)
