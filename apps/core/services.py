"""Core services: raw documents (payload lineage)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime
from typing import BinaryIO

from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.core.models import RawDocument

_CHUNK = 1024 * 1024


def _spool(content: bytes | BinaryIO) -> tuple[str, int, tempfile.SpooledTemporaryFile]:
    digest = hashlib.sha256()
    size = 0
    spool = tempfile.SpooledTemporaryFile(max_size=8 * _CHUNK)
    if isinstance(content, (bytes, bytearray, memoryview)):
        content = memoryview(content)
        digest.update(content)
        spool.write(content)
        size = len(content)
    else:
        while chunk := content.read(_CHUNK):
            digest.update(chunk)
            spool.write(chunk)
            size += len(chunk)
    spool.seek(0)
    return digest.hexdigest(), size, spool


def document_store(
    *,
    content: bytes | BinaryIO,
    source: str,
    media_type: str,
    filename: str = "",
    direction: str = RawDocument.Direction.INBOUND,
    occurred_at: datetime | None = None,
    actor=None,
) -> tuple[RawDocument, bool]:
    """Store a file or payload once, by SHA-256. Returns ``(document, created)``; the same bytes again are a no-op.

    Streams: memory stays flat whatever the size (bytes beyond 8 MiB spool to a temporary file).
    """
    sha256, size, spool = _spool(content)
    with spool:
        existing = RawDocument.objects.filter(sha256=sha256).first()
        if existing is not None:
            return existing, False
        doc = RawDocument(
            sha256=sha256,
            size=size,
            media_type=media_type[:100],
            filename=os.path.basename(filename)[:255],
            source=source[:100],
            direction=direction,
            occurred_at=occurred_at or timezone.now(),
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        doc.content.save(sha256, File(spool), save=False)  # content-addressed: same name for the same bytes
        try:
            with transaction.atomic():
                doc.save()
        except IntegrityError:
            return RawDocument.objects.get(sha256=sha256), False
        return doc, True


def document_open(document: RawDocument) -> BinaryIO:
    return document.content.open("rb")


def document_json(document: RawDocument):
    """The parsed JSON of a stored document, or ValidationFailed naming the document and the parse error."""
    import json

    with document_open(document) as fh:
        try:
            return json.load(fh)
        except ValueError as exc:
            raise ValidationFailed(f"{document.filename or 'document'} is not JSON ({exc}).") from None
