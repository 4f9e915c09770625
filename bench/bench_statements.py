"""Statement ingest benchmark: our import next to the bare limit, on the same machine, in the same run.

    python bench/bench_statements.py [--entries 100000] [--rss-entries 1000000] [--skip-rss]

Needs PostgreSQL (DATABASE_URL; the benchmark uses its own database ``<name>_bench``, created and migrated here).
It prints, for camt.053.001.02 and MT940 files of N generated entries:

* our import (``statement_file_import``: store the raw file, stream-parse, natural keys, dedupe, COPY, checks,
  events) against the bare limit: lxml ``iterparse`` (or a bare line loop for MT940) extracting the same fields,
  plus ``COPY`` into a table with the same unique key;
* re-importing the same N entries in a different file (all duplicates) against the first import;
* the peak RSS of importing a file of ``--rss-entries`` entries, in a child process.

Targets (issue "Bank statements in"): import <= 2.5x the bare limit; re-import <= first import; RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gen_camt053  # noqa: E402
from _django import bench_database_url, setup_django  # noqa: E402
import gen_mt940  # noqa: E402

CAMT_IBAN = "NL02ABNA0123456789"
MT940_IBAN = "NL69INGB0123456789"
NS = "{urn:iso:std:iso:20022:tech:xsd:camt.053.001.02}"


def _bench_database_url() -> str:
    return bench_database_url()


def _setup_django() -> None:
    setup_django()


def _configure(media_root: str) -> None:
    from django.conf import settings
    from django.db import connection

    settings.MEDIA_ROOT = media_root
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE statements_statemententry, statements_cashposition, statements_statement, "
            "statements_importrun, exceptions_caseoccurrence, exceptions_exceptioncase, "
            "exceptions_historicalexceptioncase, core_event, core_rawdocument CASCADE"
        )
    from apps.org.services import bank_account_upsert, bank_partner_upsert, entity_upsert

    entity_upsert(code="BENCH", name="Bench BV", country="NL", base_currency="EUR")
    bank_partner_upsert(code="ABNA", name="ABN AMRO", bic="ABNANL2AXXX")
    bank_account_upsert(entity_code="BENCH", bank_code="ABNA", currency="EUR", name="camt", iban=CAMT_IBAN)
    bank_account_upsert(entity_code="BENCH", bank_code="ABNA", currency="EUR", name="mt940", iban=MT940_IBAN)


def _ours(path: Path) -> tuple[float, object]:
    from apps.statements.services import statement_file_import

    start = time.perf_counter()
    with path.open("rb") as fh:
        result = statement_file_import(content=fh, filename=path.name, source="bench")
    return time.perf_counter() - start, result


# --- the bare limit --------------------------------------------------------------------------------------------

BARE_COLUMNS = ("account_id", "natural_key", "booking_date", "value_date", "amount", "direction", "status",
                "servicer_reference", "end_to_end_id", "counterparty_name", "counterparty_account",
                "remittance_text", "bank_tx_code")


def _bare_table(conn) -> None:
    conn.execute("DROP TABLE IF EXISTS bench_bare_entry")
    conn.execute(
        "CREATE TABLE bench_bare_entry (id bigserial PRIMARY KEY, account_id bigint NOT NULL, natural_key "
        "varchar(64) NOT NULL, occurrence integer, booking_date date, value_date date, amount numeric(23,5) NOT "
        "NULL, direction varchar(6), status varchar(8), servicer_reference varchar(100), bank_reference "
        "varchar(100), customer_reference varchar(100), end_to_end_id varchar(100), mandate_id varchar(100), "
        "counterparty_name varchar(200), counterparty_account varchar(100), counterparty_bic varchar(11), "
        "remittance_text text, additional_info text, bank_tx_code varchar(60), raw_type_code varchar(60), "
        "is_reversal boolean, is_return boolean, return_reason varchar(60), source_location varchar(200), "
        "UNIQUE (account_id, natural_key))"
    )


def _copy(conn, rows, columns=BARE_COLUMNS) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY bench_bare_entry ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.commit()


def bare_camt(path: Path, dsn: str) -> float:
    """lxml iterparse of the same fields + COPY into a table with the same unique key."""
    import psycopg
    from lxml import etree

    with psycopg.connect(dsn) as conn:
        _bare_table(conn)
        conn.commit()
        start = time.perf_counter()

        def rows():
            t = NS
            for _, el in etree.iterparse(str(path), tag=t + "Ntry", huge_tree=False, resolve_entities=False):
                amount = el.findtext(t + "Amt")
                direction = el.findtext(t + "CdtDbtInd")
                ref = el.findtext(t + "AcctSvcrRef")
                booked = el.findtext(f"{t}BookgDt/{t}Dt")
                value = el.findtext(f"{t}ValDt/{t}Dt")
                tx = el.find(f"{t}NtryDtls/{t}TxDtls")
                e2e = tx.findtext(f"{t}Refs/{t}EndToEndId")
                name = tx.findtext(f".//{t}Nm")
                acct = tx.findtext(f".//{t}IBAN")
                text = tx.findtext(f"{t}RmtInf/{t}Ustrd")
                fam = el.findtext(f"{t}BkTxCd/{t}Domn/{t}Fmly/{t}Cd")
                signed = amount if direction == "CRDT" else "-" + amount
                key = hashlib.sha256(f"1|EUR|{signed}|{direction}|S|{ref}".encode()).hexdigest()
                yield (1, key, booked, value, signed, direction, el.findtext(t + "Sts"), ref, e2e, name, acct,
                       text, f"PMNT/{fam}/ESCT")
                el.clear()
                while el.getprevious() is not None:
                    del el.getparent()[0]

        _copy(conn, rows())
        return time.perf_counter() - start


_LINE61 = re.compile(r"(\d{6})(\d{4})?(R?)([CD])[A-Z]?(\d+,\d*)([NFS][A-Z0-9]{3})([^/]*)(?://(\S*))?")
_TAGS = re.compile(r"/(TRTP|EREF|CNTP|REMI|MARF|RTRN)/")
_SWIFT = {"TRF": ("SWIFT:TRF", "transfer"), "RTI": ("SWIFT:RTI", "return"), "CHG": ("SWIFT:CHG", "fee"),
          "MSC": ("SWIFT:MSC", "other"), "DDT": ("SWIFT:DDT", "direct_debit")}
MT940_COLUMNS = ("account_id", "natural_key", "occurrence", "booking_date", "value_date", "amount", "direction",
                 "status", "bank_reference", "customer_reference", "end_to_end_id", "mandate_id", "counterparty_name",
                 "counterparty_account", "counterparty_bic", "remittance_text", "additional_info", "bank_tx_code",
                 "raw_type_code", "is_reversal", "is_return", "return_reason", "source_location")


def bare_mt940(path: Path, dsn: str) -> float:
    """A bare line parser of the fields we store (:61: value and entry dates, mark and reversal, amount, type,
    customer and bank references, supplementary details; :86: booking text, end-to-end id, mandate, counterparty
    account/BIC/name, remittance, return reason), the same natural key (account, amount, day, references,
    counterparty, remittance, type; identical bookings counted) + COPY into a table with the same unique key."""
    import psycopg
    from datetime import date

    days: dict[str, date] = {}

    def day(yymmdd: str) -> date:
        d = days.get(yymmdd)
        if d is None:
            d = days[yymmdd] = date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
        return d

    known: set[int] = set()
    repeated: dict[int, int] = {}

    def entry(line61: str, supplementary: str, info: str, line: int):
        m = _LINE61.match(line61)
        vdate, edate, reversal, mark, amount, type_code, customer, bank = m.groups()
        value = day(vdate)
        booked = day(vdate[:2] + edate) if edate else value
        credit = (mark == "C") != bool(reversal)
        amount = amount.replace(",", ".")
        signed = amount if credit else "-" + amount
        parts = _TAGS.split(info)
        fields = dict(zip(parts[1::2], parts[2::2]))
        cntp = fields.get("CNTP", "").split("/")
        e2e = fields.get("EREF", "").strip("/")
        remi = fields.get("REMI", "").replace("USTD//", "").strip("/")
        trtp = fields.get("TRTP", "").strip("/")
        rtrn = fields.get("RTRN", "").strip("/")
        code, category = _SWIFT.get(type_code[1:], ("SWIFT:" + type_code[1:], "other"))
        customer = "" if customer == "NONREF" else customer
        base = "\x1f".join(["1", "EUR", signed, "credit" if credit else "debit", "D", value.isoformat(), e2e, bank or "",
                            customer, " ".join(cntp[0].split()).upper(), " ".join(remi.split()).upper()[:140],
                            type_code]).encode()
        slot = hash(base)
        if slot in known:
            occurrence = repeated[slot] = repeated.get(slot, 1) + 1
        else:
            known.add(slot)
            occurrence = 1
        key = hashlib.sha256(b"%b\x1e%d" % (base, occurrence)).hexdigest()
        return (1, key, occurrence, booked, value, signed, "credit" if credit else "debit", "booked", bank, customer,
                e2e, fields.get("MARF", "").strip("/"), cntp[2] if len(cntp) > 2 else "", cntp[0],
                cntp[1] if len(cntp) > 1 else "", remi, " ".join(x for x in (trtp, supplementary) if x), code,
                type_code, bool(reversal), bool(rtrn) or category == "return", rtrn, f"line {line}")

    with psycopg.connect(dsn) as conn:
        _bare_table(conn)
        conn.commit()
        start = time.perf_counter()

        def rows():
            line61, supplementary, info, start_line = None, [], [], 0
            with path.open("r", encoding="utf-8") as fh:
                for number, raw in enumerate(fh, 1):
                    line = raw.rstrip("\r\n")
                    if line.startswith(":61:"):
                        if line61:
                            yield entry(line61, " ".join(supplementary), "".join(info), start_line)
                        line61, supplementary, info, start_line = line[4:], [], [], number
                    elif line.startswith(":86:"):
                        info.append(line[4:])
                    elif line61 and not line.startswith(":"):
                        (info if info else supplementary).append(line)
                    elif line.startswith(":62") and line61:
                        yield entry(line61, " ".join(supplementary), "".join(info), start_line)
                        line61 = None

        _copy(conn, rows(), MT940_COLUMNS)
        return time.perf_counter() - start


# --- runs --------------------------------------------------------------------------------------------------------

def _renamed_copy(src: Path, dst: Path, old: bytes, new: bytes) -> None:
    """The same entries in a different file (another header reference), copied in chunks."""
    with src.open("rb") as fin, dst.open("wb") as fout:
        head = fin.read(64 * 1024)
        fout.write(head.replace(old, new, 1))
        while chunk := fin.read(1024 * 1024):
            fout.write(chunk)


def run(entries: int, rss_entries: int, skip_rss: bool) -> int:
    _setup_django()
    from django.db import connection

    dsn = _bench_database_url()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="finops-bench-") as tmp:
        tmpdir = Path(tmp)
        _configure(str(tmpdir / "media"))
        print(f"machine: {os.cpu_count()} cores; PostgreSQL {connection.cursor().connection.info.server_version}")
        for label, gen, bare, old, new in [
            ("camt.053.001.02", gen_camt053, bare_camt, b"<MsgId>", b"<MsgId>RESENT-"),
            ("MT940", gen_mt940, bare_mt940, b":20:", b":20:R"),
        ]:
            path = tmpdir / f"{label}.dat"
            gen.generate(path, entries)
            size = path.stat().st_size / 1e6
            limit = bare(path, dsn)
            ours, result = _ours(path)
            assert result.status == "imported" and result.entries_created == entries, result.as_json()
            ratio = ours / limit
            print(f"{label}: {entries:,} entries ({size:.0f} MB): ours {ours:.2f} s ({entries / ours:,.0f}/s), "
                  f"bare lxml/line parser + COPY {limit:.2f} s -> {ratio:.2f}x (target <= 2.5x)")
            failures += ratio > 2.5
            again = tmpdir / f"{label}-resent.dat"
            _renamed_copy(path, again, old, new)
            second, result2 = _ours(again)
            assert result2.status == "imported" and result2.entries_duplicate == entries, result2.as_json()
            print(f"{label}: re-import of the same {entries:,} entries in another file: {second:.2f} s "
                  f"({second / ours:.2f}x the first import; target <= 1x), {result2.entries_created} created")
            failures += second > ours
            path.unlink()
            again.unlink()
        if not skip_rss:
            path = tmpdir / "big.xml"
            gen_camt053.generate(path, rss_entries)
            _configure(str(tmpdir / "media"))
            child = subprocess.run(
                [sys.executable, __file__, "--rss-child", str(path)], capture_output=True, text=True,
                env={**os.environ, "DATABASE_URL": dsn},
            )
            print(child.stdout.strip() or child.stderr.strip()[-2000:])
            failures += child.returncode != 0
    return 1 if failures else 0


def rss_child(path: Path) -> int:
    """Import one big file in this process and report its peak resident memory."""
    os.environ["FINOPS_BENCH_CHILD"] = "1"
    _setup_django()
    seconds, result = _ours(path)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = result.entries_created
    print(f"camt.053 {n:,} entries ({path.stat().st_size / 1e6:.0f} MB) imported in {seconds:.1f} s; peak RSS "
          f"{peak_mb:.0f} MB (target < 300 MB)")
    return 0 if peak_mb < 300 and result.status == "imported" else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--rss-entries", type=int, default=1_000_000)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        return rss_child(args.rss_child)
    return run(args.entries, args.rss_entries, args.skip_rss)


if __name__ == "__main__":
    _ = io  # stdlib only here; the Django imports happen after setup
    sys.exit(main())
