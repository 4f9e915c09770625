"""NACHA (ACH) files for US bank partners: building a credits-only CCD/PPD file from the same ``Debtor`` and
``Transfer`` dataclasses as pain.001, and checking any NACHA file's structure (record lengths, record order,
batch/file control counts, totals and entry hash, routing check digits, blocking).

Record layouts follow the NACHA Operating Rules (94-character records, blocking factor 10). Pure Python."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from apps.core.errors import ValidationFailed
from apps.payments.pain001 import Debtor, Transfer

RECORD_LENGTH = 94
BLOCKING_FACTOR = 10
PADDING = "9" * RECORD_LENGTH
SEC_CODES = ("CCD", "PPD")
CREDIT_CHECKING = "22"
MAX_ENTRY_CENTS = 10**10 - 1  # the entry amount field holds 10 digits of cents: $99,999,999.99 at most
SERVICE_CLASSES = {"200": "mixed debits and credits", "220": "credits only", "225": "debits only",
                   "280": "automated accounting advices"}
TRANSACTION_CODES = {"21", "22", "23", "24", "26", "27", "28", "29", "31", "32", "33", "34", "36", "37", "38",
                     "39", "41", "42", "43", "44", "46", "47", "48", "49", "51", "52", "53", "54", "55", "56"}
RECORD_NAMES = {"1": "file header", "5": "batch header", "6": "entry detail", "7": "addenda", "8": "batch control",
                "9": "file control"}

_EXTRA = str.maketrans({"ß": "ss", "ẞ": "SS", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o",
                        "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "TH", "þ": "th",
                        "ı": "i", "’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "€": "EUR"})


# ----------------------------------------------------------------------------------------------------- helpers

def routing_check_digit(first8: str) -> int:
    """ABA mod-10 check digit for the first 8 digits of a routing number (weights 3, 7, 1)."""
    total = sum(int(d) * w for d, w in zip(first8, (3, 7, 1, 3, 7, 1, 3, 7)))
    return (10 - total % 10) % 10


def routing_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 9-digit ABA routing number, or None when it is."""
    if not value:
        return "is missing"
    if not re.fullmatch(r"\d{9}", value):
        return f"must be 9 digits, found {value!r}"
    expected = routing_check_digit(value[:8])
    if int(value[8]) != expected:
        return f"fails the ABA check digit: expected {expected} as 9th digit, found {value[8]} ({value!r})"
    return None


def ascii_upper(text: str) -> str:
    """Upper-case printable ASCII: accents dropped, common letters transliterated, anything else a space."""
    text = unicodedata.normalize("NFKD", (text or "").translate(_EXTRA))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = "".join(c if " " <= c <= "~" else " " for c in text)
    return text.upper()


def _alpha(text: str, width: int) -> str:
    return ascii_upper(text)[:width].ljust(width)


def _num(value: int, width: int) -> str:
    return str(value).rjust(width, "0")


def _fail(message: str, field_name: str, **extra) -> ValidationFailed:
    return ValidationFailed(message, {"field": field_name, **extra})


# ----------------------------------------------------------------------------------------------------- building

def _cents(index: int, t: Transfer) -> int:
    where = f"instruction {index} ({t.end_to_end_id})"
    try:
        amount = Decimal(t.amount)
    except (InvalidOperation, TypeError, ValueError):
        raise _fail(f"{where}: amount {t.amount!r} is not a number.", "amount", index=index) from None
    if not amount.is_finite() or amount <= 0:
        raise _fail(f"{where}: amount must be positive, found {amount}.", "amount", index=index)
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise _fail(f"{where}: amount {amount} has fractions of a cent.", "amount", index=index)
    if cents > MAX_ENTRY_CENTS:
        raise _fail(f"{where}: amount {amount} USD does not fit a NACHA entry (at most 99999999.99, "
                    "10 digits of cents); split the payment.", "amount", index=index)
    return int(cents)


