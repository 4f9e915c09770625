"""The file transport interface shared by the directory and SFTP transports."""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from dataclasses import dataclass

from apps.connectors.errors import PermanentError


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    mtime: float
    is_file: bool = True


class FileTransport(ABC):
    """Paths are relative to the connection's base directory, with ``/`` separators."""

    def __enter__(self) -> FileTransport:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:  # noqa: B027 - optional hook
        """Connect (SFTP); nothing for a local directory."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect."""

    @abstractmethod
    def list(self, directory: str) -> list[FileEntry]: ...

    @abstractmethod
    def stat(self, path: str) -> FileEntry | None: ...

    @abstractmethod
    def read(self, path: str) -> bytes: ...

    @abstractmethod
    def write_atomic(self, path: str, data: bytes) -> None:
        """Write to ``path + '.part'`` then rename, so the partner never picks up a half-written file."""

    @abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Rename; raises ``FileExistsError`` when ``dst`` exists."""

    @abstractmethod
    def makedirs(self, directory: str) -> None: ...

    def ping(self) -> dict:
        return {"entries": len(self.list(""))}


def clean_relative(path: str) -> str:
    """Normalise a configured relative path and refuse one that climbs out of the base directory."""
    norm = posixpath.normpath("/" + (path or "").replace("\\", "/").lstrip("/")).lstrip("/")
    if norm in ("", "."):
        return ""
    if norm.startswith(".."):
        raise PermanentError(f"Path {path!r} leaves the connection's base directory.")
    return norm


def join(*parts: str) -> str:
    return clean_relative(posixpath.join(*[p for p in parts if p]))
