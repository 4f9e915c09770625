"""Format detection from content, routing of non-statement formats, and the taxonomy."""

from __future__ import annotations

import io

import pytest

from apps.statements.parsers import NotAStatementError, ParseError, UnknownFormatError, detect_format, parse
from apps.statements.parsers.taxonomy import normalise_bai, normalise_gvc, normalise_iso, normalise_swift


def _head(path):
    with path.open("rb") as f:
        return f.read(65536)


@pytest.mark.parametrize(
    ("folder", "prefix"),
    [
        ("camt052", "camt.052.001."),
        ("camt053", "camt.053.001."),
        ("camt054", "camt.054.001."),
        ("mt940", "mt940"),
        ("mt942", "mt942"),
        ("bai2", "bai2"),
        ("csv", "csv"),
        ("pain001", "pain.001.001."),
        ("pain002", "pain.002.001."),
    ],
)
def test_every_sample_is_detected_by_content(sample, folder, prefix):
    root = sample("SOURCES.md").parent / folder
    files = sorted(root.iterdir())
    assert files
    for path in files:
        assert detect_format(_head(path)).startswith(prefix), path.name


def test_exact_versions(sample):
    assert detect_format(_head(sample("camt053/camt053_v08_genkgo.xml"))) == "camt.053.001.08"
    assert detect_format(_head(sample("camt054/camt054_v10_subite_lt_1.xml"))) == "camt.054.001.10"
    assert detect_format(_head(sample("pain001/pain001_v03ch02_postfinance_musterfile.xml"))) == "pain.001.001.03"


def test_pain_files_are_routed_not_parsed(sample):
    for rel in ("pain002/pain002_v03_cross_river_batch_rejected.xml", "pain001/pain001_v09_hbci4java_minimal.xml"):
        with sample(rel).open("rb") as f, pytest.raises(NotAStatementError, match="not a bank statement") as err:
            list(parse(f))
        assert err.value.format.startswith(("pain.002", "pain.001"))


def test_pain002_without_real_namespace_is_recognised_by_element(sample):
    # the Cross River sample writes "Xmlns" (capital X), so only <CstmrPmtStsRpt> tells what it is
    assert detect_format(_head(sample("pain002/pain002_v03_cross_river_batch_rejected.xml"))) == "pain.002.001.03"
    assert detect_format(b"<Document><CstmrPmtStsRpt/></Document>") == "pain.002"
    assert detect_format(b"<Document><BkToCstmrDbtCdtNtfctn/></Document>") == "camt.054"


def test_unknown_formats_explain_what_was_looked_at():
    with pytest.raises(UnknownFormatError, match="Looked for"):
        detect_format(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    with pytest.raises(UnknownFormatError, match="root <html>"):
        detect_format(b"<html><body>hello</body></html>")
    with pytest.raises(UnknownFormatError, match="empty"):
        list(parse(io.BytesIO(b"")))


def test_detection_of_small_inline_heads():
    assert detect_format(b":20:X\r\n:25:NL1\r\n:28C:1\r\n:60F:C240101EUR1,00\r\n") == "mt940"
    assert detect_format(b"{1:F01X}{2:O942X}{4:\n:20:X\n") == "mt942"
    assert detect_format(b"01,A,B,240101,0000,1,,,2/\n") == "bai2"
    assert detect_format(b"Date;Amount\n2024-01-01;1,00\n") == "csv"
    with pytest.raises(ParseError):
        detect_format(b"just a sentence")


def test_taxonomy_returns_across_schemes():
    assert normalise_iso("PMNT", "RCDT", "RRTN").is_return
    assert normalise_iso("PMNT", "IDDT", "UPDD").is_return
    assert normalise_iso("PMNT", "RCDT", "ESCT").category == "transfer"
    assert not normalise_iso("PMNT", "RCDT", "ESCT").is_return
    assert normalise_iso(None, None, None, "NTRF+166+00900") .code == "SWIFT:TRF"
    assert normalise_swift("NRTI").is_return and normalise_swift("NCHK").code == "PMNT/ICHQ/CCHQ"
    assert normalise_swift("N044").code == "SWIFT:044"
    assert normalise_gvc("109").is_return and normalise_gvc("159").is_return
    assert normalise_gvc("166").code == "PMNT/RCDT/ESCT" and not normalise_gvc("166").is_return
    assert normalise_bai("555").is_return and normalise_bai("555").direction == "debit"
    assert normalise_bai("165").direction == "credit" and not normalise_bai("165").is_return
    assert normalise_bai("475").category == "cheque"
    assert normalise_bai("930").direction == "credit" and normalise_bai("975").direction == "debit"
    assert normalise_bai("010").direction is None and normalise_bai("010").category == "balance"
