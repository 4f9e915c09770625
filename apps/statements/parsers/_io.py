"""Low-level reading helpers shared by the parsers: binary reader with a re-readable head, line decoding,
number parsing and ISO 4217 minor units."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import IO, Any

HEAD_SIZE = 64 * 1024


class HeadReader(io.RawIOBase):
    """Binary file wrapper that remembers the first bytes (for detection) and replays them on read.

    Accepts binary or text file objects (text is encoded as UTF-8), so parse() works with ``open(path, "rb")``,
    ``io.BytesIO`` or a Django ``UploadedFile``.
    """

    def __init__(self, fileobj: IO[Any], head_size: int = HEAD_SIZE):
        super().__init__()
        self._f = fileobj
        first = fileobj.read(head_size)
        if isinstance(first, str):
            self._text = True
            first = first.encode("utf-8")
        else:
            self._text = False
            first = bytes(first or b"")
        self.head: bytes = first
        self._pending = first

    def readable(self) -> bool:
        return True

    def _read_more(self, n: int) -> bytes:
        data = self._f.read(n)
        if isinstance(data, str):
            data = data.encode("utf-8")
        return data or b""

    def readinto(self, b: Any) -> int:
        n = len(b)
        if self._pending:
            chunk, self._pending = self._pending[:n], self._pending[n:]
        else:
            chunk = self._read_more(n)
        b[: len(chunk)] = chunk
        return len(chunk)

    def read(self, n: int = -1) -> bytes:  # lxml calls read(n)
        if n is None or n < 0:
            rest = self._pending + self._read_all()
            self._pending = b""
            return rest
        if self._pending:
            chunk, self._pending = self._pending[:n], self._pending[n:]
            return chunk
        return self._read_more(n)

    def _read_all(self) -> bytes:
        parts = []
        while True:
            data = self._read_more(1 << 20)
            if not data:
                return b"".join(parts)
            parts.append(data)

    def seekable(self) -> bool:
        return False


def bom_encoding(head: bytes) -> str | None:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return None


def head_text(head: bytes) -> str:
    """Decode the head for sniffing (never fails)."""
    enc = bom_encoding(head)
    if enc:
        return head.decode(enc, errors="replace")
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start > len(head) - 4:  # a multi-byte character cut at the end of the head
            return head[: exc.start].decode("utf-8", errors="replace")
        return head.decode("cp1252", errors="replace")


def _decode_line(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def iter_lines(reader: IO[bytes], encoding: str | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` with line endings removed (LF, CRLF or lone CR), streaming.

    Without an encoding each line is decoded as UTF-8, falling back to cp1252 (bank files are often Latin-1).
    """
    for number, lines in iter_line_blocks(reader, encoding):
        for line in lines:
            yield number, line
            number += 1


def iter_line_blocks(reader: IO[bytes], encoding: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """The lines of :func:`iter_lines` a block at a time: ``(number of the block's first line, [text, ...])``.

    For parsers whose loop runs once per line: the file is read and decoded about a megabyte at a time (one
    ``decode`` and one ``split`` for the block instead of one per line), memory stays flat. The lines and their
    numbers are exactly those of :func:`iter_lines`.
    """
    if encoding is None:
        head = getattr(reader, "head", b"")
        encoding = bom_encoding(head)
    buffered: IO[bytes] = io.BufferedReader(reader, 1 << 16) if isinstance(reader, io.RawIOBase) else reader
    number = 1
    if encoding and encoding.replace("-", "").replace("_", "").lower() not in ("utf8", "utf8sig"):
        text = io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline="")  # type: ignore[arg-type]
        block: list[str] = []
        for line in text:
            block.extend(_split_cr(line))
            if len(block) >= 4096:
                yield number, block
                number += len(block)
                block = []
        if block:
            yield number, block
        return
    rest = b""
    first = True
    while True:
        chunk = buffered.read(BLOCK_SIZE)
        if not chunk:
            if rest:  # the last line, without a line feed
                if first and rest.startswith(b"\xef\xbb\xbf"):
                    rest = rest[3:]
                yield number, _split_cr(_decode_line(rest))
            return
        data = rest + chunk if rest else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # no complete line yet (a very long one)
            rest = data
            continue
        rest = data[cut:]
        data = data[:cut]
        if first:
            first = False
            if data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
        block = _block_lines(data)
        yield number, block
        number += len(block)


BLOCK_SIZE = 1 << 20


def _block_lines(data: bytes) -> list[str]:
    """The lines of ``data`` (complete lines, each ending in a line feed), as :func:`iter_lines` splits them."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # decode line by line, each with its own fallback
        lines: list[str] = []
        for raw in data.split(b"\n")[:-1]:
            lines.extend(_split_cr(_decode_line(raw)))
        return lines
    if "\r" in text:
        crlf = text.replace("\r\n", "\n")
        if "\r" in crlf:  # old Mac line endings, or a CR in a line: the general rule line by line
            lines = []
            for line in text.split("\n")[:-1]:
                lines.extend(_split_cr(line))
            return lines
        text = crlf
    lines = text.split("\n")
    lines.pop()  # the empty string after the last line feed
    return lines


def _split_cr(line: str) -> list[str]:
    line = line.rstrip("\n")
    if line.endswith("\r"):
        line = line[:-1]
    if "\r" in line:  # old Mac line endings
        return line.split("\r")
    return [line]


def parse_decimal(text: str, *, decimal_sep: str = ".", thousands_sep: str | None = None) -> Decimal:
    """Parse a number written by a human or a bank. Raises ValueError with the offending text."""
    s = text.strip().replace("\u00a0", "").replace(" ", "")
    if thousands_sep:
        s = s.replace(thousands_sep, "")
    if decimal_sep != ".":
        s = s.replace(decimal_sep, ".")
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1]
    if s.endswith("-"):
        negative, s = True, s[:-1]
    if s.endswith("."):
        s = s + "0"
    try:
        value = Decimal(s)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return -value if negative else value


# ISO 4217 currencies whose minor unit is not 2 decimals.
_MINOR_UNITS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
    "UYW": 4,
}


def minor_units(currency: str | None) -> int:
    return _MINOR_UNITS.get((currency or "").upper(), 2)
