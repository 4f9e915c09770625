"""Transport-level implementations of the capability interfaces. They do the work of ONE attempt on ONE
connection and report through the :class:`~apps.connectors.resilience.Recorder`; the resilient wrappers in
``services`` run them through ``call``. Domain apps never import this module.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import posixpath
import time
from collections.abc import Callable, Iterator
from typing import Any

from apps.connectors.errors import PermanentError
from apps.connectors.models import Connection, SyncRun, SyncRunDocument, Transport
from apps.connectors import resilience
from apps.connectors.resilience import Recorder
from apps.connectors.transports.base import FileEntry, FileTransport, join
from apps.connectors.transports.directory import DirectoryTransport
from apps.connectors.transports.rest import RestClient
from apps.connectors.transports.sftp import SftpTransport
from apps.core.models import RawDocument
from apps.core.services import document_open, document_store

logger = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".part", ".tmp", ".filepart", ".partial", ".crdownload")
DEFAULT_SETTLE_SECONDS = 2.0
_MEDIA_TYPES = {".xml": "application/xml", ".sta": "text/plain", ".mt940": "text/plain", ".940": "text/plain",
                ".942": "text/plain", ".bai": "text/plain", ".bai2": "text/plain", ".csv": "text/csv",
                ".txt": "text/plain", ".json": "application/json"}


def media_type_for(name: str) -> str:
    ext = posixpath.splitext(name.lower())[1]
    return _MEDIA_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def source_label(conn: Connection) -> str:
    return f"{conn.partner_kind}:{conn.partner_ref}:{conn.code}"[:100]


def already_delivered(document: RawDocument) -> bool:
    """Did a finished, successful run hand this document to the hub before? (Then it is a duplicate.)"""
    return SyncRunDocument.objects.filter(
        document=document, role=SyncRunDocument.Role.RECEIVED, run__status=SyncRun.Status.SUCCEEDED
    ).exists()


def already_sent(document: RawDocument) -> bool:
    return SyncRunDocument.objects.filter(
        document=document, role=SyncRunDocument.Role.SENT, run__status=SyncRun.Status.SUCCEEDED
    ).exists()


def intake(recorder: Recorder, *, data: bytes, name: str, media_type: str, conn: Connection,
           seen: set[int], original: bool = False) -> tuple[RawDocument, str, SyncRunDocument]:
    """Store the bytes FIRST (content-addressed), then classify: received, duplicate or empty.

    ``original``: the partner's own payload (a CSV file, a partner's JSON record) kept for lineage next to the
    canonical documents an adapter makes of it: linked to the run like any document (so a file already delivered
    is recognised), counted as ``originals``, but not announced in ``connection.documents_received``."""
    document, _created = document_store(content=data, source=source_label(conn), media_type=media_type, filename=name)
    recorder.add_bytes(len(data))
    if not data:
        role = SyncRunDocument.Role.EMPTY
        recorder.count("empty")
        logger.warning("connector %s: empty file %s stored (document %s) and reported", conn.code, name, document.pk)
    elif document.pk in seen or already_delivered(document):
        role = SyncRunDocument.Role.DUPLICATE
        recorder.count("duplicates")
    else:
        role = SyncRunDocument.Role.RECEIVED
        recorder.count("originals" if original else "received")
    seen.add(document.pk)
    link = recorder.add_document(document, role, remote_name=name)
    if original and role == SyncRunDocument.Role.RECEIVED:
        recorder.received.remove(document.pk)  # the canonical documents made of it are what the hub consumes
    return document, role, link


# -- files (directory, SFTP) -----------------------------------------------------------------------------------

def open_file_transport(conn: Connection, recorder: Recorder) -> FileTransport:
    if conn.transport == Transport.DIRECTORY:
        return DirectoryTransport(conn.endpoint)
    if conn.transport == Transport.SFTP:
        recorder.before_request()
        return SftpTransport(endpoint=conn.endpoint, credentials=recorder.credentials(), options=conn.options or {},
                             timeout=conn.timeout_seconds)
    raise PermanentError(f"Connection {conn.code} does not move files (transport {conn.transport}).")


def _archive(transport: FileTransport, inbox: str, archive: str, name: str, document: RawDocument) -> str:
    stem, ext = posixpath.splitext(name)
    candidates = [name, f"{stem}.{document.sha256[:12]}{ext}", f"{stem}.{document.sha256[:12]}.{time.time_ns()}{ext}"]
    for candidate in candidates:
        target = join(archive, candidate)
        try:
            transport.rename(join(inbox, name), target)
            return target
        except FileExistsError:
            continue
    raise PermanentError(f"Cannot archive {name}: every archive name is taken.")


def _settled(transport: FileTransport, recorder: Recorder, *, conn: Connection, inbox: str) -> list[FileEntry]:
    """The inbox's files that look complete: not ``.part``/``.tmp``, same size and mtime on a second look."""
    options = conn.options or {}
    settle = float(options.get("settle_seconds", DEFAULT_SETTLE_SECONDS))
    first: list[FileEntry] = []
    for entry in transport.list(inbox):
        if not entry.is_file or entry.name.startswith("."):
            continue
        if entry.name.lower().endswith(PARTIAL_SUFFIXES):
            recorder.count("skipped_partial")
            continue
        first.append(entry)
    if not first:
        return []
    resilience.clock.sleep(settle)  # second look: a writer still at work changes size or mtime
    second = {e.name: e for e in transport.list(inbox)}
    settled: list[FileEntry] = []
    for entry in first:
        now = second.get(entry.name)
        if now is None:
            continue  # taken away meanwhile
        if (now.size, now.mtime) != (entry.size, entry.mtime):
            recorder.count("skipped_unstable")
            continue
        settled.append(now)
    return settled