def _check_transfer(index: int, t: Transfer) -> None:
    where = f"instruction {index} ({t.end_to_end_id})"
    if t.currency != "USD":
        raise _fail(f"{where}: currency must be USD for a NACHA file, found {t.currency!r}.", "currency",
                    index=index)
    problem = routing_problem((t.creditor_routing or "").strip())
    if problem:
        raise _fail(f"{where}: creditor_routing {problem}.", "creditor_routing", index=index)
    account = (t.creditor_account_number or "").strip()
    if not account:
        raise _fail(f"{where}: creditor_account_number is missing (NACHA needs the receiver's account).",
                    "creditor_account_number", index=index)
    if len(account) > 17 or not re.fullmatch(r"[A-Za-z0-9 \-]+", account):
        raise _fail(f"{where}: creditor_account_number must be at most 17 letters, digits or hyphens, "
                    f"found {account!r}.", "creditor_account_number", index=index)
    if not ascii_upper(t.creditor_name).strip():
        raise _fail(f"{where}: creditor_name is missing.", "creditor_name", index=index)


def _require(value: str, name: str, *, width: int, exact: bool = False, pattern: str | None = None) -> str:
    value = ascii_upper(value or "").strip() if not exact else (value or "")
    if not value.strip():
        raise _fail(f"{name}: is missing.", name)
    if exact and len(value) != width:
        raise _fail(f"{name}: must be exactly {width} characters, found {len(value)} ({value!r}).", name)
    if pattern and not re.fullmatch(pattern, value):
        raise _fail(f"{name}: {value!r} is not valid.", name)
    return value


