"""SFTP over paramiko, with the server's host key pinned and a timeout on connect, auth and every read."""

from __future__ import annotations

import base64
import errno
import io
import logging
import posixpath
import socket
import stat as statmod
from urllib.parse import urlsplit

import paramiko

from apps.connectors.errors import AuthenticationFailed, PermanentError, TransientError
from apps.connectors.transports.base import FileEntry, FileTransport, clean_relative

logger = logging.getLogger(__name__)


def parse_sftp_endpoint(endpoint: str) -> tuple[str, int, str]:
    """``sftp://host:port/base`` or ``host:port`` -> (host, port, base path)."""
    text = endpoint if "://" in endpoint else f"sftp://{endpoint}"
    parts = urlsplit(text)
    if parts.scheme != "sftp" or not parts.hostname:
        raise PermanentError("An SFTP endpoint looks like sftp://host:22/base/path.")
    try:
        port = parts.port or 22
    except ValueError:
        raise PermanentError("The SFTP endpoint's port is not a number.") from None
    return parts.hostname, port, parts.path or ""


def _host_key(text: str) -> paramiko.PKey:
    """A pinned host key in OpenSSH form: ``ssh-ed25519 AAAA...`` (as in known_hosts, without the host name)."""
    try:
        key_type, b64 = text.split()[:2]
        return paramiko.PKey.from_type_string(key_type, base64.b64decode(b64))
    except (ValueError, paramiko.SSHException, TypeError):
        raise PermanentError("options.host_key is not an OpenSSH public key ('ssh-ed25519 AAAA...').") from None


def _private_key(pem: str, passphrase: str | None) -> paramiko.PKey:
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(pem), password=passphrase)
        except paramiko.SSHException:
            continue
    raise AuthenticationFailed("The private key in the credentials cannot be read (wrong format or passphrase).")


class SftpTransport(FileTransport):
    def __init__(self, *, endpoint: str, credentials: dict, options: dict, timeout: float):
        self.host, self.port, base = parse_sftp_endpoint(endpoint)
        self.base = base.rstrip("/")
        self.credentials = credentials
        self.options = options
        self.timeout = float(timeout)
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # -- connection ----------------------------------------------------------------------------------------------
    def open(self) -> None:
        pinned = self.options.get("host_key")
        if not pinned and not self.options.get("insecure_skip_host_key_check"):
            raise PermanentError("An SFTP connection needs options.host_key (the server's public key) to verify it.")
        username = self.credentials.get("username")
        if not username:
            raise AuthenticationFailed("The credentials have no username.")
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise TransientError(f"Cannot reach {self.host}:{self.port} ({exc.strerror or type(exc).__name__}).") from None
        try:
            transport = paramiko.Transport(sock)
            transport.banner_timeout = self.timeout
            transport.handshake_timeout = self.timeout
            transport.auth_timeout = self.timeout
            transport.start_client(timeout=self.timeout)
            self._transport = transport
            server_key = transport.get_remote_server_key()
            if pinned:
                expected = _host_key(pinned)
                if server_key.get_name() != expected.get_name() or server_key.asbytes() != expected.asbytes():
                    raise PermanentError(
                        f"The SFTP server's host key ({server_key.get_name()} "
                        f"{server_key.get_fingerprint().hex()}) does not match options.host_key. "
                        "Verify with the partner before changing it."
                    )
            else:
                logger.warning("sftp %s: host key not verified (insecure_skip_host_key_check)", self.host)
            if self.credentials.get("private_key"):
                key = _private_key(self.credentials["private_key"], self.credentials.get("passphrase"))
                transport.auth_publickey(username, key)
            else:
                transport.auth_password(username, self.credentials.get("password", ""), fallback=False)
            self._sftp = paramiko.SFTPClient.from_transport(transport)
            self._sftp.get_channel().settimeout(self.timeout)
        except paramiko.AuthenticationException:
            self.close()
            raise AuthenticationFailed(f"The SFTP server {self.host} refused our credentials.") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self.close()
            raise TransientError(f"SFTP session with {self.host}:{self.port} failed ({type(exc).__name__}).") from None
        except PermanentError:
            self.close()
            raise

    def close(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass
            self._sftp = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- files ---------------------------------------------------------------------------------------------------
    def _path(self, rel: str) -> str:
        rel = clean_relative(rel)
        if not self.base:
            return rel or "."
        return posixpath.join(self.base, rel) if rel else self.base

    def _client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            raise TransientError("The SFTP session is not open.")
        return self._sftp

    def _fail(self, exc: Exception, what: str) -> Exception:
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return TransientError(f"{what}: timed out after {self.timeout:g} s.")
        if isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.EACCES, errno.EPERM):
            return PermanentError(f"{what}: {'not found' if exc.errno == errno.ENOENT else 'permission denied'}.")
        return TransientError(f"{what}: {type(exc).__name__}.")

    def list(self, directory: str) -> list[FileEntry]:
        try:
            attrs = self._client().listdir_attr(self._path(directory))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._fail(exc, f"listing {directory or '/'}") from None
        return sorted(
            (FileEntry(a.filename, a.st_size or 0, float(a.st_mtime or 0), statmod.S_ISREG(a.st_mode or 0))
             for a in attrs),
            key=lambda e: e.name,
        )

    def stat(self, path: str) -> FileEntry | None:
        try:
            a = self._client().stat(self._path(path))
        except FileNotFoundError:
            return None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
                return None
            raise self._fail(exc, f"stat {path}") from None
        return FileEntry(posixpath.basename(path), a.st_size or 0, float(a.st_mtime or 0), statmod.S_ISREG(a.st_mode or 0))

    def read(self, path: str) -> bytes:
        buffer = io.BytesIO()
        try:
            self._client().getfo(self._path(path), buffer)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._fail(exc, f"reading {path}") from None
        return buffer.getvalue()

    def write_atomic(self, path: str, data: bytes) -> None:
        final = self._path(path)
        part = final + ".part"
        client = self._client()
        try:
            client.putfo(io.BytesIO(data), part, file_size=len(data), confirm=True)
            try:
                client.posix_rename(part, final)
            except OSError:
                client.rename(part, final)  # servers without the posix-rename extension
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._fail(exc, f"writing {path}") from None

    def rename(self, src: str, dst: str) -> None:
        if self.stat(dst) is not None:
            raise FileExistsError(dst)
        try:
            self._client().rename(self._path(src), self._path(dst))  # plain SFTP rename refuses to overwrite
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._fail(exc, f"moving {src}") from None

    def makedirs(self, directory: str) -> None:
        rel = clean_relative(directory)
        if not rel:
            return
        current = ""
        for part in rel.split("/"):
            current = posixpath.join(current, part) if current else part
            if self.stat(current) is None:
                try:
                    self._client().mkdir(self._path(current))
                except (OSError, EOFError, paramiko.SSHException) as exc:
                    if self.stat(current) is None:
                        raise self._fail(exc, f"creating {current}") from None