def _read_whole(transport: FileTransport, recorder: Recorder, inbox: str, entry: FileEntry) -> bytes | None:
    data = transport.read(join(inbox, entry.name))
    if len(data) != entry.size:
        recorder.count("skipped_unstable")
        return None
    return data


def pickup(transport: FileTransport, recorder: Recorder, *, conn: Connection, inbox: str, archive: str,
           check: Callable[[str, bytes], Any] | None = None, original: bool = False) -> list[RawDocument]:
    """Collect the settled files of ``inbox``: store each as a RawDocument, then move it to ``archive``.

    Order matters: a crash after storing and before archiving leaves the file in the inbox; the next run finds
    the same SHA-256 already stored, hands it over if no successful run delivered it yet, and archives it.
    Files whose size or mtime changes between two looks, and ``.part``/``.tmp`` files, are left for later.

    ``check(name, data)``, when given, reads every non-empty file before anything is stored or archived; a
    ``PermanentError`` it raises fails the run with NOTHING archived (the unreadable file is stored and linked to
    the run, so its detail page shows it): the files stay in the inbox until the partner replaces the bad one.
    ``original`` is passed to :func:`intake`.
    """
    entries = _settled(transport, recorder, conn=conn, inbox=inbox)
    if check is not None:
        for entry in entries:
            data = _read_whole(transport, recorder, inbox, entry) if entry.size else b""
            if not data:
                continue
            try:
                check(entry.name, data)
            except PermanentError:
                intake(recorder, data=data, name=entry.name, media_type=media_type_for(entry.name), conn=conn,
                       seen=set(), original=original)
                raise
    received: list[RawDocument] = []
    seen: set[int] = set()
    archive_ready = False
    for entry in entries:
        data = _read_whole(transport, recorder, inbox, entry)
        if data is None:
            continue
        document, role, link = intake(recorder, data=data, name=entry.name, media_type=media_type_for(entry.name),
                                      conn=conn, seen=seen, original=original)
        if role == SyncRunDocument.Role.RECEIVED:
            received.append(document)
        if not archive_ready:
            transport.makedirs(archive)
            archive_ready = True
        recorder.archived(link, _archive(transport, inbox, archive, entry.name, document))
        recorder.count("archived")
    return received


class FileBankChannel:
    """BankChannel over a file transport: payment files go to the outbox, statements and reports are picked up."""

    def __init__(self, transport: FileTransport, conn: Connection, recorder: Recorder):
        self.transport = transport
        self.conn = conn
        self.recorder = recorder
        self.options = conn.options or {}

    def send_payment_file(self, doc: RawDocument) -> dict[str, Any]:
        name = doc.filename or f"{doc.sha256[:16]}.xml"
        if already_sent(doc):
            self.recorder.count("already_sent")
            return {"remote_name": name, "already_sent": True}
        outbox = self.options.get("outbox_dir", "outbox")
        with document_open(doc) as fh:
            data = fh.read()
        self.transport.makedirs(outbox)
        self.transport.write_atomic(join(outbox, name), data)
        self.recorder.add_bytes(len(data))
        self.recorder.count("sent")
        link = self.recorder.add_document(doc, SyncRunDocument.Role.SENT, remote_name=join(outbox, name))
        return {"remote_name": link.remote_name, "already_sent": False}

    def fetch_statements(self) -> list[RawDocument]:
        return pickup(self.transport, self.recorder, conn=self.conn, inbox=self.options.get("inbox_dir", "inbox"),
                      archive=self.options.get("archive_dir", "archive"))

    def fetch_status_reports(self) -> list[RawDocument]:
        return pickup(self.transport, self.recorder, conn=self.conn, inbox=self.options.get("status_dir", "status"),
                      archive=self.options.get("archive_dir", "archive"))

    def check(self) -> dict:
        return self.transport.ping()


# -- REST -------------------------------------------------------------------------------------------------------

