"""Fixtures for connector tests: a real SFTP server on 127.0.0.1, a clock that never waits, connections."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import paramiko
import pytest

from apps.connectors import resilience
from apps.connectors.models import Connection
from apps.connectors.services import connection_upsert
from apps.connectors.transports.rest import TOKENS

SFTP_USER = "finops-bank"
SFTP_PASSWORD = "Sftp-S3cret-Pa55word!"  # must never appear in logs, errors, history, API or pages
CLIENT_SECRET = "oauth-Cl1ent-S3cret-xyz"


@pytest.fixture
def secrets() -> dict:
    return {"sftp_password": SFTP_PASSWORD, "client_secret": CLIENT_SECRET}


class FakeClock:
    """Records every wait instead of waiting; ``on_sleep`` lets a test act "during" a wait."""

    def __init__(self):
        self.sleeps: list[float] = []
        self.on_sleep = None

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        if self.on_sleep is not None:
            self.on_sleep(seconds)

    def uniform(self, low: float, high: float) -> float:
        return high  # deterministic "jitter": the upper bound


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(resilience, "clock", fake)
    return fake


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    TOKENS.clear()


# -- SFTP server ---------------------------------------------------------------------------------------------------

class _Server(paramiko.ServerInterface):
    def check_auth_password(self, username, password):
        ok = username == SFTP_USER and password == SFTP_PASSWORD
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username):
        return "password"

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(paramiko.SFTPHandle):
    def stat(self):
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)


def _sftp_interface(root: Path):
    class _Files(paramiko.SFTPServerInterface):
        def _real(self, path: str) -> str:
            return str(root) + self.canonicalize(path)

        def list_folder(self, path):
            real = self._real(path)
            try:
                out = []
                for name in sorted(os.listdir(real)):
                    attr = paramiko.SFTPAttributes.from_stat(os.stat(os.path.join(real, name)))
                    attr.filename = name
                    out.append(attr)
                return out
            except OSError as exc:
                return paramiko.SFTPServer.convert_errno(exc.errno)

        def stat(self, path):
            try:
                return paramiko.SFTPAttributes.from_stat(os.stat(self._real(path)))
            except OSError as exc:
                return paramiko.SFTPServer.convert_errno(exc.errno)

        lstat = stat

        def open(self, path, flags, attr):
            real = self._real(path)
            try:
                fd = os.open(real, flags, 0o644)
            except OSError as exc:
                return paramiko.SFTPServer.convert_errno(exc.errno)
            mode = "rb"
            if flags & os.O_WRONLY:
                mode = "ab" if flags & os.O_APPEND else "wb"
            elif flags & os.O_RDWR:
                mode = "r+b"
            handle = _Handle(flags)
            handle.filename = real
            handle.readfile = handle.writefile = os.fdopen(fd, mode)
            return handle

        def remove(self, path):
            try:
                os.remove(self._real(path))
            except OSError as exc:
                return paramiko.SFTPServer.convert_errno(exc.errno)
            return paramiko.SFTP_OK

        def rename(self, oldpath, newpath):
            if os.path.exists(self._real(newpath)):
                return paramiko.SFTP_FAILURE
            try:
                os.rename(self._real(oldpath), self._real(newpath))
            except OSError as exc:
                return paramiko.SFTPServer.convert_errno(exc.errno)
            return paramiko.SFTP_OK

        def posix_rename(self, oldpath, newpath):
            try:
                os.replace(self._real(oldpath), self._real(newpath))
            except OSError as exc:
                return paramiko.SFTPServer.convert_errno(exc.errno)
            return paramiko.SFTP_OK

        def mkdir(self, path, attr):
            try:
                os.mkdir(self._real(path))
            except OSError as exc:
                return paramiko.SFTPServer.convert_errno(exc.errno)
            return paramiko.SFTP_OK

        def chattr(self, path, attr):
            return paramiko.SFTP_OK

    return _Files


class SftpServer:
    def __init__(self, root: Path):
        self.root = root
        self.host_key = paramiko.ECDSAKey.generate()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._transports: list[paramiko.Transport] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def public_key(self) -> str:
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"

    def _serve(self):
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            transport = paramiko.Transport(client)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _sftp_interface(self.root))
            transport.start_server(server=_Server())
            self._transports.append(transport)

    def stop(self):
        self._stop.set()
        self.sock.close()
        for t in self._transports:
            t.close()
        self._thread.join(timeout=2)


@pytest.fixture
def sftp_server(tmp_path):
    root = tmp_path / "sftp-root"
    (root / "in").mkdir(parents=True)
    server = SftpServer(root)
    yield server
    server.stop()


# -- connections -----------------------------------------------------------------------------------------------------

@pytest.fixture
def make_connection(db, bank_partner):
    def make(code="deut-files", *, transport="directory", endpoint="/nonexistent", credentials=None, **kw) -> Connection:
        options = kw.pop("options", {})
        options.setdefault("settle_seconds", 0)
        result = connection_upsert(
            code=code, name=kw.pop("name", code), partner_kind=kw.pop("partner_kind", "bank"),
            partner_ref=kw.pop("partner_ref", bank_partner.code), transport=transport, endpoint=endpoint,
            options=options, credentials=credentials, **kw,
        )
        return result.obj

    return make


@pytest.fixture
def sftp_connection(make_connection, sftp_server):
    return make_connection(
        "deut-sftp", transport="sftp", endpoint=f"sftp://127.0.0.1:{sftp_server.port}/in",
        credentials={"username": SFTP_USER, "password": SFTP_PASSWORD},
        options={"host_key": sftp_server.public_key, "inbox_dir": "statements", "archive_dir": "archive"},
        timeout_seconds=5,
    )


# -- ERP and expense partners (the sandbox, in-process over httpx) ---------------------------------------------------

@pytest.fixture
def sandbox_http():
    """The hub's REST clients reach the sandbox partners in-process (same test transaction); ``.requests`` lists
    ``(method, path)`` of every call."""
    from apps.connectors.transports.rest import use_http_transport
    from tests.sandbox.partner_builders import SandboxTransport

    transport = SandboxTransport()
    with use_http_transport(transport):
        yield transport


@pytest.fixture
def partner_connection(make_connection):
    """``partner_connection(code, kind, partner, adapter, endpoint, **kw)``: an ERP or expense connection."""

    def make(code: str, *, kind: str, partner: str, adapter: str, endpoint: str, transport: str = "rest",
             options: dict | None = None, **kw) -> Connection:
        return make_connection(code, partner_kind=kind, partner_ref=partner, transport=transport, endpoint=endpoint,
                               options={"adapter": adapter, **(options or {})}, **kw)

    return make
