"""Hardened XML in, namespaced XML out, and the pain.001 schemas from the installed sepaxml package."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from lxml import etree

from apps.core.errors import ValidationFailed

MAX_BYTES = 20 * 1024 * 1024
PAIN001_NAMESPACES = {
    "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03": "pain.001.001.03",
    "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09": "pain.001.001.09",
}


class XmlRefused(ValidationFailed):
    """Not a file the bank accepts at all (hostile, malformed, schema-invalid, wrong message)."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


def parse_safely(content: bytes) -> etree._ElementTree:
    """Parse untrusted XML: any DOCTYPE or entity declaration is refused; nothing is expanded or fetched."""
    if len(content) > MAX_BYTES:
        raise XmlRefused(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB", {"reason": "FF01"})
    head = content[:4096].replace(b"\x00", b"")  # UTF-16 files too
    if b"<!DOCTYPE" in head or b"<!ENTITY" in content.replace(b"\x00", b""):
        raise XmlRefused("DOCTYPE and entity declarations are not accepted (hostile XML)", {"reason": "FF01"})
    try:
        tree = etree.ElementTree(etree.fromstring(content, _parser()))
    except etree.XMLSyntaxError as exc:
        raise XmlRefused(f"not well-formed XML: {exc}", {"reason": "FF01"}) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRefused("DOCTYPE and entity declarations are not accepted (hostile XML)", {"reason": "FF01"})
    return tree


def sepaxml_schema_dir() -> Path:
    spec = importlib.util.find_spec("sepaxml")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the sepaxml package (which ships the pain.001 schemas) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "schemas"


@lru_cache(maxsize=8)
def pain001_schema(version: str) -> etree.XMLSchema:
    path = sepaxml_schema_dir() / f"{version}.xsd"
    return etree.XMLSchema(etree.parse(str(path), _parser()))


def validate_pain001(tree: etree._ElementTree) -> str:
    """The pain.001 version of a schema-valid file, else :class:`XmlRefused`."""
    root = tree.getroot()
    namespace = etree.QName(root).namespace or ""
    version = PAIN001_NAMESPACES.get(namespace)
    if etree.QName(root).localname != "Document" or version is None:
        raise XmlRefused(
            f"not a pain.001.001.03 or pain.001.001.09 credit transfer (namespace {namespace or 'none'!r})",
            {"reason": "FF01"},
        )
    schema = pain001_schema(version)
    if not schema.validate(tree):
        error = schema.error_log.last_error
        raise XmlRefused(f"{version} schema: line {error.line}: {error.message}", {"reason": "FF01"})
    return version


class Builder:
    """Tiny namespaced element writer: ``b.sub(parent, "GrpHdr")``, ``b.sub(hdr, "MsgId", "X")``."""

    def __init__(self, namespace: str):
        self.ns = namespace
        self.root = etree.Element(f"{{{namespace}}}Document", nsmap={None: namespace})

    def sub(self, parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
        el = etree.SubElement(parent, f"{{{self.ns}}}{tag}", **attrs)
        if text is not None:
            el.text = str(text)
        return el

    def path(self, parent: etree._Element, tags: str, text: str | None = None, **attrs: str) -> etree._Element:
        """``path(p, "FinInstnId/BIC", "X")`` creates the chain and sets the last element's text."""
        el = parent
        names = tags.split("/")
        for i, tag in enumerate(names):
            el = self.sub(el, tag, text if i == len(names) - 1 else None, **(attrs if i == len(names) - 1 else {}))
        return el

    def bytes(self) -> bytes:
        return etree.tostring(self.root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