def open_rest_client(conn: Connection, recorder: Recorder) -> RestClient:
    if conn.transport != Transport.REST:
        raise PermanentError(f"Connection {conn.code} is not a REST connection.")
    return RestClient(base_url=conn.endpoint, credentials=recorder.credentials(), options=conn.options or {},
                      timeout=conn.timeout_seconds, before_request=recorder.before_request)


class RestBankChannel:
    """BankChannel over a generic REST API.

    - ``POST {payments_path}`` with the file as the body (its media type), ``Idempotency-Key: <sha256>`` and
      ``X-Filename``; the JSON answer is returned.
    - ``GET {statements_path}`` (and ``{status_reports_path}``) lists files: a JSON list, or ``{"items": [...]}``,
      of ``{"id", "filename", "media_type", "href"}``; each is downloaded from ``href`` (default
      ``{path}/{id}/content``), stored, and acknowledged with ``POST {path}/{id}/ack`` when ``options.ack`` is true.
    """

    def __init__(self, client: RestClient, conn: Connection, recorder: Recorder):
        self.client = client
        self.conn = conn
        self.recorder = recorder
        self.options = conn.options or {}

    def send_payment_file(self, doc: RawDocument) -> dict[str, Any]:
        if already_sent(doc):
            self.recorder.count("already_sent")
            return {"already_sent": True}
        with document_open(doc) as fh:
            data = fh.read()
        response = self.client.request(
            "POST", self.options.get("payments_path", "payment-files"), content=data,
            headers={"Content-Type": doc.media_type or "application/octet-stream", "Idempotency-Key": doc.sha256,
                     "X-Filename": doc.filename or doc.sha256},
        )
        self.recorder.add_bytes(len(data))
        self.recorder.count("sent")
        self.recorder.add_document(doc, SyncRunDocument.Role.SENT, remote_name=doc.filename)
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        return {"already_sent": False, "response": body if isinstance(body, dict) else {"items": body}}

    def _pull(self, path: str) -> list[RawDocument]:
        listing = self.client.get_json(path)
        items = listing.get("items", []) if isinstance(listing, dict) else listing
        if not isinstance(items, list):
            raise PermanentError(f"GET {path}: expected a list of files.")
        received: list[RawDocument] = []
        seen: set[int] = set()
        for item in items:
            if not isinstance(item, dict) or not (item.get("id") or item.get("href")):
                self.recorder.count("skipped_invalid")
                continue
            href = item.get("href") or item.get("url") or f"{path.rstrip('/')}/{item['id']}/content"
            response = self.client.request("GET", href, headers={"Accept": "*/*"})
            name = str(item.get("filename") or item.get("id"))
            media_type = item.get("media_type") or response.headers.get("Content-Type", "").split(";")[0] \
                or media_type_for(name)
            document, role, _link = intake(self.recorder, data=response.content, name=name, media_type=media_type,
                                           conn=self.conn, seen=seen)
            if role == SyncRunDocument.Role.RECEIVED:
                received.append(document)
            if self.options.get("ack") and item.get("id"):
                self.client.request("POST", f"{path.rstrip('/')}/{item['id']}/ack")
                self.recorder.count("acknowledged")
        return received

    def fetch_statements(self) -> list[RawDocument]:
        return self._pull(self.options.get("statements_path", "statements"))

    def fetch_status_reports(self) -> list[RawDocument]:
        return self._pull(self.options.get("status_reports_path", "status-reports"))

    def check(self) -> dict:
        return self.client.ping()


@contextlib.contextmanager
def bank_channel_for(conn: Connection, recorder: Recorder) -> Iterator[FileBankChannel | RestBankChannel]:
    """The transport-level bank channel for ``conn`` (one attempt); closes the session afterwards."""
    if conn.transport == Transport.REST:
        with open_rest_client(conn, recorder) as client:
            yield RestBankChannel(client, conn, recorder)
        return
    with open_file_transport(conn, recorder) as transport:
        yield FileBankChannel(transport, conn, recorder)


# -- ERP and expense adapters: registered by name (options.adapter) as they are written ------------------------

AdapterFactory = Callable[[Connection, Recorder], Any]
_erp_adapters: dict[str, AdapterFactory] = {}
_expense_sources: dict[str, AdapterFactory] = {}


def register_erp_adapter(name: str, factory: AdapterFactory) -> None:
    """``factory(connection, recorder)`` returns an object with the ErpAdapter methods for one attempt."""
    _erp_adapters[name] = factory


def register_expense_source(name: str, factory: AdapterFactory) -> None:
    _expense_sources[name] = factory


def adapter_factory(conn: Connection) -> AdapterFactory:
    registry = _erp_adapters if conn.partner_kind == "erp" else _expense_sources
    name = (conn.options or {}).get("adapter", "")
    factory = registry.get(name)
    if factory is None:
        raise PermanentError(
            f"Connection {conn.code}: no {conn.get_partner_kind_display()} adapter named {name!r} is installed"
            f"{' (known: ' + ', '.join(sorted(registry)) + ')' if registry else ''}."
        )
    return factory
