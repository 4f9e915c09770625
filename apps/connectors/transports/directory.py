"""A mounted file drop: a local (or NFS/SMB-mounted) directory."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from apps.connectors.errors import PermanentError, TransientError
from apps.connectors.transports.base import FileEntry, FileTransport, clean_relative


def _classify(exc: OSError, what: str) -> Exception:
    if isinstance(exc, PermissionError):
        return PermanentError(f"{what}: permission denied.")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        # A missing mount looks like a missing directory: worth retrying, then a case if it stays away.
        return TransientError(f"{what}: not found (is the file drop mounted?).")
    return TransientError(f"{what}: {exc.strerror or type(exc).__name__}.")


class DirectoryTransport(FileTransport):
    def __init__(self, base: str):
        if not base or not os.path.isabs(base):
            raise PermanentError("A directory connection needs an absolute directory as its endpoint.")
        self.base = Path(base)

    def open(self) -> None:
        if not self.base.is_dir():
            raise TransientError("The file drop directory is not reachable (is it mounted?).")

    def _path(self, rel: str) -> Path:
        return self.base / clean_relative(rel)

    def list(self, directory: str) -> list[FileEntry]:
        target = self._path(directory)
        try:
            entries = []
            with os.scandir(target) as it:
                for entry in it:
                    st = entry.stat(follow_symlinks=False)
                    entries.append(FileEntry(entry.name, st.st_size, st.st_mtime, entry.is_file(follow_symlinks=False)))
            return sorted(entries, key=lambda e: e.name)
        except OSError as exc:
            raise _classify(exc, f"listing {directory or '/'}") from None

    def stat(self, path: str) -> FileEntry | None:
        try:
            st = self._path(path).stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _classify(exc, f"stat {path}") from None
        return FileEntry(os.path.basename(path), st.st_size, st.st_mtime, self._path(path).is_file())

    def read(self, path: str) -> bytes:
        try:
            return self._path(path).read_bytes()
        except OSError as exc:
            raise _classify(exc, f"reading {path}") from None

    def write_atomic(self, path: str, data: bytes) -> None:
        final = self._path(path)
        part = final.with_name(final.name + ".part")
        try:
            with open(part, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(part, final)
        except OSError as exc:
            raise _classify(exc, f"writing {path}") from None

    def rename(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        try:
            os.link(source, target)  # fails if the target exists: no silent overwrite
            os.unlink(source)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):  # no hard links here
                if target.exists():
                    raise FileExistsError(dst) from None
                try:
                    os.rename(source, target)
                    return
                except OSError as exc2:
                    raise _classify(exc2, f"moving {src}") from None
            raise _classify(exc, f"moving {src}") from None

    def makedirs(self, directory: str) -> None:
        try:
            self._path(directory).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _classify(exc, f"creating {directory}") from None
