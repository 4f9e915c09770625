"""File pick-up over a real SFTP server and a mounted directory: store first, then archive; never lose or
double-import a file; leave half-written files; report empty ones."""

from __future__ import annotations

import pytest

from apps.connectors import channels
from apps.connectors.models import SyncRun, SyncRunDocument
from apps.connectors.services import get_bank_channel
from apps.core.models import Event, RawDocument

CAMT = b"<?xml version='1.0'?><Document><BkToCstmrStmt/></Document>"
MT940 = b":20:STMT\n:25:DE89370400440532013000\n:28C:1/1\n-"


def test_sftp_pickup_stores_then_archives(db, clock, sftp_server, sftp_connection):
    inbox = sftp_server.root / "in" / "statements"
    inbox.mkdir()
    (inbox / "camt053_0001.xml").write_bytes(CAMT)
    (inbox / "stmt.940").write_bytes(MT940)

    channel = get_bank_channel(sftp_connection)
    docs = channel.fetch_statements()

    assert sorted(d.filename for d in docs) == ["camt053_0001.xml", "stmt.940"]
    assert {d.filename: d.media_type for d in docs} == {"camt053_0001.xml": "application/xml",
                                                         "stmt.940": "text/plain"}
    assert sorted(p.name for p in inbox.iterdir()) == []
    archive = sftp_server.root / "in" / "archive"
    assert sorted(p.name for p in archive.iterdir()) == ["camt053_0001.xml", "stmt.940"]
    run = channel.last_run
    assert (run.status, run.operation, run.attempts, run.via_fallback) == ("succeeded", "fetch_statements", 1, False)
    assert run.counts == {"received": 2, "archived": 2}
    assert run.bytes == len(CAMT) + len(MT940)
    assert sorted(run.moved.values_list("role", "archived_as")) == [
        ("received", "archive/camt053_0001.xml"), ("received", "archive/stmt.940")]
    assert clock.sleeps == [0.0]  # one settle wait between the two looks
    event = Event.objects.get(type="connection.documents_received")
    assert sorted(event.payload["documents"]) == sorted(d.pk for d in docs)


def test_sftp_wrong_host_key_is_refused_without_retry(db, clock, sftp_server, make_connection):
    from apps.connectors.errors import PermanentError
    import paramiko

    other = paramiko.ECDSAKey.generate()
    conn = make_connection(
        "deut-sftp-bad", transport="sftp", endpoint=f"sftp://127.0.0.1:{sftp_server.port}/in",
        credentials={"username": "u", "password": "p4ssword"},
        options={"host_key": f"{other.get_name()} {other.get_base64()}"},
    )
    with pytest.raises(PermanentError, match="host key"):
        get_bank_channel(conn).check()
    run = SyncRun.objects.get(connection=conn)
    assert (run.status, run.attempts) == ("failed", 1)
    assert clock.sleeps == []


def test_crash_between_store_and_archive_neither_loses_nor_double_imports(db, clock, tmp_path, make_connection,
                                                                          monkeypatch):
    drop = tmp_path / "drop"
    (drop / "inbox").mkdir(parents=True)
    (drop / "inbox" / "camt.xml").write_bytes(CAMT)
    conn = make_connection(endpoint=str(drop))
    real_archive = channels._archive

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(channels, "_archive", crash)
    with pytest.raises(RuntimeError):
        get_bank_channel(conn).fetch_statements()
    first = SyncRun.objects.get()
    assert (first.status, first.error) == ("failed", "Internal error (RuntimeError); see the worker log.")
    assert RawDocument.objects.count() == 1  # stored before the crash
    assert (drop / "inbox" / "camt.xml").exists()  # not archived

    monkeypatch.setattr(channels, "_archive", real_archive)
    channel = get_bank_channel(conn)
    docs = channel.fetch_statements()
    assert [d.filename for d in docs] == ["camt.xml"]  # the failed run never delivered it: handed over once now
    assert RawDocument.objects.count() == 1
    assert not (drop / "inbox" / "camt.xml").exists()
    assert (drop / "archive" / "camt.xml").read_bytes() == CAMT
    assert channel.last_run.counts == {"received": 1, "archived": 1}

    (drop / "inbox" / "camt.xml").write_bytes(CAMT)  # the bank drops the very same file again
    again = get_bank_channel(conn)
    assert again.fetch_statements() == []
    assert again.last_run.counts == {"duplicates": 1, "archived": 1}
    assert RawDocument.objects.count() == 1
    assert sorted(p.name for p in (drop / "archive").iterdir()) == sorted([
        "camt.xml", f"camt.{RawDocument.objects.get().sha256[:12]}.xml"])
    assert SyncRunDocument.objects.filter(role="received", run__status="succeeded").count() == 1


