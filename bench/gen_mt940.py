"""Write an N-entry MT940 statement (ING / Dutch SEPA style) to a path, streaming (constant memory).

    python bench/gen_mt940.py /tmp/big.940 100000
    python bench/gen_mt940.py --parse /tmp/big.940     # parse it: time + peak RSS, next to a bare line loop

Each entry is a ``:61:`` statement line with an ING ``/TRCD/`` supplementary line and a structured ``:86:``
(``/EREF/ /CNTP/account/BIC/name/city/ /REMI/USTD//.../``) wrapped at 65 characters, as ING writes it.
Balances reconcile: opening 1000,00, entries alternate +12,34 credit / -5,67 debit, closing computed.

``--parse`` also times a bare loop over the same file (read lines, split ``:61:`` into date / mark / amount with
a regex, keep the ``:86:`` text): the floor any MT940 parser in Python stands on.
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

CREDIT = Decimal("12.34")
DEBIT = Decimal("5.67")
OPENING = Decimal("1000.00")
WIDTH = 65  # SWIFT line length


def _amount(value: Decimal) -> str:
    return f"{value:.2f}".replace(".", ",")


def _wrap(text: str) -> list[str]:
    return [text[i : i + WIDTH] for i in range(0, len(text), WIDTH)] or [""]


def entry_lines(i: int) -> list[str]:
    credit = i % 2 == 0
    mark, amount = ("C", CREDIT) if credit else ("D", DEBIT)
    info = (
        f"/EREF/E2E-{i:08d}//CNTP/NL91ABNA0417164300/ABNANL2A/Counterparty {i}/Amsterdam/"
        f"/REMI/USTD//Invoice {i} order {i * 7 % 100000:05d}/"
    )
    if not credit:
        info = "/TRTP/SEPA OVERBOEKING" + info
    return [
        f":61:2403070307{mark}{_amount(amount)}NTRFEREF//{i:016d}",
        "/TRCD/00100/" if credit else "/TRCD/00108/",
        *(
            (":86:" + line if n == 0 else line)
            for n, line in enumerate(_wrap(info))
        ),
    ]


def totals(n: int) -> tuple[Decimal, Decimal]:
    return CREDIT * ((n + 1) // 2), DEBIT * (n // 2)


def generate(path: Path, n: int) -> None:
    credit_total, debit_total = totals(n)
    closing = OPENING + credit_total - debit_total
    closing_mark = "C" if closing >= 0 else "D"
    with path.open("w", encoding="utf-8", newline="\r\n") as out:
        out.write(
            "{1:F01INGBNL2ABXXX0000000000}{2:I940INGBNL2AXXXN}{4:\n"
            ":20:P240307000000001\n"
            ":25:NL69INGB0123456789EUR\n"
            ":28C:00001\n"
            f":60F:C240306EUR{_amount(OPENING)}\n"
        )
        buf: list[str] = []
        for i in range(n):
            buf.extend(entry_lines(i))
            if len(buf) >= 4000:
                out.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            out.write("\n".join(buf) + "\n")
        out.write(
            f":62F:{closing_mark}240307EUR{_amount(abs(closing))}\n"
            f":64:{closing_mark}240307EUR{_amount(abs(closing))}\n"
            "-}\n"
        )


_LINE61 = re.compile(r"(\d{6})(\d{4})?(R?[CD])[A-Z]?(\d+,\d*)(.*)")


def bare_loop(path: Path) -> int:
    """The floor: decode lines, split each :61: with one regex (date, mark, amount, rest), collect :86: text."""
    count = 0
    current: list | None = None
    with path.open("rb") as f:
        for raw in f:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith(":61:"):
                m = _LINE61.match(line, 4)
                amount = Decimal(m.group(4).replace(",", "."))  # type: ignore[union-attr]
                current = [m.group(1), m.group(3), amount, m.group(5), []]  # type: ignore[union-attr]
                count += 1
            elif line.startswith(":86:") and current is not None:
                current[4].append(line[4:])
            elif current is not None and not line.startswith(":"):
                current[4].append(line)
    return count


def parse_and_report(path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from apps.statements.parsers import parse

    started = time.perf_counter()
    count = bare_loop(path)
    bare = time.perf_counter() - started
    print(f"bare line loop: {count} entries in {bare:.2f}s")

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
    print(f"parsed in {elapsed:.2f}s ({elapsed / bare:.1f}x the bare loop), peak RSS {peak_kib / 1024:.1f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path)
    ap.add_argument("n", type=int, nargs="?", default=100_000)
    ap.add_argument("--parse", action="store_true", help="parse the file instead of writing it")
    args = ap.parse_args()
    if args.parse:
        parse_and_report(args.path)
    else:
        generate(args.path, args.n)
        print(f"wrote {args.n} entries to {args.path} ({args.path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
