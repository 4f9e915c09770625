"""Format detection from content (never from the file name) and the hostile-XML prolog check."""

from __future__ import annotations

import re

from ._io import head_text
from .errors import HostileXmlError, ParseError, UnknownFormatError

CAMT_053 = "camt.053"
CAMT_052 = "camt.052"
CAMT_054 = "camt.054"
MT940 = "mt940"
MT942 = "mt942"
BAI2 = "bai2"
CSV = "csv"
PAIN_001 = "pain.001"
PAIN_002 = "pain.002"
PAIN_008 = "pain.008"
OFX = "ofx"
NACHA = "nacha"

STATEMENT_FAMILIES = (CAMT_053, CAMT_052, CAMT_054, MT940, MT942, BAI2, CSV)
NOT_A_STATEMENT = (PAIN_001, PAIN_002, PAIN_008, NACHA)

_MESSAGE_ELEMENTS = {
    "BkToCstmrStmt": CAMT_053,
    "BkToCstmrStmtV01": CAMT_053,
    "BkToCstmrAcctRpt": CAMT_052,
    "BkToCstmrAcctRptV01": CAMT_052,
    "BkToCstmrDbtCdtNtfctn": CAMT_054,
    "BkToCstmrDbtCdtNtfctnV01": CAMT_054,
    "CstmrCdtTrfInitn": PAIN_001,
    "CstmrPmtStsRpt": PAIN_002,
    "CstmrDrctDbtInitn": PAIN_008,
}
_NS_VERSION = re.compile(r"\b(camt\.05[234]|pain\.00[128])\.(\d{3})\.(\d{2})")
_ROOT_TAG = re.compile(r"<\s*(?:[\w.-]+:)?([\w.-]+)([^>]*)>", re.S)
_XMLNS = re.compile(r"""xmlns(?::[\w.-]+)?\s*=\s*["']([^"']*)["']""", re.I)
_MT_TAG = re.compile(r"(?m)^:(20|25|28C?|60[FM]|61|62[FM]|86):")
_MT942_TAG = re.compile(r"(?m)^:(34F|13D|90[CD]):")
_BAI_HEADER = re.compile(r"^\s*0[01],[^\n]*,[^\n]*,[^\n]*,")


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def xml_head_text(head: bytes) -> str:
    if head[:2] == b"<\x00":
        return head.decode("utf-16-le", errors="replace")
    if head[:2] == b"\x00<":
        return head.decode("utf-16-be", errors="replace")
    return head_text(head)


def check_xml_prolog(head: bytes) -> int:
    """Refuse DOCTYPE / ENTITY declarations before the XML parser sees anything.

    Walks the prolog (XML declaration, processing instructions, comments, whitespace) up to the root element.
    Any ``<!`` that is not a comment (``<!DOCTYPE``, ``<!ENTITY``, ``<![CDATA[`` outside the root) is refused:
    that covers XXE, external DTDs, billion laughs and quadratic blowup, none of which can work without a DTD.
    Returns the index of the root element in the decoded head.
    """
    text = xml_head_text(head)
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n\ufeff":
            i += 1
            continue
        if text.startswith("<?", i):
            j = text.find("?>", i)
            if j < 0:
                break
            i = j + 2
            continue
        if text.startswith("<!--", i):
            j = text.find("-->", i)
            if j < 0:
                break
            i = j + 3
            continue
        if text.startswith("<!", i):
            what = text[i : i + 10].split()[0] if text[i : i + 10].split() else "<!"
            raise HostileXmlError(
                f"DOCTYPE/entity declarations are not allowed in statement files (found {what!r}); "
                "bank statement XML never needs a DTD, and one can be used for XXE or entity-expansion attacks",
                f"line {_line_of(text, i)}",
            )
        if ch == "<":
            return i
        raise ParseError(
            f"unexpected text {text[i:i + 20]!r} before the root element; expected '<?xml ...?>' or '<Document'",
            f"line {_line_of(text, i)}",
        )
    raise ParseError(
        "no root element found in the first "
        f"{len(head)} bytes; expected '<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.05x...\">'",
        "line 1",
    )


def detect_xml(head: bytes) -> str:
    text = xml_head_text(head)
    root_at = check_xml_prolog(head)
    namespaces: list[str] = []
    names: list[str] = []
    for m in _ROOT_TAG.finditer(text, root_at):
        if m.group(0).startswith(("<!", "<?", "</")):
            continue
        names.append(m.group(1))
        namespaces.extend(_XMLNS.findall(m.group(2)))
        if len(names) >= 2:
            break
    for ns in namespaces:
        m = _NS_VERSION.search(ns)
        if m:
            return f"{m.group(1)}.{m.group(2)}.{m.group(3)}"
    for name in names:
        if name in _MESSAGE_ELEMENTS:
            return _MESSAGE_ELEMENTS[name]
    if any(name.upper() == "OFX" for name in names):
        return OFX
    raise UnknownFormatError(
        f"XML document with root <{names[0] if names else '?'}> and namespace "
        f"{namespaces[0] if namespaces else '(none)'!r} is not a supported statement: expected an ISO 20022 "
        "camt.052/053/054 (namespace urn:iso:std:iso:20022:tech:xsd:camt.05x.001.NN or a BkToCstmr... element)",
        f"line {_line_of(text, root_at)}",
    )


def detect_format(head: bytes) -> str:
    """Name the format of a file from its first bytes (64 KiB is plenty).

    Returns ``"camt.053.001.02"`` (family + version from the namespace; ``"camt.053"`` when the namespace gives
    none), ``"mt940"``, ``"mt942"``, ``"bai2"``, ``"csv"``, or a non-statement format the caller should route
    elsewhere: ``"pain.001.001.03"``, ``"pain.002.001.10"``, ``"pain.008..."``, ``"nacha"``, ``"ofx"``.
    Raises :class:`HostileXmlError` for XML with a DOCTYPE and :class:`UnknownFormatError` otherwise.
    """
    if not head or not head.strip(b" \t\r\n\x00"):
        raise UnknownFormatError("the file is empty; expected a bank statement", "line 1")
    xml_text = xml_head_text(head)
    if xml_text.lstrip("\ufeff \t\r\n").startswith("<"):
        return detect_xml(head)
    text = head_text(head).lstrip("\ufeff")
    if "OFXHEADER" in text[:200]:
        return OFX
    swift = text.replace("\x01", "").replace("\x03", "")
    if _MT942_TAG.search(swift) or re.search(r"\{2:[IO]942", swift):
        return MT942
    if _MT_TAG.search(swift) or re.search(r"\{2:[IO]940", swift):
        return MT940
    first = next((line for line in text.splitlines() if line.strip()), "")
    if _BAI_HEADER.match(first):
        return BAI2
    if first.startswith("101 ") and len(first.rstrip("\r\n")) >= 80:
        return NACHA
    if "\x00" not in text and any(sep in first for sep in (",", ";", "\t", "|")):
        return CSV
    raise UnknownFormatError(
        "could not recognise the format. Looked for: XML (camt.05x), SWIFT tags (:20:, :25:, :60F:, :61:), "
        "a BAI2 file header ('01,'), delimited text (CSV); the first line is " + repr(first[:60]),
        "line 1",
    )


def family(fmt: str) -> str:
    """``"camt.053.001.02"`` -> ``"camt.053"``; other names unchanged."""
    m = re.match(r"^(camt\.05[234]|pain\.00[128])", fmt)
    return m.group(1) if m else fmt