def test_half_written_and_partial_files_are_left_for_later(db, clock, tmp_path, make_connection):
    drop = tmp_path / "drop"
    inbox = drop / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "done.xml").write_bytes(CAMT)
    (inbox / "upload.xml.part").write_bytes(b"<Doc")
    (inbox / "other.tmp").write_bytes(b"x")
    (inbox / "growing.xml").write_bytes(b"<Document>")
    conn = make_connection(endpoint=str(drop))

    def writer_still_busy(_seconds):
        with open(inbox / "growing.xml", "ab") as fh:
            fh.write(b"<more/>")

    clock.on_sleep = writer_still_busy
    channel = get_bank_channel(conn)
    docs = channel.fetch_statements()

    assert [d.filename for d in docs] == ["done.xml"]
    assert channel.last_run.counts == {"received": 1, "archived": 1, "skipped_partial": 2, "skipped_unstable": 1}
    assert sorted(p.name for p in inbox.iterdir()) == ["growing.xml", "other.tmp", "upload.xml.part"]

    clock.on_sleep = None  # the writer has finished: the next run takes it
    later = get_bank_channel(conn)
    assert [d.filename for d in later.fetch_statements()] == ["growing.xml"]


def test_empty_files_are_stored_archived_and_counted(db, clock, tmp_path, make_connection):
    drop = tmp_path / "drop"
    (drop / "inbox").mkdir(parents=True)
    (drop / "inbox" / "empty.xml").write_bytes(b"")
    (drop / "inbox" / "real.xml").write_bytes(CAMT)
    conn = make_connection(endpoint=str(drop))

    channel = get_bank_channel(conn)
    docs = channel.fetch_statements()

    assert [d.filename for d in docs] == ["real.xml"]
    assert channel.last_run.counts == {"empty": 1, "received": 1, "archived": 2}
    empty = RawDocument.objects.get(size=0)
    assert list(channel.last_run.moved.filter(role="empty").values_list("document_id", "remote_name")) == [
        (empty.pk, "empty.xml")]
    assert sorted(p.name for p in (drop / "archive").iterdir()) == ["empty.xml", "real.xml"]


def test_payment_file_is_written_atomically_and_sent_once(db, clock, tmp_path, make_connection):
    from apps.core.services import document_store

    drop = tmp_path / "drop"
    drop.mkdir()
    conn = make_connection(endpoint=str(drop))
    doc, _ = document_store(content=b"<pain.001/>", source="test", media_type="application/xml",
                            filename="pain001_42.xml", direction="outbound")
    channel = get_bank_channel(conn)
    assert channel.send_payment_file(doc) == {"remote_name": "outbox/pain001_42.xml", "already_sent": False}
    assert (drop / "outbox" / "pain001_42.xml").read_bytes() == b"<pain.001/>"
    assert sorted(p.name for p in (drop / "outbox").iterdir()) == ["pain001_42.xml"]  # no .part left behind
    assert channel.send_payment_file(doc) == {"remote_name": "pain001_42.xml", "already_sent": True}
    assert channel.last_run.counts == {"already_sent": 1}


def test_missing_mount_is_transient_and_retried(db, clock, tmp_path, make_connection):
    from apps.connectors.errors import ConnectorUnavailable

    conn = make_connection(endpoint=str(tmp_path / "not-mounted"))
    with pytest.raises(ConnectorUnavailable):
        get_bank_channel(conn).fetch_statements()
    run = SyncRun.objects.get()
    assert (run.status, run.attempts) == ("failed", 3)
    assert clock.sleeps == [1.0, 2.0]  # full jitter upper bounds: base 1 s, then 2 s
    assert not (tmp_path / "not-mounted").exists()  # never created a mount point
