"""ISO 20022 pain.001 credit transfer initiation (.001.001.03 and .001.001.09), validated against the official XSD
that the ``sepaxml`` package ships (loaded from the installed package, never copied)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import sepaxml
from lxml import etree

from apps.core.errors import ValidationFailed
from apps.core.money import minor_units

VERSIONS = ("pain.001.001.03", "pain.001.001.09")


@dataclass(frozen=True)
class Debtor:
    name: str
    iban: str
    account_number: str
    bic: str
    currency: str


@dataclass(frozen=True)
class Transfer:
    end_to_end_id: str
    amount: Decimal
    currency: str
    creditor_name: str
    creditor_iban: str
    creditor_account_number: str
    creditor_routing: str
    creditor_bic: str
    creditor_address: dict
    remittance_information: str
    purpose: str


@lru_cache(maxsize=4)
def schema(version: str) -> etree.XMLSchema:
    path = Path(sepaxml.__file__).parent / "schemas" / f"{version}.xsd"
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def _sub(parent, tag: str, text: str | None = None, **attrs):
    el = etree.SubElement(parent, tag, **attrs)
    if text is not None:
        el.text = text
    return el


def _amount(value: Decimal, currency: str) -> str:
    return f"{value:.{minor_units(currency)}f}"


def _agent(parent, tag: str, bic: str, routing: str, version: str) -> None:
    agent = _sub(_sub(parent, tag), "FinInstnId")
    if bic:
        _sub(agent, "BIC" if version.endswith(".03") else "BICFI", bic)
    elif routing:
        member = _sub(agent, "ClrSysMmbId")
        _sub(member, "MmbId", routing)
    else:
        othr = _sub(agent, "Othr")
        _sub(othr, "Id", "NOTPROVIDED")


def _account(parent, tag: str, iban: str, number: str, currency: str | None = None) -> None:
    acct = _sub(parent, tag)
    ident = _sub(acct, "Id")
    if iban:
        _sub(ident, "IBAN", iban)
    else:
        _sub(_sub(ident, "Othr"), "Id", number)
    if currency:
        _sub(acct, "Ccy", currency)


def _address(parent, address: dict) -> None:
    if not address:
        return
    adr = _sub(parent, "PstlAdr")
    for key, tag in (("street", "StrtNm"), ("building_number", "BldgNb"), ("postal_code", "PstCd"),
                     ("town", "TwnNm"), ("country", "Ctry")):
        if address.get(key):
            _sub(adr, tag, address[key])
    for line in address.get("lines") or []:
        _sub(adr, "AdrLine", line)


def build(*, version: str, message_id: str, created_at: datetime, initiating_party: str, payment_info_id: str,
          execution_date: date, debtor: Debtor, transfers: list[Transfer], sepa: bool) -> bytes:
    if version not in VERSIONS:
        raise ValidationFailed(f"payment format {version!r} is not supported ({', '.join(VERSIONS)}).")
    ns = f"urn:iso:std:iso:20022:tech:xsd:{version}"
    root = etree.Element("Document", nsmap={None: ns})
    initn = _sub(root, "CstmrCdtTrfInitn")
    count = str(len(transfers))
    total = sum((t.amount for t in transfers), Decimal(0))
    control = f"{total:.{max(minor_units(t.currency) for t in transfers)}f}" if transfers else "0"
    header = _sub(initn, "GrpHdr")
    _sub(header, "MsgId", message_id)
    _sub(header, "CreDtTm", created_at.strftime("%Y-%m-%dT%H:%M:%S"))
    _sub(header, "NbOfTxs", count)
    _sub(header, "CtrlSum", control)
    _sub(_sub(header, "InitgPty"), "Nm", initiating_party[:70])
    info = _sub(initn, "PmtInf")
    _sub(info, "PmtInfId", payment_info_id)
    _sub(info, "PmtMtd", "TRF")
    _sub(info, "BtchBookg", "true")
    _sub(info, "NbOfTxs", count)
    _sub(info, "CtrlSum", control)
    if sepa:
        _sub(_sub(_sub(info, "PmtTpInf"), "SvcLvl"), "Cd", "SEPA")
    when = _sub(info, "ReqdExctnDt", execution_date.isoformat() if version.endswith(".03") else None)
    if not version.endswith(".03"):
        _sub(when, "Dt", execution_date.isoformat())
    _sub(_sub(info, "Dbtr"), "Nm", debtor.name[:70])
    _account(info, "DbtrAcct", debtor.iban, debtor.account_number, debtor.currency)
    _agent(info, "DbtrAgt", debtor.bic, "", version)
    if sepa:
        _sub(info, "ChrgBr", "SLEV")
    for t in transfers:
        tx = _sub(info, "CdtTrfTxInf")
        _sub(_sub(tx, "PmtId"), "EndToEndId", t.end_to_end_id)
        _sub(_sub(tx, "Amt"), "InstdAmt", _amount(t.amount, t.currency), Ccy=t.currency)
        if t.creditor_bic or t.creditor_routing:
            _agent(tx, "CdtrAgt", t.creditor_bic, t.creditor_routing, version)
        creditor = _sub(tx, "Cdtr")
        _sub(creditor, "Nm", t.creditor_name[:70])
        _address(creditor, t.creditor_address)
        _account(tx, "CdtrAcct", t.creditor_iban, t.creditor_account_number)
        if t.purpose:
            _sub(_sub(tx, "Purp"), "Cd", t.purpose)
        if t.remittance_information:
            _sub(_sub(tx, "RmtInf"), "Ustrd", t.remittance_information[:140])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def validate(content: bytes, version: str) -> None:
    """Raise ValidationFailed naming the line and the XSD's complaint when the file does not conform."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    document = etree.fromstring(content, parser).getroottree()
    xsd = schema(version)
    if not xsd.validate(document):
        errors = [f"line {e.line}: {e.message}" for e in list(xsd.error_log)[:5]]
        raise ValidationFailed(f"The {version} file does not conform to the XSD: " + "; ".join(errors),
                               {"errors": errors})
