"""What the ERP and expense adapters share: the canonical documents (schemas, bytes, delivery to the hub through
``channels.intake`` so they are deduplicated by SHA-256 and linked to the run), the answers of ``post_journal`` /
``journal_status``, and a REST client that follows pagination and hands business rejections back.

The canonical documents are specified in docs/partner-documents.md.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from apps.connectors.channels import intake
from apps.connectors.errors import PermanentError
from apps.connectors.models import Connection, SyncRunDocument, Transport
from apps.connectors.resilience import Recorder
from apps.connectors.transports.rest import RestClient
from apps.core.models import RawDocument
from apps.core.services import document_open

PAYMENT_BATCH = "finops.payment_batch.v1"
MASTER_DATA = "finops.master_data.v1"
JOURNAL = "finops.journal.v1"
PAYMENT_STATUS = "finops.payment_status.v1"
EXPENSE_REPORT = "finops.expense_report.v1"
JSON = "application/json"
MAX_PAGES = 10_000
REJECTION_CODES = ("period_closed", "unknown_cost_centre", "inactive_cost_centre", "unknown_account",
                   "unknown_tax_code", "unbalanced", "invalid")
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


# -- canonical documents ------------------------------------------------------------------------------------------

def _plain(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def canonical_bytes(doc: dict) -> bytes:
    """Compact UTF-8 JSON, keys in the order built: the same document always gives the same bytes (and SHA-256)."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=_plain).encode()


class Delivery:
    """Hands documents of one attempt to the hub: canonical ones (announced when new) and the partner's
    originals (kept for lineage, linked to the run, not announced)."""

    def __init__(self, conn: Connection, recorder: Recorder):
        self.conn = conn
        self.recorder = recorder
        self.seen: set[int] = set()
        self.received: list[RawDocument] = []

    def canonical(self, doc: dict, name: str) -> tuple[RawDocument, str]:
        document, role, _link = intake(self.recorder, data=canonical_bytes(doc), name=name, media_type=JSON,
                                       conn=self.conn, seen=self.seen)
        if role == SyncRunDocument.Role.RECEIVED:
            self.received.append(document)
        return document, role

    def original(self, data: bytes, name: str, media_type: str) -> tuple[RawDocument, str]:
        document, role, _link = intake(self.recorder, data=data, name=name, media_type=media_type, conn=self.conn,
                                       seen=self.seen, original=True)
        return document, role


def read_document(doc: RawDocument, schema: str) -> dict:
    """A canonical document the hub hands to an adapter, parsed (numbers as Decimal) and checked for its schema."""
    label = f"Document {doc.pk} ({doc.filename or doc.sha256[:12]})"
    with document_open(doc) as fh:
        raw = fh.read()
    try:
        data = json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise PermanentError(f"{label} is not JSON; expected a {schema} document.") from None
    if not isinstance(data, dict) or data.get("schema") != schema:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise PermanentError(f"{label} is not a {schema} document (schema {found!r}).")
    return data


def reference(data: dict, key: str, schema: str) -> str:
    """An id that names a partner's file or reference: 1-100 letters, digits, '.', '_' or '-'."""
    value = str(data.get(key) or "")
    if not _REFERENCE.match(value):
        raise PermanentError(f"{schema}: {key} {value!r} must be 1 to 100 letters, digits, '.', '_' or '-' "
                             "(it names the document at the partner).")
    return value


def sent(recorder: Recorder, doc: RawDocument, remote_name: str, size: int) -> None:
    recorder.add_bytes(size)
    recorder.count("sent")
    recorder.add_document(doc, SyncRunDocument.Role.SENT, remote_name=remote_name)


# -- answers of post_journal / journal_status ---------------------------------------------------------------------

def posted(document_number: str, *, already: bool) -> dict:
    return {"status": "posted", "document_number": document_number, "already_posted": already}


