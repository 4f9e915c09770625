"""One bank-transaction-code taxonomy for every format.

Each format codes "what kind of movement is this" differently:

* ISO 20022 camt: ``BkTxCd/Domn`` (domain / family / sub-family, e.g. ``PMNT/RCDT/ESCT``) and/or ``BkTxCd/Prtry``;
* BAI2: a three-digit type code (``165`` preauthorised ACH credit, ``475`` cheque paid, ``555`` deposited item
  returned);
* SWIFT MT940/942 ``:61:`` transaction type identification: ``N``/``F``/``S`` + three characters (``NTRF``,
  ``NCHK``, ``NRTI`` returned item; Dutch banks add their own such as ``NOVB``, ``NINC``, ``NBEA``);
* German ``:86:`` Geschaeftsvorfallcode (GVC), e.g. ``166`` SEPA credit transfer received, ``109`` SEPA direct debit
  returned (Ruecklastschrift), ``159`` SEPA credit transfer returned (Retoure).

``normalise_*`` turn each into a :class:`BankTransactionCode`: the raw code, a canonical ``code`` (the ISO triple
when one is known, else ``"<SCHEME>:<raw>"``), a coarse ``category`` shared by all schemes, a description and
the flags ``is_return`` / ``is_reversal``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

# Coarse categories shared by all schemes.
TRANSFER = "transfer"
DIRECT_DEBIT = "direct_debit"
CARD = "card"
CHEQUE = "cheque"
CASH = "cash"
FEE = "fee"
INTEREST = "interest"
FX = "fx"
SECURITIES = "securities"
SWEEP = "sweep"
LOAN = "loan"
LOCKBOX = "lockbox"
TAX = "tax"
BALANCE = "balance"  # status/summary codes (BAI 0xx, 9xx status)
OTHER = "other"


@dataclass(frozen=True, slots=True)
class BankTransactionCode:
    scheme: str  # "iso" | "bai" | "swift" | "gvc" | "proprietary"
    raw: str
    code: str  # canonical: ISO "DOMN/FMLY/SUBFMLY" when known, else "BAI:165", "SWIFT:TRF", "GVC:166", "PRTRY:..."
    category: str
    description: str
    is_return: bool = False
    is_reversal: bool = False
    direction: str | None = None  # "credit" / "debit" when the code itself implies one (BAI, GVC)
    proprietary: str | None = None  # camt Prtry/Cd given alongside (or instead of) the ISO code


def _code_cache(fn: Callable[..., BankTransactionCode | None]) -> Callable[..., BankTransactionCode | None]:
    """Memoise a ``normalise_*`` function: a statement repeats a handful of codes thousands of times, and the
    result is immutable. Only short arguments are cached (the text comes from the file) and the cache is bounded.
    """
    cache: dict[tuple, BankTransactionCode | None] = {}

    @functools.wraps(fn)
    def cached(*args: str | None, **kwargs: str | None) -> BankTransactionCode | None:
        if kwargs:
            return fn(*args, **kwargs)
        try:
            return cache[args]
        except KeyError:
            pass
        value = fn(*args)
        if sum(len(a) for a in args if a) <= 128:
            if len(cache) >= 4096:
                cache.clear()
            cache[args] = value
        return value

    cached.cache_clear = cache.clear  # type: ignore[attr-defined]
    return cached


# --- ISO 20022 -----------------------------------------------------------------------------------------------

ISO_DOMAINS = {
    "PMNT": "Payments",
    "CAMT": "Cash management",
    "DERV": "Derivatives",
    "LDAS": "Loans, deposits and syndications",
    "FORX": "Foreign exchange",
    "PMET": "Precious metal",
    "CMDT": "Commodities",
    "TRAD": "Trade services",
    "SECU": "Securities",
    "ACMT": "Account management",
    "XTND": "Extended domain",
}

ISO_FAMILIES = {
    "RCDT": ("Received credit transfers", TRANSFER),
    "ICDT": ("Issued credit transfers", TRANSFER),
    "RDDT": ("Received direct debits", DIRECT_DEBIT),
    "IDDT": ("Issued direct debits", DIRECT_DEBIT),
    "RCHQ": ("Received cheques", CHEQUE),
    "ICHQ": ("Issued cheques", CHEQUE),
    "CCRD": ("Customer card transactions", CARD),
    "MCRD": ("Merchant card transactions", CARD),
    "CNTR": ("Counter transactions", CASH),
    "DRFT": ("Drafts / bills of orders", CHEQUE),
    "RRCT": ("Received real-time credit transfers", TRANSFER),
    "IRCT": ("Issued real-time credit transfers", TRANSFER),
    "LBOX": ("Lockbox transactions", LOCKBOX),
    "MDOP": ("Miscellaneous debit operations", OTHER),
    "MCOP": ("Miscellaneous credit operations", OTHER),
    "ACCB": ("Account balancing", SWEEP),
    "CAPL": ("Cash pooling", SWEEP),
    "OPCL": ("Opening and closing", OTHER),
    "CUST": ("Custody", SECURITIES),
    "SETT": ("Trade, clearing and settlement", SECURITIES),
    "SPOT": ("Spot", FX),
    "FWRD": ("Forwards", FX),
    "NTAV": ("Not available", OTHER),
    "OTHR": ("Other", OTHER),
}

ISO_SUBFAMILIES = {
    "ESCT": "SEPA credit transfer",
    "SDVA": "Same day value credit transfer",
    "DMCT": "Domestic credit transfer",
    "XBCT": "Cross-border credit transfer",
    "BOOK": "Internal book transfer",
    "STDO": "Standing order",
    "SALA": "Payroll/salary payment",
    "ATXN": "ACH transaction",
    "ACDT": "ACH credit",
    "ADBT": "ACH debit",
    "ESDD": "SEPA core direct debit",
    "BBDD": "SEPA B2B direct debit",
    "PMDD": "Direct debit payment",
    "OODD": "One-off direct debit",
    "RRTN": "Reversal due to payment return",
    "UPDD": "Reversal due to return/unpaid direct debit",
    "ARET": "ACH return",
    "AREV": "ACH reversal",
    "URCQ": "Unpaid cheque",
    "UPCQ": "Unpaid cheque",
    "RPCR": "Reversal due to payment cancellation request",
    "PRDD": "Reversal due to payment reversal",
    "RCOV": "Reversal due to a payment cover",
    "CHRG": "Charges",
    "COMM": "Commission",
    "FEES": "Fees",
    "INTR": "Interest",
    "TAXE": "Taxes",
    "CWDL": "Cash withdrawal",
    "CDPT": "Cash deposit",
    "POSD": "Point-of-sale debit",
    "POSC": "Point-of-sale credit",
    "SMRT": "Smart-card payment",
    "CCHQ": "Cheque",
    "CHKD": "Cheque deposit",
    "OTHR": "Other",
    "NTAV": "Not available",
    "ZABA": "Zero balancing",
    "SWEP": "Sweeping",
    "TOPG": "Topping",
    "XBST": "Cross-border standing order",
    "FCDP": "Foreign currency deposit",
    "FCWD": "Foreign currency withdrawal",
}

ISO_RETURN_SUBFAMILIES = frozenset({"RRTN", "UPDD", "ARET", "URCQ", "UPCQ"})
ISO_REVERSAL_SUBFAMILIES = frozenset({"RPCR", "PRDD", "RCOV", "AREV"})
_ISO_SUBFAMILY_CATEGORY = {
    "CHRG": FEE,
    "COMM": FEE,
    "FEES": FEE,
    "INTR": INTEREST,
    "TAXE": TAX,
    "CWDL": CASH,
    "CDPT": CASH,
    "POSD": CARD,
    "POSC": CARD,
    "ZABA": SWEEP,
    "SWEP": SWEEP,
    "TOPG": SWEEP,
}
_ISO_DOMAIN_CATEGORY = {"FORX": FX, "SECU": SECURITIES, "LDAS": LOAN, "DERV": SECURITIES}


@_code_cache
def normalise_iso(
    domain: str | None, family: str | None, subfamily: str | None, proprietary: str | None = None
) -> BankTransactionCode | None:
    """camt ``BkTxCd``: ISO domain/family/sub-family and/or a proprietary code."""
    domain = (domain or "").strip().upper() or None
    family = (family or "").strip().upper() or None
    subfamily = (subfamily or "").strip().upper() or None
    proprietary = (proprietary or "").strip() or None
    if not domain:
        if not proprietary:
            return None
        return _proprietary(proprietary)
    parts = [p for p in (domain, family, subfamily) if p]
    raw = "/".join(parts)
    family_desc, category = ISO_FAMILIES.get(family or "", (family or "", OTHER))
    category = _ISO_SUBFAMILY_CATEGORY.get(subfamily or "", None) or _ISO_DOMAIN_CATEGORY.get(domain, category)
    desc = " / ".join(
        d
        for d in (
            ISO_DOMAINS.get(domain, domain),
            family_desc,
            ISO_SUBFAMILIES.get(subfamily or "", subfamily or ""),
        )
        if d
    )
    return BankTransactionCode(
        scheme="iso",
        raw=raw,
        code=raw,
        category=category,
        description=desc,
        is_return=subfamily in ISO_RETURN_SUBFAMILIES,
        is_reversal=subfamily in ISO_REVERSAL_SUBFAMILIES,
        proprietary=proprietary,
    )


def _proprietary(code: str) -> BankTransactionCode:
    # Some banks put SWIFT (NTRF) or GVC-like codes (e.g. "NTRF+166+...") in Prtry; recognise the common ones.
    head = code.split("+")[0].split("/")[0].strip().upper()
    if len(head) == 4 and head[0] in "NFS" and head[1:] in SWIFT_TYPES:
        swift = normalise_swift(head)
        assert swift is not None
        return BankTransactionCode(
            scheme="proprietary",
            raw=code,
            code=swift.code,
            category=swift.category,
            description=swift.description,
            is_return=swift.is_return,
            is_reversal=swift.is_reversal,
            proprietary=code,
        )
    return BankTransactionCode(
        scheme="proprietary", raw=code, code=f"PRTRY:{code}", category=OTHER, description=code, proprietary=code
    )


# --- SWIFT MT940 :61: transaction type identification code --------------------------------------------------

SWIFT_TYPES: dict[str, tuple[str, str, str | None]] = {
    # code: (description, category, ISO equivalent or None)
    "BNK": ("Securities related item - bank fees", FEE, None),
    "BOE": ("Bill of exchange", CHEQUE, "PMNT/DRFT/OTHR"),
    "BRF": ("Brokerage fee", FEE, None),
    "CAR": ("Securities related item - corporate actions", SECURITIES, None),
    "CAS": ("Securities related item - cash in lieu", SECURITIES, None),
    "CHG": ("Charges and other expenses", FEE, "ACMT/MDOP/CHRG"),
    "CHK": ("Cheques", CHEQUE, "PMNT/ICHQ/CCHQ"),
    "CLR": ("Cash letters / cheques remittance", CHEQUE, None),
    "CMI": ("Cash management item - no detail", SWEEP, None),
    "CMN": ("Cash management item - notional pooling", SWEEP, None),
    "CMP": ("Compensation claims", OTHER, None),
    "CMS": ("Cash management item - sweeping", SWEEP, "CAMT/ACCB/SWEP"),
    "CMT": ("Cash management item - topping", SWEEP, "CAMT/ACCB/TOPG"),
    "CMZ": ("Cash management item - zero balancing", SWEEP, "CAMT/ACCB/ZABA"),
    "COL": ("Collections", DIRECT_DEBIT, None),
    "COM": ("Commission", FEE, None),
    "CPN": ("Securities related item - coupon payments", SECURITIES, None),
    "DCR": ("Documentary credit", OTHER, None),
    "DDT": ("Direct debit item", DIRECT_DEBIT, "PMNT/IDDT/OTHR"),
    "DIS": ("Securities related item - gains disbursement", SECURITIES, None),
    "DIV": ("Securities related item - dividends", SECURITIES, None),
    "EQA": ("Equivalent amount", OTHER, None),
    "EXT": ("Securities related item - external transfer for own account", SECURITIES, None),
    "FEX": ("Foreign exchange", FX, "FORX/SPOT/OTHR"),
    "INT": ("Interest", INTEREST, "ACMT/MDOP/INTR"),
    "LBX": ("Lock box", LOCKBOX, "PMNT/LBOX/OTHR"),
    "LDP": ("Loan deposit", LOAN, None),
    "MAR": ("Securities related item - margin payments", SECURITIES, None),
    "MAT": ("Securities related item - maturity", SECURITIES, None),
    "MGT": ("Securities related item - management fees", FEE, None),
    "MSC": ("Miscellaneous", OTHER, None),
    "NWI": ("Securities related item - new issues distribution", SECURITIES, None),
    "ODC": ("Overdraft charge", FEE, None),
    "OPT": ("Securities related item - options", SECURITIES, None),
    "PCH": ("Securities related item - purchase", SECURITIES, None),
    "POP": ("Securities related item - pair-off proceeds", SECURITIES, None),
    "PRN": ("Securities related item - principal pay-down/pay-up", SECURITIES, None),
    "REC": ("Securities related item - tax reclaim", TAX, None),
    "RED": ("Securities related item - redemption/withdrawal", SECURITIES, None),
    "RIG": ("Securities related item - rights", SECURITIES, None),
    "RTI": ("Returned item", OTHER, None),
    "SAL": ("Securities related item - sale", SECURITIES, None),
    "SEC": ("Securities", SECURITIES, None),
    "SLE": ("Securities related item - securities lending related", SECURITIES, None),
    "STO": ("Standing order", TRANSFER, "PMNT/ICDT/STDO"),
    "STP": ("Securities related item - stamp duty", TAX, None),
    "SUB": ("Securities related item - subscription", SECURITIES, None),
    "SWP": ("Securities related item - SWAP payment", SECURITIES, None),
    "TAX": ("Securities related item - withholding tax payment", TAX, None),
    "TCK": ("Travellers cheques", CHEQUE, None),
    "TCM": ("Securities related item - tripartite collateral management", SECURITIES, None),
    "TRA": ("Securities related item - internal transfer for own account", SECURITIES, None),
    "TRF": ("Transfer", TRANSFER, None),
    "TRN": ("Securities related item - transaction fee", FEE, None),
    "UWC": ("Securities related item - underwriting commission", FEE, None),
    "VDA": ("Value date adjustment", OTHER, None),
    "WAR": ("Securities related item - warrant", SECURITIES, None),
    # Dutch bank codes seen in ING/ABN AMRO/SNS/ASN/Triodos files
    "OVB": ("Overboeking (transfer)", TRANSFER, None),
    "IOB": ("Interne overboeking (internal transfer)", TRANSFER, None),
    "INC": ("Incasso (direct debit)", DIRECT_DEBIT, None),
    "BEA": ("Betaalautomaat (card payment)", CARD, "PMNT/CCRD/POSD"),
    "GEA": ("Geldautomaat (ATM withdrawal)", CASH, "PMNT/CCRD/CWDL"),
    "KST": ("Kosten (charges)", FEE, None),
    "RNT": ("Rente (interest)", INTEREST, None),
    "ACC": ("Acceptgiro", TRANSFER, None),
}
SWIFT_RETURN_TYPES = frozenset({"RTI"})


@_code_cache
def normalise_swift(type_code: str | None) -> BankTransactionCode | None:
    """MT940 ``:61:`` subfield 6: ``N``/``F``/``S`` followed by a three-character code (``NTRF``, ``NRTI``)."""
    if not type_code:
        return None
    raw = type_code.strip().upper()
    if not raw:
        return None
    code = raw[1:] if len(raw) == 4 and raw[0] in "NFS" else raw
    if code.isdigit():  # Rabobank/ABN AMRO put their own numeric codes here (N044, N426)
        return BankTransactionCode(
            scheme="swift", raw=raw, code=f"SWIFT:{code}", category=OTHER, description=f"Bank code {code}"
        )
    desc, category, iso = SWIFT_TYPES.get(code, (code, OTHER, None))
    is_return = code in SWIFT_RETURN_TYPES
    return BankTransactionCode(
        scheme="swift",
        raw=raw,
        code=iso or f"SWIFT:{code}",
        category=category,
        description=desc,
        is_return=is_return,
    )


# --- German GVC (Geschaeftsvorfallcode) in structured :86: -----------------------------------------------------

GVC_CODES: dict[str, tuple[str, str, str | None, str | None]] = {
    # code: (description, category, direction, ISO equivalent)
    "004": ("Lastschrift (Abbuchungsverfahren)", DIRECT_DEBIT, "debit", None),
    "005": ("Lastschrift (Einzugsermaechtigung)", DIRECT_DEBIT, "debit", None),
    "008": ("Dauerauftrag", TRANSFER, "debit", "PMNT/ICDT/STDO"),
    "009": ("Ruecklastschrift", DIRECT_DEBIT, None, None),
    "020": ("Ueberweisung", TRANSFER, "debit", "PMNT/ICDT/DMCT"),
    "051": ("Ueberweisungsgutschrift", TRANSFER, "credit", "PMNT/RCDT/DMCT"),
    "052": ("Dauerauftragsgutschrift", TRANSFER, "credit", "PMNT/RCDT/STDO"),
    "053": ("Lohn-, Gehalts-, Rentengutschrift", TRANSFER, "credit", "PMNT/RCDT/SALA"),
    "059": ("Rueckueberweisung", TRANSFER, None, None),
    "069": ("Ueberweisungsgutschrift (sonstige)", TRANSFER, "credit", None),
    "079": ("Sammler", TRANSFER, None, None),
    "082": ("Einzahlung", CASH, "credit", "PMNT/CNTR/CDPT"),
    "083": ("Auszahlung", CASH, "debit", "PMNT/CNTR/CWDL"),
    "105": ("SEPA Basislastschrift", DIRECT_DEBIT, "debit", "PMNT/IDDT/ESDD"),
    "106": ("SEPA Kartenlastschrift", CARD, "debit", None),
    "107": ("SEPA Lastschrift (aus Einzugsermaechtigung)", DIRECT_DEBIT, "debit", "PMNT/IDDT/ESDD"),
    "108": ("SEPA Lastschrift Wiedergutschrift (Rueckbuchung)", DIRECT_DEBIT, "credit", "PMNT/IDDT/UPDD"),
    "109": ("SEPA Ruecklastschrift", DIRECT_DEBIT, None, "PMNT/RDDT/UPDD"),
    "116": ("SEPA Ueberweisung", TRANSFER, "debit", "PMNT/ICDT/ESCT"),
    "117": ("SEPA Dauerauftrag", TRANSFER, "debit", "PMNT/ICDT/STDO"),
    "119": ("SEPA Spendenueberweisung", TRANSFER, "debit", "PMNT/ICDT/ESCT"),
    "152": ("SEPA Dauerauftragsgutschrift", TRANSFER, "credit", "PMNT/RCDT/STDO"),
    "153": ("SEPA Lohn-/Gehaltsgutschrift", TRANSFER, "credit", "PMNT/RCDT/SALA"),
    "159": ("SEPA Ueberweisung Retoure", TRANSFER, "credit", "PMNT/ICDT/RRTN"),
    "166": ("SEPA Gutschrift", TRANSFER, "credit", "PMNT/RCDT/ESCT"),
    "169": ("SEPA Spendengutschrift", TRANSFER, "credit", "PMNT/RCDT/ESCT"),
    "171": ("SEPA Basislastschrift (Belastung)", DIRECT_DEBIT, "debit", "PMNT/IDDT/ESDD"),
    "174": ("SEPA Firmenlastschrift (Belastung)", DIRECT_DEBIT, "debit", "PMNT/IDDT/BBDD"),
    "177": ("SEPA Online-Ueberweisung", TRANSFER, "debit", "PMNT/ICDT/ESCT"),
    "181": ("SEPA Basislastschrift Ruecklastschrift", DIRECT_DEBIT, None, "PMNT/RDDT/UPDD"),
    "184": ("SEPA Firmenlastschrift Ruecklastschrift", DIRECT_DEBIT, None, "PMNT/RDDT/UPDD"),
    "191": ("SEPA Sammelueberweisung", TRANSFER, "debit", "PMNT/ICDT/ESCT"),
    "192": ("SEPA Sammel-Basislastschrift (Gutschrift)", DIRECT_DEBIT, "credit", "PMNT/RDDT/ESDD"),
    "194": ("SEPA Sammelgutschrift", TRANSFER, "credit", "PMNT/RCDT/ESCT"),
    "805": ("Rechnungsabschluss / Entgelte", FEE, None, None),
    "808": ("Gebuehren", FEE, "debit", "ACMT/MDOP/CHRG"),
    "809": ("Provisionen", FEE, "debit", "ACMT/MDOP/COMM"),
    "814": ("Zinsen", INTEREST, None, "ACMT/MDOP/INTR"),
    "835": ("Sonstige Buchung", OTHER, None, None),
    "899": ("Storno / sonstige Buchung", OTHER, None, None),
    "999": ("Unstrukturierte Buchung", OTHER, None, None),
}
GVC_RETURN_CODES = frozenset({"009", "059", "108", "109", "159", "181", "184"})


@_code_cache
def normalise_gvc(code: str | None) -> BankTransactionCode | None:
    if not code:
        return None
    raw = code.strip()
    if not (len(raw) == 3 and raw.isdigit()):
        return None
    desc, category, direction, iso = GVC_CODES.get(raw, (f"GVC {raw}", OTHER, None, None))
    return BankTransactionCode(
        scheme="gvc",
        raw=raw,
        code=iso or f"GVC:{raw}",
        category=category,
        description=desc,
        is_return=raw in GVC_RETURN_CODES,
        direction=direction,
    )


# --- BAI2 type codes --------------------------------------------------------------------------------------------

BAI_RETURN_CODES = frozenset(
    {
        "123", "168", "250", "255", "256", "257", "260", "261", "266", "268", "423", "468",
        "550", "555", "556", "557", "560", "561", "566", "568",
    }
)  # fmt: skip
BAI_REVERSAL_CODES = frozenset({"251", "252", "258", "395", "551", "552", "558", "694"})
_BAI_CATEGORY_WORDS = (
    ("lockbox", LOCKBOX),
    ("ach", TRANSFER),
    ("wire", TRANSFER),
    ("money transfer", TRANSFER),
    ("book transfer", TRANSFER),
    ("check", CHEQUE),
    ("cheque", CHEQUE),
    ("interest", INTEREST),
    ("fee", FEE),
    ("charge", FEE),
    ("commission", FEE),
    ("zba", SWEEP),
    ("sweep", SWEEP),
    ("loan", LOAN),
    ("cash", CASH),
    ("card", CARD),
    ("foreign exchange", FX),
    ("securit", SECURITIES),
    ("tax", TAX),
)


@lru_cache(maxsize=1)
def _bai_table() -> dict[str, tuple[str | None, str]]:
    """BAI type-code table shipped with the ``bai2`` package (MIT): code -> (credit/debit/None, description)."""
    try:
        from bai2.constants import TypeCodes  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - the dependency is declared; ranges still work without it
        return {}
    table: dict[str, tuple[str | None, str]] = {}
    for tc in TypeCodes.values() if isinstance(TypeCodes, dict) else TypeCodes:
        tx = getattr(tc.transaction, "value", None)
        table[tc.code] = (tx if tx in ("credit", "debit") else None, tc.description)
    return table


def bai_direction(code: str) -> str | None:
    """credit / debit / None (status or summary balance codes) for a BAI type code.

    Ranges: 001-099 status, 100-399 credits, 400-699 debits, 700-899 unused, 900-919 customised status,
    920-959 customised credits, 960-999 customised debits.
    """
    if not (len(code) == 3 and code.isdigit()):
        return None
    n = int(code)
    if 100 <= n <= 399 or 920 <= n <= 959:
        return "credit"
    if 400 <= n <= 699 or 960 <= n <= 999:
        return "debit"
    return None


@_code_cache
def normalise_bai(code: str | None) -> BankTransactionCode | None:
    if not code:
        return None
    raw = code.strip()
    if not raw:
        return None
    direction = bai_direction(raw)
    table_dir, desc = _bai_table().get(raw, (None, ""))
    direction = table_dir or direction
    if not desc:
        n = int(raw) if raw.isdigit() else -1
        desc = (
            "Customised code" if 900 <= n <= 999 else "Status/balance" if 0 <= n < 100 else f"BAI type code {raw}"
        )
    category = BALANCE if direction is None else OTHER
    lowered = desc.lower()
    if category == OTHER:
        for word, cat in _BAI_CATEGORY_WORDS:
            if word in lowered:
                category = cat
                break
    is_return = raw in BAI_RETURN_CODES or ("return" in lowered and "reverse" not in lowered)
    return BankTransactionCode(
        scheme="bai",
        raw=raw,
        code=f"BAI:{raw}",
        category=category,
        description=desc,
        is_return=is_return,
        is_reversal=raw in BAI_REVERSAL_CODES,
        direction=direction,
    )
