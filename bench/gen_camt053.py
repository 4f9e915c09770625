"""Write an N-entry camt.053.001.02 statement to a path, streaming (constant memory).

    python bench/gen_camt053.py /tmp/big.xml 1000000

Balances reconcile: opening 1000.00, entries alternate +12.34 credit / -5.67 debit, closing computed.
Then measure parsing (prints the time next to a bare lxml iterparse loop over the same file, and peak RSS):

    python bench/gen_camt053.py --parse /tmp/big.xml
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

CREDIT = Decimal("12.34")
DEBIT = Decimal("5.67")
OPENING = Decimal("1000.00")

ENTRY = """      <Ntry>
        <NtryRef>{i}</NtryRef>
        <Amt Ccy="EUR">{amount}</Amt>
        <CdtDbtInd>{ind}</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2024-03-07</Dt></BookgDt>
        <ValDt><Dt>2024-03-07</Dt></ValDt>
        <AcctSvcrRef>SVC{i:010d}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{fmly}</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>E2E-{i}</EndToEndId></Refs>
          <RltdPties><{party}><Nm>Counterparty {i}</Nm></{party}><{party}Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></{party}Acct></RltdPties>
          <RmtInf><Ustrd>Invoice {i}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
"""


def totals(n: int) -> tuple[Decimal, Decimal]:
    credits = (n + 1) // 2
    debits = n // 2
    return CREDIT * credits, DEBIT * debits


def generate(path: Path, n: int) -> None:
    credit_total, debit_total = totals(n)
    closing = OPENING + credit_total - debit_total
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">\n'
            "  <BkToCstmrStmt>\n"
            "    <GrpHdr><MsgId>BENCH-1</MsgId><CreDtTm>2024-03-07T20:00:00+01:00</CreDtTm></GrpHdr>\n"
            "    <Stmt>\n"
            "      <Id>BENCH-STMT-1</Id><ElctrncSeqNb>1</ElctrncSeqNb>\n"
            "      <CreDtTm>2024-03-07T20:00:00+01:00</CreDtTm>\n"
            "      <Acct><Id><IBAN>NL02ABNA0123456789</IBAN></Id><Ccy>EUR</Ccy></Acct>\n"
            f'      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{OPENING}</Amt>'
            "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-06</Dt></Dt></Bal>\n"
            f'      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{abs(closing)}</Amt>'
            f"<CdtDbtInd>{'CRDT' if closing >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>2024-03-07</Dt></Dt></Bal>\n"
        )
        buf = []
        for i in range(n):
            credit = i % 2 == 0
            buf.append(
                ENTRY.format(
                    i=i,
                    amount=CREDIT if credit else DEBIT,
                    ind="CRDT" if credit else "DBIT",
                    fmly="RCDT" if credit else "ICDT",
                    party="Dbtr" if credit else "Cdtr",
                )
            )
            if len(buf) >= 1000:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
        out.write("    </Stmt>\n  </BkToCstmrStmt>\n</Document>\n")


def bare_loop(path: Path) -> int:
    """The floor: lxml iterparse on Ntry, four findtext (amount, indicator, booking date, AcctSvcrRef), clear."""
    from lxml import etree

    ns = "{urn:iso:std:iso:20022:tech:xsd:camt.053.001.02}"
    count = 0
    for _, el in etree.iterparse(str(path), tag=ns + "Ntry"):
        Decimal(el.findtext(ns + "Amt"))
        el.findtext(ns + "CdtDbtInd")
        el.findtext(f"{ns}BookgDt/{ns}Dt")
        el.findtext(ns + "AcctSvcrRef")
        el.clear()
        while el.getprevious() is not None:
            del el.getparent()[0]
        count += 1
    return count


def parse_and_report(path: Path, bare: bool = True) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from apps.statements.parsers import parse

    bare_s = None
    if bare:
        started = time.perf_counter()
        count = bare_loop(path)
        bare_s = time.perf_counter() - started
        print(f"bare lxml loop: {count} entries in {bare_s:.2f}s")

    started = time.perf_counter()
    with path.open("rb") as f:
        for statement in parse(f):
            for batch in statement.entries.batches(1000):
                pass
            print(
                f"account={statement.account} entries={statement.entry_count} credits={statement.total_credits} "
                f"debits={statement.total_debits} opening={statement.opening_booked} "
                f"closing={statement.closing_booked} reconciles={statement.reconciles()}"
            )
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ratio = f" ({elapsed / bare_s:.1f}x the bare loop)" if bare_s else ""
    print(f"parsed in {elapsed:.2f}s{ratio}, peak RSS {peak_kib / 1024:.1f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path)
    ap.add_argument("n", type=int, nargs="?", default=100_000)
    ap.add_argument("--parse", action="store_true", help="parse the file instead of writing it")
    ap.add_argument("--no-bare", action="store_true", help="with --parse: skip the bare lxml loop")
    args = ap.parse_args()
    if args.parse:
        parse_and_report(args.path, bare=not args.no_bare)
    else:
        generate(args.path, args.n)
        print(f"wrote {args.n} entries to {args.path} ({args.path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
