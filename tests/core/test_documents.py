import hashlib
import io

from apps.core.models import RawDocument
from apps.core.services import document_open, document_store


def test_same_bytes_are_stored_once(db, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    first, created = document_store(content=b"<Document/>", source="upload", media_type="application/xml",
                                    filename="../../etc/a.xml")
    again, created_again = document_store(content=io.BytesIO(b"<Document/>"), source="api",
                                          media_type="application/xml")
    assert created and not created_again
    assert first.pk == again.pk and RawDocument.objects.count() == 1
    assert first.sha256 == hashlib.sha256(b"<Document/>").hexdigest()
    assert first.filename == "a.xml"  # never a path from the outside
    assert first.size == 11
    with document_open(first) as fh:
        assert fh.read() == b"<Document/>"


def test_large_payload_streams_to_storage(db, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    payload = b"x" * (9 * 1024 * 1024 + 7)
    doc, created = document_store(content=io.BytesIO(payload), source="upload", media_type="text/plain")
    assert created and doc.size == len(payload)
    with document_open(doc) as fh:
        assert fh.read() == payload