def rejected(error: Any, *, field_names: dict[str, str] | None = None) -> dict:
    """``{"status": "rejected", "error": {code, message, field, period}}``; ``field_names`` maps the partner's
    field names to the canonical ones."""
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or "invalid")
    field = str(error.get("field") or "")
    for theirs, ours in (field_names or {}).items():
        if field == theirs or field.startswith(theirs + "."):
            field = ours + field[len(theirs):]
    return {"status": "rejected", "error": {
        "code": code if code in REJECTION_CODES else "invalid", "message": str(error.get("message") or ""),
        "field": field, "period": str(error.get("period") or "")}}


def submitted(reference_: str) -> dict:
    return {"status": "submitted", "reference": reference_}


UNKNOWN = {"status": "unknown"}


def text(value: Any) -> str:
    """A partner's value as canonical text: decimals and numbers as written, None as ""."""
    if value is None:
        return ""
    return str(value)


def need(item: Any, key: str, where: str) -> Any:
    if not isinstance(item, dict) or item.get(key) in (None, ""):
        raise PermanentError(f"{where}: the partner's answer lacks {key!r}.")
    return item[key]


# -- REST ----------------------------------------------------------------------------------------------------------

class PartnerClient(RestClient):
    """The connectors' REST client, plus: JSON with exact decimals, statuses handed back instead of raised
    (``answers``, e.g. 422 business rejections, which must not count as failures), and pagination."""

    _answers: tuple[int, ...] = ()

    def request(self, method: str, path: str, *, answers: Iterable[int] = (), **kwargs: Any) -> httpx.Response:
        self._answers = tuple(answers)
        try:
            return super().request(method, path, **kwargs)
        finally:
            self._answers = ()

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        if response.status_code in self._answers:
            return
        RestClient._raise_for_status(response, what)

    @staticmethod
    def body(response: httpx.Response, what: str) -> Any:
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise PermanentError(f"{what}: the answer is not JSON (HTTP {response.status_code}, "
                                 f"{len(response.content)} bytes).") from None

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.body(self.request("GET", path, **kwargs), f"GET {path}")

    def post_json(self, path: str, payload: dict, *, answers: Iterable[int] = (),
                  headers: dict | None = None) -> tuple[int, Any]:
        response = self.request("POST", path, content=canonical_bytes(payload), answers=answers,
                                headers={"Content-Type": JSON, **(headers or {})})
        return response.status_code, self.body(response, f"POST {path}") if response.content else {}

    def pages(self, path: str, params: dict | None = None, *, items_key: str = "items",
              next_key: str = "next") -> list[dict]:
        """Every item of a paginated list, following ``next_key`` (a URL on the same origin as the endpoint)."""
        origin = urlsplit(self.base_url)[:2]
        url, query, items = path, dict(params or {}), []
        for _page in range(MAX_PAGES):
            what = f"GET {urlsplit(url).path or url}"
            response = self.request("GET", url, **({"params": query} if query else {}))
            body = self.body(response, what)
            page = body.get(items_key) if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise PermanentError(f"{what}: expected {{{items_key!r}: [...]}} in the answer.")
            items.extend(page)
            following = body.get(next_key)
            if not following:
                return items
            url = urljoin(str(response.request.url), str(following))
            if urlsplit(url)[:2] != origin:
                raise PermanentError(f"{what}: the next page {urlsplit(url).netloc} is not on the endpoint's host; "
                                     "refused (credentials are never sent elsewhere).")
            query = {}
        raise PermanentError(f"GET {path}: more than {MAX_PAGES} pages; the pagination does not end.")


def open_partner_client(conn: Connection, recorder: Recorder) -> PartnerClient:
    if conn.transport != Transport.REST:
        raise PermanentError(f"Connection {conn.code}: adapter {conn.options.get('adapter')!r} needs a REST "
                             f"connection, not {conn.transport}.")
    return PartnerClient(base_url=conn.endpoint, credentials=recorder.credentials(), options=conn.options or {},
                         timeout=conn.timeout_seconds, before_request=recorder.before_request)