def build(*, immediate_destination: str, immediate_origin: str, destination_name: str, origin_name: str,
          company_name: str, company_id: str, entry_description: str, effective_date: date, created_at: datetime,
          file_id_modifier: str = "A", sec_code: str = "CCD", debtor: Debtor, transfers: list[Transfer]) -> bytes:
    """A one-batch, credits-only (service class 220, transaction code 22) NACHA file paying ``transfers`` from the
    debtor's account at the ODFI ``immediate_destination``. Raises ValidationFailed naming the instruction index
    (0-based) and field for anything the format cannot carry."""
    problem = routing_problem((immediate_destination or "").strip())
    if problem:
        raise _fail(f"immediate_destination (the bank's routing number) {problem}.", "immediate_destination")
    odfi_routing = immediate_destination.strip()
    origin = immediate_origin or ""
    if re.fullmatch(r"\d{9}", origin):
        origin = " " + origin
    origin = _require(origin, "immediate_origin", width=10, exact=True, pattern=r"[ -~]{10}")
    company_id = _require(company_id, "company_id", width=10, exact=True, pattern=r"[ -~]{10}")
    description = _require(entry_description, "entry_description", width=10)
    if len(description) > 10:
        raise _fail(f"entry_description: at most 10 characters, found {len(description)} ({description!r}).",
                    "entry_description")
    company = _require(company_name, "company_name", width=16)
    modifier = (file_id_modifier or "").upper()
    if not re.fullmatch(r"[A-Z0-9]", modifier):
        raise _fail(f"file_id_modifier: must be one letter A-Z or digit 0-9, found {file_id_modifier!r}.",
                    "file_id_modifier")
    if sec_code not in SEC_CODES:
        raise _fail(f"sec_code: must be one of {', '.join(SEC_CODES)}, found {sec_code!r}.", "sec_code")
    if debtor.currency != "USD":
        raise _fail(f"debtor.currency: NACHA files pay from USD accounts, found {debtor.currency!r}.",
                    "debtor.currency")
    if not transfers:
        raise _fail("transfers: a NACHA file needs at least one instruction.", "transfers")
    for index, t in enumerate(transfers):
        _check_transfer(index, t)
    amounts = [_cents(index, t) for index, t in enumerate(transfers)]

    odfi = odfi_routing[:8]
    records = [
        "101" + " " + odfi_routing + origin + created_at.strftime("%y%m%d%H%M") + modifier + "094" + "10" + "1"
        + _alpha(destination_name, 23) + _alpha(origin_name, 23) + " " * 8,
        "5220" + _alpha(company, 16) + " " * 20 + company_id + sec_code + _alpha(description, 10) + " " * 6
        + effective_date.strftime("%y%m%d") + " " * 3 + "1" + odfi + _num(1, 7),
    ]
    entry_hash = 0
    addenda = 0
    for sequence, (t, cents) in enumerate(zip(transfers, amounts), start=1):
        routing = t.creditor_routing.strip()
        entry_hash += int(routing[:8])
        trace = odfi + _num(sequence, 7)
        remittance = ascii_upper(t.remittance_information or "").strip()
        records.append("6" + CREDIT_CHECKING + routing + _alpha(t.creditor_account_number.strip(), 17)
                       + _num(cents, 10) + _alpha(t.end_to_end_id, 15) + _alpha(t.creditor_name, 22) + "  "
                       + ("1" if remittance else "0") + trace)
        if remittance:
            addenda += 1
            records.append("705" + _alpha(remittance, 80) + _num(1, 4) + trace[-7:])
    entry_hash %= 10**10
    total = sum(amounts)
    count = len(transfers) + addenda
    if total >= 10**12:
        raise _fail(f"transfers: the batch total {Decimal(total) / 100} USD does not fit NACHA's 12-digit total; "
                    "split the batch.", "transfers")
    if count > 999_999:
        raise _fail(f"transfers: {count} entry and addenda records do not fit one batch (999999 at most).",
                    "transfers")
    records.append("8220" + _num(count, 6) + _num(entry_hash, 10) + _num(0, 12) + _num(total, 12) + company_id
                   + " " * 19 + " " * 6 + odfi + _num(1, 7))
    blocks = -(-(len(records) + 1) // BLOCKING_FACTOR)
    records.append("9" + _num(1, 6) + _num(blocks, 6) + _num(count, 8) + _num(entry_hash, 10) + _num(0, 12)
                   + _num(total, 12) + " " * 39)
    records.extend([PADDING] * (blocks * BLOCKING_FACTOR - len(records)))
    for number, record in enumerate(records, start=1):  # a guard against a layout slip, never expected to fire
        assert len(record) == RECORD_LENGTH and record.isascii(), (number, len(record), record)
    return ("\n".join(records) + "\n").encode("ascii")


# ----------------------------------------------------------------------------------------------------- validating

@dataclass
class _Batch:
    line: int
    service_class: str
    company_id: str
    sec_code: str
    odfi: str
    number: str
    count: int = 0
    entry_hash: int = 0
    debit: int = 0
    credit: int = 0
    last_trace: str = ""
    entry_line: int = 0
    entry_trace: str = ""
    entry_addenda: bool = False
    entry_has_addenda: bool = False
    addenda_sequence: int = 0


@dataclass
class _Checker:
    errors: list = field(default_factory=list)

    def add(self, line: int, field_name: str, expected, found, note: str = "") -> None:
        self.errors.append({"line": line, "field": field_name, "expected": str(expected), "found": str(found),
                            "message": f"line {line}: {field_name}: expected {expected}, found {found}"
                                       + (f" ({note})" if note else "")})

    def number(self, line: int, record: str, start: int, end: int, field_name: str) -> int | None:
        """The numeric field at 1-based positions start..end, or None (and an error) when it is not digits."""
        value = record[start - 1:end]
        if not value.isdigit():
            self.add(line, f"{field_name} (positions {start}-{end})", f"{end - start + 1} digits", repr(value))
            return None
        return int(value)

    def equal(self, line: int, field_name: str, expected, found) -> None:
        if expected is not None and found is not None and expected != found:
            self.add(line, field_name, expected, found)


def _is_credit(code: str) -> bool:
    return code[1] in "1234"


def _close_entry(check: _Checker, batch: _Batch | None) -> None:
    if batch and batch.entry_line and batch.entry_addenda and not batch.entry_has_addenda:
        check.add(batch.entry_line, "addenda record indicator (position 79)", "an addenda record after the entry "
                  "(indicator is 1)", "no addenda record")


def validate(content: bytes) -> None:
    """Raise ValidationFailed when ``content`` is not a structurally sound NACHA file. The message names the line
    (1-based), the field, what was expected and what was found; ``extra`` holds the first error's ``line`` and
    ``field`` and the list of ``errors`` (at most 20)."""
    check = _Checker()
    try:
        text = content.decode("ascii")
    except UnicodeDecodeError as exc:
        line = content[:exc.start].count(b"\n") + 1
        check.add(line, "characters", "ASCII only", f"byte 0x{content[exc.start]:02x}")
        _raise(check)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not lines:
        check.add(1, "file header", "a file header record (type 1)", "an empty file")
        _raise(check)
    for number, record in enumerate(lines, start=1):
        if len(record) != RECORD_LENGTH:
            check.add(number, "record length", f"{RECORD_LENGTH} characters", f"{len(record)} characters")
        elif record[0] not in RECORD_NAMES:
            check.add(number, "record type code (position 1)", "one of 1, 5, 6, 7, 8, 9", repr(record[0]))
    if check.errors:  # the layout cannot be read reliably; report the broken lines only
        _raise(check)

    _file_header(check, lines[0])
    batch: _Batch | None = None
    batches = 0
    file_count = file_hash = file_debit = file_credit = 0
    control_line = 0
    for number, record in enumerate(lines[1:], start=2):
        kind = record[0]
        if control_line:
            if record != PADDING:
                check.add(number, "padding record", "94 '9' characters after the file control record",
                          f"{RECORD_NAMES.get(kind, 'record')} {record[:20]!r}...")
            continue
        if batch is None:
            if kind == "5":
                batch = _batch_header(check, number, record)
                batches += 1
            elif kind == "9":
                control_line = number
                _file_control(check, number, record, lines, batches, file_count, file_hash, file_debit,
                              file_credit)
            else:
                check.add(number, "record type code (position 1)", "5 (batch header) or 9 (file control)",
                          f"{kind} ({RECORD_NAMES[kind]})")
            continue
        if kind == "6":
            _close_entry(check, batch)
            _entry(check, number, record, batch)
        elif kind == "7":
            _addenda(check, number, record, batch)
        elif kind == "8":
            _close_entry(check, batch)
            _batch_control(check, number, record, batch)
            file_count += batch.count
            file_hash += batch.entry_hash
            file_debit += batch.debit
            file_credit += batch.credit
            batch = None
        else:
            check.add(number, "record type code (position 1)", "6 (entry), 7 (addenda) or 8 (batch control)",
                      f"{kind} ({RECORD_NAMES[kind]})")
    if batch is not None:
        check.add(len(lines) + 1, "batch control", f"a batch control record (type 8) for the batch opened on "
                  f"line {batch.line}", "end of file")
    elif not control_line:
        check.add(len(lines) + 1, "file control", "a file control record (type 9)", "end of file")
    elif len(lines) % BLOCKING_FACTOR:
        missing = BLOCKING_FACTOR - len(lines) % BLOCKING_FACTOR
        check.add(len(lines) + 1, "padding", f"{missing} more padding record(s) of 94 '9's to fill the block "
                  f"(blocking factor {BLOCKING_FACTOR})", f"end of file after {len(lines)} lines")
    _raise(check)


def _raise(check: _Checker) -> None:
    if not check.errors:
        return
    errors = sorted(check.errors, key=lambda e: e["line"])[:20]
    shown = "; ".join(e["message"] for e in errors[:5])
    more = f" (and {len(check.errors) - 5} more)" if len(check.errors) > 5 else ""
    raise ValidationFailed(f"The NACHA file is not valid: {shown}{more}.",
                           {"line": errors[0]["line"], "field": errors[0]["field"], "errors": errors})


def _file_header(check: _Checker, record: str) -> None:
    if record[0] != "1":
        check.add(1, "record type code (position 1)", "1 (file header)", f"{record[0]} "
                  f"({RECORD_NAMES[record[0]]})")
        return
    check.equal(1, "priority code (positions 2-3)", "'01'", repr(record[1:3]))
    destination = record[3:13]
    if not re.fullmatch(r" \d{9}|\d{10}", destination):
        check.add(1, "immediate destination (positions 4-13)", "a blank and 9 digits", repr(destination))
    elif destination[0] == " " and (problem := routing_problem(destination[1:])):
        check.add(1, "immediate destination (positions 4-13)", "a valid ABA routing number", problem)
    try:
        datetime.strptime(record[23:33], "%y%m%d%H%M")
    except ValueError:
        if not (record[29:33] == "    " and re.fullmatch(r"\d{6}", record[23:29])):
            check.add(1, "file creation date/time (positions 24-33)", "YYMMDDHHMM", repr(record[23:33]))
    if not re.fullmatch(r"[A-Z0-9]", record[33]):
        check.add(1, "file ID modifier (position 34)", "A-Z or 0-9", repr(record[33]))
    check.equal(1, "record size (positions 35-37)", "'094'", repr(record[34:37]))
    check.equal(1, "blocking factor (positions 38-39)", "'10'", repr(record[37:39]))
    check.equal(1, "format code (position 40)", "'1'", repr(record[39]))


def _batch_header(check: _Checker, number: int, record: str) -> _Batch:
    service_class = record[1:4]
    if service_class not in SERVICE_CLASSES:
        check.add(number, "service class code (positions 2-4)", "200, 220, 225 or 280", repr(service_class))
    odfi = record[79:87]
    if not odfi.isdigit():
        check.add(number, "originating DFI identification (positions 80-87)", "8 digits", repr(odfi))
    batch_number = record[87:94]
    if not batch_number.isdigit():
        check.add(number, "batch number (positions 88-94)", "7 digits", repr(batch_number))
    return _Batch(line=number, service_class=service_class, company_id=record[40:50],
                  sec_code=record[50:53], odfi=odfi,
                  number=batch_number)


def _entry(check: _Checker, number: int, record: str, batch: _Batch) -> None:
    batch.count += 1
    code = record[1:3]
    if code not in TRANSACTION_CODES:
        check.add(number, "transaction code (positions 2-3)", "a NACHA transaction code (e.g. 22, 27, 32, 37)",
                  repr(code))
    routing = record[3:12]
    if not routing.isdigit():
        check.add(number, "RDFI routing number (positions 4-12)", "9 digits", repr(routing))
    else:
        expected = routing_check_digit(routing[:8])
        if int(routing[8]) != expected:
            check.add(number, "RDFI check digit (position 12)", f"{expected} (ABA mod-10 of {routing[:8]})",
                      routing[8])
        batch.entry_hash += int(routing[:8])
    amount = check.number(number, record, 30, 39, "amount")
    if amount is not None and code in TRANSACTION_CODES:
        if _is_credit(code):
            batch.credit += amount
            if batch.service_class == "225":
                check.add(number, "transaction code (positions 2-3)", "a debit code in a service class 225 "
                          "(debits only) batch", f"credit code {code}")
        else:
            batch.debit += amount
            if batch.service_class == "220":
                check.add(number, "transaction code (positions 2-3)", "a credit code in a service class 220 "
                          "(credits only) batch", f"debit code {code}")
    indicator = record[78]
    if indicator not in "01":
        check.add(number, "addenda record indicator (position 79)", "0 or 1", repr(indicator))
    trace = record[79:94]
    if not trace.isdigit():
        check.add(number, "trace number (positions 80-94)", "15 digits", repr(trace))
    else:
        if batch.odfi.isdigit() and trace[:8] != batch.odfi:
            check.add(number, "trace number (positions 80-87)", f"the batch's ODFI {batch.odfi}", trace[:8])
        if batch.last_trace and trace <= batch.last_trace:
            check.add(number, "trace number (positions 80-94)", f"ascending, after {batch.last_trace}", trace)
        batch.last_trace = trace
    batch.entry_line, batch.entry_trace = number, trace
    batch.entry_addenda, batch.entry_has_addenda, batch.addenda_sequence = indicator == "1", False, 0


def _addenda(check: _Checker, number: int, record: str, batch: _Batch) -> None:
    batch.count += 1
    if not batch.entry_line:
        check.add(number, "record type code (position 1)", "an entry detail record (6) before an addenda",
                  "7 (addenda)")
        return
    if not batch.entry_addenda:
        check.add(number, "record type code (position 1)", f"no addenda: the entry on line {batch.entry_line} has "
                  "addenda record indicator 0", "7 (addenda)")
    batch.entry_has_addenda = True
    kind = record[1:3]
    if not kind.isdigit():
        check.add(number, "addenda type code (positions 2-3)", "2 digits", repr(kind))
    elif kind == "05":
        batch.addenda_sequence += 1
        sequence = check.number(number, record, 84, 87, "addenda sequence number")
        check.equal(number, "addenda sequence number (positions 84-87)", batch.addenda_sequence, sequence)
        check.equal(number, "entry detail sequence number (positions 88-94)", batch.entry_trace[-7:],
                    record[87:94])


def _batch_control(check: _Checker, number: int, record: str, batch: _Batch) -> None:
    if record[1:4] != batch.service_class:
        check.add(number, "service class code (positions 2-4)", f"{batch.service_class} (as in the batch header "
                  f"on line {batch.line})", repr(record[1:4]))
    count = check.number(number, record, 5, 10, "entry/addenda count")
    check.equal(number, "entry/addenda count (positions 5-10)", batch.count, count)
    entry_hash = check.number(number, record, 11, 20, "entry hash")
    check.equal(number, "entry hash (positions 11-20)", f"{batch.entry_hash % 10**10:010d}",
                f"{entry_hash:010d}" if entry_hash is not None else None)
    debit = check.number(number, record, 21, 32, "total debit entry dollar amount")
    check.equal(number, "total debit entry dollar amount (positions 21-32)", batch.debit, debit)
    credit = check.number(number, record, 33, 44, "total credit entry dollar amount")
    check.equal(number, "total credit entry dollar amount (positions 33-44)", batch.credit, credit)
    if not (batch.sec_code == "IAT" and not record[44:54].strip()):  # IAT batch controls may leave it blank
        check.equal(number, "company identification (positions 45-54)", repr(batch.company_id),
                    repr(record[44:54]))
    check.equal(number, "originating DFI identification (positions 80-87)", batch.odfi, record[79:87])
    check.equal(number, "batch number (positions 88-94)", batch.number, record[87:94])
    batch.entry_hash %= 10**10


def _file_control(check: _Checker, number: int, record: str, lines: list[str], batches: int, count: int,
                  entry_hash: int, debit: int, credit: int) -> None:
    found = check.number(number, record, 2, 7, "batch count")
    check.equal(number, "batch count (positions 2-7)", batches, found)
    blocks = check.number(number, record, 8, 13, "block count")
    expected_blocks = -(-max(len(lines), number) // BLOCKING_FACTOR)
    check.equal(number, "block count (positions 8-13)", expected_blocks, blocks)
    found = check.number(number, record, 14, 21, "entry/addenda count")
    check.equal(number, "entry/addenda count (positions 14-21)", count, found)
    found = check.number(number, record, 22, 31, "entry hash")
    check.equal(number, "entry hash (positions 22-31)", f"{entry_hash % 10**10:010d}",
                f"{found:010d}" if found is not None else None)
    found = check.number(number, record, 32, 43, "total debit entry dollar amount")
    check.equal(number, "total debit entry dollar amount (positions 32-43)", debit, found)
    found = check.number(number, record, 44, 55, "total credit entry dollar amount")
    check.equal(number, "total credit entry dollar amount (positions 44-55)", credit, found)
