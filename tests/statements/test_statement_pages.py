"""The console pages of the statements app, through Django's test client: who may see what, entity isolation,
upload, CSV mapping preview and the cash position chart."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from apps.core.models import RawDocument
from apps.core.services import document_store
from apps.exceptions.models import ExceptionCase
from apps.statements import services
from apps.statements.models import CsvMapping, ImportRun, Statement, StatementEntry
from apps.statements.services import progress_key, statement_file_import
from apps.statements.views import Series, _ticks, svg_line_chart
from tests.conftest import BankAccountFactory
from tests.statements.builders import E, camt

pytestmark = pytest.mark.django_db

IBAN_A = "DE89370400440532013000"
IBAN_A2 = "DE65100700000123456789"
READERS = ["ap_clerk", "treasury", "approver", "auditor", "admin"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    cache.clear()


def imported(content: bytes, name: str = "stmt.xml", **kw):
    result = statement_file_import(content=content, filename=name, source="test", **kw)
    assert result.status == "imported", result.error
    return result


@pytest.fixture
def statement_a(account_a):
    result = imported(camt(stmt_id="A-1", entries=[
        E("250.00", ref="R1", text="Invoice 4711 Globex"),
        E("-40.00", ref="R2", text="Office chairs Initech"),
        E("-12.50", ref="R3", text="Bank fees", return_reason="AC04"),
    ]))
    return Statement.objects.get(import_run_id=result.run_id)


@pytest.fixture
def statement_b(account_b):
    result = imported(camt(iban="000123456789", currency="USD", stmt_id="B-1", entries=[E("99.00", ref="B1")]),
                      name="us.xml")
    return Statement.objects.get(import_run_id=result.run_id)


@pytest.fixture
def treasury(make_user, entity_a):
    return make_user("treasury", entities=[entity_a])


def logged_in(client, user):
    client.force_login(user)
    return client


def htmx(client, url, target, **params):
    return client.get(url, params, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=target)


# --- who sees what -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", READERS)
def test_read_pages_render_for_every_reading_role(client, make_user, entity_a, statement_a, role):
    logged_in(client, make_user(role, entities=[entity_a]))
    run = statement_a.import_run
    pages = {
        "/statements/": "A-1",
        f"/statements/{statement_a.pk}/": "Invoice 4711 Globex",
        "/statements/imports/": "stmt.xml",
        f"/statements/imports/{run.pk}/": "A-1",
        "/statements/cash/": "cash-chart",
        "/statements/csv-mappings/": "CSV mappings",
    }
    for url, text in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert text in response.content.decode(), url
    can_upload = role in ("treasury", "admin")
    assert client.get("/statements/upload/").status_code == (200 if can_upload else 403)
    assert client.get("/statements/csv-mappings/new/").status_code == (200 if can_upload else 403)


def test_users_without_a_reading_role_are_refused_and_anonymous_users_sent_to_login(client, make_user, entity_a):
    assert client.get("/statements/").status_code == 302
    logged_in(client, make_user(None, entities=[entity_a]))
    for url in ("/statements/", "/statements/imports/", "/statements/cash/", "/statements/upload/"):
        assert client.get(url).status_code == 403, url


def test_a_statement_of_another_entity_is_a_404(client, make_user, entity_a, statement_a, statement_b):
    logged_in(client, make_user("treasury", entities=[entity_a]))
    assert client.get(f"/statements/{statement_b.pk}/").status_code == 404
    assert client.get(f"/statements/{statement_b.pk}/document/").status_code == 404
    assert client.get(f"/statements/imports/{statement_b.import_run_id}/").status_code == 404
    assert client.get(f"/statements/imports/{statement_b.import_run_id}/progress/").status_code == 404
    listing = client.get("/statements/").content.decode()
    assert "A-1" in listing and "B-1" not in listing
    cash = client.get("/statements/cash/").content.decode()
    assert "1,197.50 EUR" in cash and "USD" not in cash
    assert client.get(f"/statements/{statement_a.pk}/").status_code == 200


def test_statement_list_filters_sorts_and_answers_htmx_with_the_table_only(
    client, treasury, account_a, statement_a
):
    imported(camt(stmt_id="A-2", opening="1197.50", closing="5.00", entries=[E("1.00", ref="Z1")],
                  period=("2026-11-03", "2026-11-03")), name="bad.xml")
    logged_in(client, treasury)
    full = client.get("/statements/").content.decode()
    assert "<html" in full and full.count('data-testid="statement-row"') == 2
    assert full.index("A-2") < full.index("A-1")  # newest first
    assert full.count("balances agree") == 1 and full.count("balances differ") == 1
    partial = htmx(client, "/statements/", "statements", reconciles="false", kind="", sort="date").content.decode()
    assert "<html" not in partial
    assert partial.count('data-testid="statement-row"') == 1 and "A-2" in partial and "A-1" not in partial
    oldest_first = htmx(client, "/statements/", "statements", sort="date").content.decode()
    assert oldest_first.index("A-1") < oldest_first.index("A-2")
    assert "date_from" in htmx(client, "/statements/", "statements", date_from="yesterday").content.decode()


def test_statement_detail_explains_the_balance_check_and_filters_entries(client, treasury, statement_a):
    logged_in(client, treasury)
    page = client.get(f"/statements/{statement_a.pk}/").content.decode()
    assert "Balances agree." in page
    assert ("Opening 1,000.00 EUR + credits 250.00 EUR − debits 52.50 EUR = 1,197.50 EUR; the bank reports a "
            "closing balance of 1,197.50 EUR.") in page
    assert page.count('data-testid="entry-row"') == 3
    assert "PMNT/RCDT/ESCT" in page and 'data-testid="badge-return"' in page and "AC04" in page
    assert "250.00 EUR" in page and "−40.00 EUR" in page or "-40.00 EUR" in page
    url = f"/statements/{statement_a.pk}/"
    found = htmx(client, url, "entries", q="globex").content.decode()
    assert "<html" not in found and found.count('data-testid="entry-row"') == 1 and "Invoice 4711" in found
    debits = htmx(client, url, "entries", direction="debit").content.decode()
    assert debits.count('data-testid="entry-row"') == 2
    returns = htmx(client, url, "entries", is_return="true").content.decode()
    assert returns.count('data-testid="entry-row"') == 1 and "Bank fees" in returns
    big = htmx(client, url, "entries", min_amount="100").content.decode()
    assert big.count('data-testid="entry-row"') == 1
    none = htmx(client, url, "entries", q="nothing like this").content.decode()
    assert "No entries match these filters." in none


def test_unbalanced_statement_says_by_how_much(client, treasury, account_a):
    result = imported(camt(stmt_id="U-1", closing="1100.00", entries=[E("50.00", ref="U1")]))
    statement = Statement.objects.get(import_run_id=result.run_id)
    page = logged_in(client, treasury).get(f"/statements/{statement.pk}/").content.decode()
    assert "Balances differ by 50.00 EUR." in page
    assert "= 1,050.00 EUR; the bank reports a closing balance of 1,100.00 EUR." in page


def test_raw_file_download_needs_the_download_permission(client, make_user, entity_a, statement_a):
    content = RawDocument.objects.get(pk=statement_a.raw_document_id).content.open("rb").read()
    response = logged_in(client, make_user("treasury", entities=[entity_a])).get(
        f"/statements/{statement_a.pk}/document/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert 'filename="stmt.xml"' in response["Content-Disposition"]
    clerk = logged_in(client, make_user("ap_clerk", entities=[entity_a]))
    assert clerk.get(f"/statements/{statement_a.pk}/document/").status_code == 403
    assert 'data-testid="download"' not in clerk.get(f"/statements/{statement_a.pk}/").content.decode()


# --- import runs -------------------------------------------------------------------------------------------------

def test_running_import_polls_its_progress_then_asks_for_a_reload(client, treasury, account_a):
    document, _ = document_store(content=b"still importing", source="test", media_type="text/plain",
                                 filename="big.xml")
    run = ImportRun.objects.create(raw_document=document, source="sftp", created_by=treasury)
    cache.set(progress_key(run.pk), 4200)
    logged_in(client, treasury)
    page = client.get(f"/statements/imports/{run.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in page and "4200" in page
    poll = client.get(f"/statements/imports/{run.pk}/progress/", HTTP_HX_REQUEST="true")
    body = poll.content.decode()
    assert "<html" not in body and 'hx-trigger="every 1s"' in body and ">4200<" in body
    assert "HX-Refresh" not in poll.headers
    run.status, run.entries_seen = ImportRun.Status.IMPORTED, 5000
    run.save()
    done = client.get(f"/statements/imports/{run.pk}/progress/", HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true"
    assert "every 1s" not in done.content.decode() and ">5000<" in done.content.decode()


def test_import_list_filters_by_status(client, treasury, statement_a):
    statement_file_import(content=b"not a statement at all", filename="junk.txt", source="test")
    logged_in(client, treasury)
    everything = client.get("/statements/imports/").content.decode()
    assert everything.count('data-testid="import-row"') >= 1 and "stmt.xml" in everything
    rejected = htmx(client, "/statements/imports/", "imports", status="rejected").content.decode()
    assert "stmt.xml" not in rejected


# --- upload ------------------------------------------------------------------------------------------------------

def upload(client, content: bytes, name: str = "upload.xml", **data):
    return client.post("/statements/upload/", {"file": SimpleUploadedFile(name, content, "application/xml"),
                                               "format": "auto", **data})


def test_upload_imports_a_camt_and_redirects_to_its_run(client, treasury, account_a):
    logged_in(client, treasury)
    response = upload(client, camt(stmt_id="UP-1", entries=[E("10.00", ref="U1"), E("-3.00", ref="U2")]))
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/statements/imports/{run.pk}/"
    assert (run.status, run.source, run.created_by_id, run.entries_created) == ("imported", "upload", treasury.pk, 2)
    page = client.get(response["Location"]).content.decode()
    assert '<strong data-testid="run-imported">2</strong> imported' in page
    assert "2 new entries imported (0 already known)" in page
    statement = Statement.objects.get()
    assert f'href="/statements/{statement.pk}/"' in page and "UP-1" in page
    again = upload(client, camt(stmt_id="UP-1", entries=[E("10.00", ref="U1"), E("-3.00", ref="U2")]),
                   name="again.xml")
    body = again.content.decode()
    assert again.status_code == 400 and "Already imported." in body
    assert f'href="/statements/imports/{run.pk}/"' in body
    assert ImportRun.objects.count() == 1 and StatementEntry.objects.count() == 2


def test_rejected_upload_shows_the_error_with_its_run_and_case(client, treasury, account_a):
    logged_in(client, treasury)
    response = upload(client, b"<?xml version='1.0'?><Document><Nonsense/></Document>", name="broken.xml")
    body = response.content.decode()
    run = ImportRun.objects.get()
    case = ExceptionCase.objects.get(raw_document=run.raw_document)
    assert response.status_code == 400 and run.status == "rejected"
    assert "The file was rejected." in body and run.error and escape(run.error) in body
    assert f'href="/statements/imports/{run.pk}/"' in body and f'href="/cases/{case.pk}/"' in body
    assert "Traceback" not in body
    run_page = client.get(f"/statements/imports/{run.pk}/").content.decode()
    assert f'href="/cases/{case.pk}/"' in run_page and 'data-testid="run-error"' in run_page


def test_upload_form_errors_are_shown_on_the_form(client, treasury, account_a):
    logged_in(client, treasury)
    no_mapping = upload(client, b"date,amount\n2026-11-02,1.00\n", name="x.csv", format="csv")
    assert no_mapping.status_code == 400
    assert "Choose the CSV mapping" in no_mapping.content.decode()
    no_file = client.post("/statements/upload/", {"format": "auto"})
    assert no_file.status_code == 400 and "This field is required." in no_file.content.decode()
    assert not RawDocument.objects.exists()


def test_upload_csv_with_a_stored_mapping(client, treasury, account_a):
    mapping = CsvMapping.objects.create(name="Sparkasse", config={
        "date": "Datum", "amount": "Betrag", "fixed_currency": "EUR", "delimiter": ";", "date_format": "%d.%m.%Y",
        "decimal_separator": ",", "account": IBAN_A, "description": ["Text"]})
    logged_in(client, treasury)
    response = upload(client, "Datum;Betrag;Text\n02.11.2026;12,50;Rent\n".encode(), name="spk.csv", format="csv",
                      csv_mapping=str(mapping.pk))
    assert response.status_code == 302, response.content.decode()
    assert StatementEntry.objects.get().amount == Decimal("12.50")


def test_clerks_cannot_upload(client, make_user, entity_a, account_a):
    logged_in(client, make_user("ap_clerk", entities=[entity_a]))
    assert upload(client, camt(entries=[E("1.00")])).status_code == 403
    assert not RawDocument.objects.exists() and not ImportRun.objects.exists()


# --- CSV mappings ------------------------------------------------------------------------------------------------

MAPPING = {
    "name": "Sparkasse", "delimiter": ";", "quotechar": '"', "encoding": "utf-8", "skip_rows": "0",
    "has_header": "on", "date": "Buchungstag", "value_date": "Valuta", "amount": "Betrag", "currency": "Waehrung",
    "description": "Verwendungszweck", "counterparty_name": "Name", "counterparty_account": "IBAN",
    "account": IBAN_A, "date_format": "%d.%m.%Y", "decimal_separator": ",", "thousands_separator": ".",
    "sign": "credit_positive", "credit_values": "C, CR", "debit_values": "D, DR", "skip_empty_amount": "on",
}


def csv_sample(rows: int, bad_line: int | None = None) -> bytes:
    lines = ["Buchungstag;Valuta;Betrag;Waehrung;Name;IBAN;Verwendungszweck"]
    for n in range(1, rows + 1):
        day = "31.02.2026" if n + 1 == bad_line else f"{(n % 28) + 1:02d}.11.2026"
        amount = f"1.{n:03d},50" if n % 2 else f"-{n},25"
        lines.append(f"{day};{day};{amount};EUR;Payer {n};DE0210020030040050{n:04d};Invoice {n}")
    return ("\n".join(lines) + "\n").encode()


def preview(client, sample: bytes | None, **overrides):
    data = {**MAPPING, **overrides}
    if sample is not None:
        data["sample"] = SimpleUploadedFile("sample.csv", sample, "text/csv")
    return client.post("/statements/csv-mappings/preview/", data, HTTP_HX_REQUEST="true",
                       HTTP_HX_TARGET="preview")


def test_csv_preview_shows_the_first_twenty_parsed_rows_and_the_totals(client, treasury):
    logged_in(client, treasury)
    response = preview(client, csv_sample(25))
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert body.count('data-testid="preview-row"') == 20
    assert "First 20 of 25 entries" in body
    assert "1,001.50 EUR" in body and "Payer 1" in body and "Invoice 1" in body and "Payer 21" not in body
    credits = sum(Decimal(f"1{n:03d}.50") for n in range(1, 26, 2))
    debits = sum(Decimal(f"{n}.25") for n in range(2, 26, 2))
    assert f"{credits:,.2f} EUR" in body and f"{debits:,.2f} EUR" in body
    assert IBAN_A in body
    assert not CsvMapping.objects.exists() and not RawDocument.objects.exists()


def test_csv_preview_shows_a_parse_error_with_its_line(client, treasury):
    logged_in(client, treasury)
    body = preview(client, csv_sample(5, bad_line=4)).content.decode()
    assert 'data-testid="preview-error"' in body
    assert "Line 4: " in body
    assert "date &#x27;31.02.2026&#x27; in column &#x27;Buchungstag&#x27; does not match the date format" in body
    assert body.count('data-testid="preview-row"') == 2  # the rows before the bad one
    wrong_column = preview(client, csv_sample(3), amount="Amount").content.decode()
    assert "Line 1: " in wrong_column and "header has no column(s) [&#x27;Amount&#x27;]" in wrong_column


def test_csv_preview_explains_an_incomplete_mapping(client, treasury):
    logged_in(client, treasury)
    body = preview(client, csv_sample(3), currency="", amount="").content.decode()
    assert 'data-testid="preview-invalid"' in body
    assert "CsvMapping needs an &#x27;amount&#x27; column or &#x27;debit&#x27;/&#x27;credit&#x27; columns" in body
    hint = preview(client, None).content.decode()
    assert 'data-testid="preview-hint"' in hint


def test_csv_preview_needs_the_mapping_permission(client, make_user, entity_a):
    logged_in(client, make_user("auditor", entities=[entity_a]))
    assert preview(client, csv_sample(2)).status_code == 403


def test_csv_mapping_form_fields_become_the_parser_config(treasury):
    from apps.statements.forms import CsvMappingForm

    form = CsvMappingForm({**MAPPING, "description": "Verwendungszweck, 6", "delimiter": "\\t"}, user=treasury)
    assert form.is_valid(), form.errors
    config = form.config()
    assert config["description"] == ["Verwendungszweck", 6] and config["delimiter"] == "\t"
    assert config["credit_values"] == ["C", "CR"] and config["thousands_separator"] == "."
    assert services._csv_mapping(CsvMapping(name="x", config=config)).date_format == "%d.%m.%Y"
    initial = CsvMappingForm.initial_from(CsvMapping(name="x", config=config))
    assert initial["description"] == "Verwendungszweck, 6" and initial["delimiter"] == "\\t"


@pytest.mark.skipif(not hasattr(services, "csv_mapping_save"),
                    reason="apps.statements.services.csv_mapping_save is not installed yet (see the report)")
def test_saving_a_csv_mapping_records_who_and_why(client, treasury, bank_partner):
    logged_in(client, treasury)
    response = client.post("/statements/csv-mappings/new/", {**MAPPING, "bank_partner": str(bank_partner.pk)})
    assert response.status_code == 302 and response["Location"] == "/statements/csv-mappings/"
    mapping = CsvMapping.objects.get()
    assert mapping.bank_partner == bank_partner and mapping.config["date"] == "Buchungstag"
    record = mapping.history.get()
    assert record.history_user == treasury and record.history_change_reason
    edit = client.post(f"/statements/csv-mappings/{mapping.pk}/", {**MAPPING, "date_format": "%Y-%m-%d"})
    assert edit.status_code == 302
    mapping.refresh_from_db()
    assert mapping.config["date_format"] == "%Y-%m-%d" and mapping.history.count() == 2
    taken = client.post("/statements/csv-mappings/new/", MAPPING)
    assert taken.status_code == 400 and CsvMapping.objects.count() == 1


# --- cash position -----------------------------------------------------------------------------------------------

def points_of(svg_line: str) -> list[tuple[float, float]]:
    coords = re.search(r'\spoints="([^"]*)"', svg_line).group(1).split()
    return [tuple(float(n) for n in c.split(",")) for c in coords]


def test_cash_page_draws_one_line_per_account_with_a_point_per_day(client, treasury, entity_a, account_a):
    BankAccountFactory(entity=entity_a, iban=IBAN_A2, name="Payroll")
    balance = Decimal("1000.00")
    for n, day in enumerate(["2026-11-02", "2026-11-03", "2026-11-04"]):
        imported(camt(stmt_id=f"M-{n}", seq=str(n + 1), opening=f"{balance:.2f}",
                      entries=[E(f"{100 * (n + 1)}.00", ref=f"M{n}", day=day)], period=(day, day)), name=f"m{n}.xml")
        balance += 100 * (n + 1)
    for n, day in enumerate(["2026-11-02", "2026-11-04"]):
        imported(camt(iban=IBAN_A2, stmt_id=f"P-{n}", seq=str(n + 1), opening="500.00" if n == 0 else "450.00",
                      entries=[E("-50.00", ref=f"P{n}", day=day)], period=(day, day)), name=f"p{n}.xml")
    body = logged_in(client, treasury).get("/statements/cash/").content.decode()
    assert body.count('data-testid="cash-chart"') == 1  # one entity, one currency
    svg = body[body.index("<svg"):body.index("</svg>")]
    assert '<title id="chart-de01-eur-title">Acme GmbH (DE01): closing balances in EUR</title>' in svg
    assert "<desc id=\"chart-de01-eur-desc\">" in svg and "Latest: " in svg
    lines = re.findall(r"<polyline[^>]*>", svg)
    assert len(lines) == 2
    by_points = sorted(len(points_of(line)) for line in lines)
    assert by_points == [2, 3]
    assert sorted(re.findall(r'data-points="(\d+)"', svg)) == ["2", "3"]
    assert svg.count("<circle") == 5
    main = next(points_of(line) for line in lines if len(points_of(line)) == 3)
    assert main[0][0] < main[1][0] < main[2][0]  # dates run left to right
    assert main[0][1] > main[1][1] > main[2][1]  # a rising balance climbs (SVG y grows downwards)
    assert "1,600.00 EUR" in body and "400.00 EUR" in body and "2,000.00 EUR" in body  # latest and total
    # nothing loaded from elsewhere (a bare "cdn" could turn up inside a random CSRF token)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", body)
    assert "<script src" not in body.replace('src="/static/django_htmx', "")


def test_chart_helpers_pick_round_ticks_and_escape_labels():
    assert _ticks(Decimal("1003"), Decimal("1597")) == [Decimal(n) for n in (1000, 1200, 1400, 1600)]
    assert _ticks(Decimal("5"), Decimal("5"))[0] <= 5 <= _ticks(Decimal("5"), Decimal("5"))[-1]
    from datetime import date

    svg = svg_line_chart([Series("<b>Ops</b>", [(date(2026, 1, 1), Decimal("-5.00"))])],
                         chart_id="c1", title="T & C", currency="EUR")
    assert "&lt;b&gt;Ops&lt;/b&gt;" in svg and "T &amp; C" in svg and "<b>" not in svg
    assert 'data-points="1"' in svg and "−5.00 EUR" in svg or "-5.00 EUR" in svg
    assert "No closing balances" in svg_line_chart([], chart_id="c2", title="t", currency="EUR")



# --- navigation --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "links"), [
    ("treasury", ["Statements", "Cash", "Upload"]),
    ("ap_clerk", ["Statements", "Cash"]),
    (None, []),
])
def test_nav_links_follow_the_permissions(rf, make_user, entity_a, role, links):
    from django.template.loader import render_to_string
    from django.urls import resolve

    request = rf.get("/statements/cash/")
    request.user = make_user(role, entities=[entity_a])
    request.resolver_match = resolve("/statements/cash/")
    html = render_to_string("console/_nav_statements.html", request=request)
    assert re.findall(r">(\w+)</a>", html) == links
    if links:
        assert re.search(r'href="/statements/cash/"\s+aria-current="page"', html)
