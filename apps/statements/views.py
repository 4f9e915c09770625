"""Console pages of bank statements (HTMX): lists, detail, import runs, upload, CSV mappings, cash position.

Each view parses input, calls selectors (reads, filtered by the user's bank accounts) or one service, and
renders. A record of an entity the user may not see is a 404, exactly as if it did not exist.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, QueryDict
from django.shortcuts import redirect, render
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.console.http import filter_params, htmx_target, require_any_perm
from apps.core.errors import ApplicationError
from apps.core.money import Money
from apps.core.services import document_open
from apps.exceptions.selectors import case_list
from apps.org.selectors import bank_account_list, entity_list
from apps.statements import parsers, selectors, services
from apps.statements.filters import CashPositionFilter, EntryFilter, ImportRunFilter, StatementFilter
from apps.statements.forms import CsvMappingForm, StatementUploadForm
from apps.statements.models import CsvMapping, EntryStatus, ImportRun, Statement, StatementKind

PAGE_SIZE = 25
ENTRY_PAGE_SIZE = 50
PREVIEW_ROWS = 20
CHART_MAX_POINTS = 180  # per account: the most recent days within the chosen range

STATEMENT_SORTS = {
    "": ("Newest first", ("-statement_date", "-imported_at", "-pk")),
    "date": ("Oldest first", ("statement_date", "imported_at", "pk")),
    "account": ("Account", ("bank_account__name", "-statement_date", "-pk")),
    "entity": ("Entity", ("bank_account__entity__code", "bank_account__name", "-statement_date", "-pk")),
    "-imported": ("Last imported", ("-imported_at", "-pk")),
    "-entries": ("Most entries", ("-entry_count", "-pk")),
}




def _filtered(filter_class, params: QueryDict, queryset, request):
    filterset = filter_class(params, queryset=queryset, request=request)
    qs = filterset.qs if filterset.is_valid() else queryset.none()
    errors = [f"{name}: {' '.join(msgs)}" for name, msgs in filterset.errors.items()]
    return filterset, qs, errors


def _page(request, queryset, params: QueryDict, size: int) -> tuple:
    page = Paginator(queryset, size).get_page(request.GET.get("page"))
    query = params.copy()
    query.pop("page", None)
    return page, query.urlencode()



# --- statements --------------------------------------------------------------------------------------------------

@login_required
@require_GET
def statement_list(request):
    require_any_perm(request, "statements.view_statement")
    params = filter_params(request)
    sort = params.get("sort", "")
    if sort not in STATEMENT_SORTS:
        sort = ""
    filterset, qs, errors = _filtered(StatementFilter, params, selectors.statement_list(user=request.user), request)
    page, query = _page(request, qs.order_by(*STATEMENT_SORTS[sort][1]), params, PAGE_SIZE)
    context = {
        "filter": filterset, "page": page, "query": query, "filter_errors": errors, "sort": sort,
        "sorts": [(k, label) for k, (label, _) in STATEMENT_SORTS.items()],
        "kinds": StatementKind.choices, "accounts": bank_account_list(user=request.user).order_by("name"),
        "entities": entity_list(user=request.user).order_by("code"), "params": params,
    }
    template = "statements/_statement_table.html" if htmx_target(request, "statements") else "statements/list.html"
    return render(request, template, context)


def _visible_statement(request, pk: int) -> Statement:
    try:
        return selectors.statement_list(user=request.user).select_related("import_run").get(pk=pk)
    except Statement.DoesNotExist:
        raise Http404("No such statement") from None


def _balance_check(statement: Statement) -> dict:
    """The statement's own arithmetic, for the reader: opening + credits - debits against the bank's closing."""
    ccy = statement.currency
    if statement.opening_booked is None or statement.closing_booked is None:
        return {"known": False}
    expected = statement.opening_booked + statement.total_credits - statement.total_debits
    difference = statement.closing_booked - expected
    return {
        "known": True, "ok": difference == 0, "expected": expected, "difference": difference,
        "text": (f"Opening {Money(statement.opening_booked, ccy).round()} + credits "
                 f"{Money(statement.total_credits, ccy).round()} − debits "
                 f"{Money(statement.total_debits, ccy).round()} = {Money(expected, ccy).round()}; the bank reports "
                 f"a closing balance of {Money(statement.closing_booked, ccy).round()}."),
    }


@login_required
@require_GET
def statement_detail(request, pk: int):
    statement = _visible_statement(request, pk)
    params = filter_params(request)
    entries = selectors.entry_list(user=request.user).filter(statement=statement).order_by("booking_date", "pk")
    filterset, qs, errors = _filtered(EntryFilter, params, entries, request)
    page, query = _page(request, qs, params, ENTRY_PAGE_SIZE)
    context = {
        "statement": statement, "account": statement.bank_account, "filter": filterset, "page": page,
        "query": query, "filter_errors": errors, "params": params, "statuses": EntryStatus.choices,
        "check": _balance_check(statement),
        "filtering": any(k in params for k in ("q", "status", "direction", "is_return", "min_amount",
                                                  "max_amount", "date_from", "date_to")),
    }
    template = "statements/_entries.html" if htmx_target(request, "entries") else "statements/detail.html"
    return render(request, template, context)


@login_required
@require_GET
def statement_document(request, pk: int):
    statement = _visible_statement(request, pk)
    require_any_perm(request, "core.download_rawdocument")
    doc = statement.raw_document
    return FileResponse(
        document_open(doc), as_attachment=True, filename=doc.filename or f"{doc.sha256}.bin",
        content_type=doc.media_type or "application/octet-stream",
    )


# --- import runs -------------------------------------------------------------------------------------------------

@login_required
@require_GET
def import_list(request):
    require_any_perm(request, "statements.view_importrun")
    params = filter_params(request)
    filterset, qs, errors = _filtered(ImportRunFilter, params, selectors.import_run_list(user=request.user), request)
    page, query = _page(request, qs.order_by("-started_at", "-pk"), params, PAGE_SIZE)
    context = {"filter": filterset, "page": page, "query": query, "filter_errors": errors, "params": params,
               "statuses": ImportRun.Status.choices}
    template = "statements/_import_table.html" if htmx_target(request, "imports") else "statements/imports.html"
    return render(request, template, context)


def _visible_run(request, pk: int) -> ImportRun:
    require_any_perm(request, "statements.view_importrun")
    run = selectors.import_run_list(user=request.user).select_related("csv_mapping").filter(pk=pk).first()
    if run is None:
        raise Http404("No such import run")
    return run


@login_required
@require_GET
def import_detail(request, pk: int):
    run = _visible_run(request, pk)
    context = {
        "run": run, "progress": services.import_progress(run),
        "results": (run.result or {}).get("statements", []),
        "statements": selectors.statement_list(user=request.user).filter(import_run=run).order_by("pk"),
        "cases": case_list(user=request.user).filter(raw_document=run.raw_document).order_by("-pk")[:50],
    }
    return render(request, "statements/import_detail.html", context)


@login_required
@require_GET
def import_progress(request, pk: int):
    """The polled progress partial. Once the run has finished, the page reloads to show its results."""
    run = _visible_run(request, pk)
    response = render(request, "statements/_import_progress.html",
                      {"run": run, "progress": services.import_progress(run)})
    if run.status != ImportRun.Status.RUNNING and request.htmx:
        response["HX-Refresh"] = "true"
    return response


# --- upload ------------------------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def upload(request):
    require_any_perm(request, services.IMPORT_PERMISSION)
    posted = request.method == "POST"
    form = StatementUploadForm(request.POST if posted else None, request.FILES if posted else None, user=request.user)
    outcome = None
    if posted and form.is_valid():
        upload_file = form.cleaned_data["file"]
        try:
            result = services.statement_file_import(
                content=upload_file, filename=upload_file.name, source="upload",
                media_type=upload_file.content_type or "application/octet-stream",
                file_format=form.cleaned_data["format"], csv_mapping=form.cleaned_data["csv_mapping"],
                actor=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            if result.status == ImportRun.Status.IMPORTED:
                messages.success(request, f"{upload_file.name}: {result.entries_created} new entries imported "
                                          f"({result.entries_duplicate} already known).")
                return redirect("statements:import", pk=result.run_id)
            outcome = _upload_outcome(request, result)
    return render(request, "statements/upload.html", {"form": form, "outcome": outcome},
                  status=400 if outcome or form.errors else 200)


def _upload_outcome(request, result: services.ImportResult) -> dict:
    runs = selectors.import_run_list(user=request.user).filter(raw_document__sha256=result.sha256)
    if result.status == ImportRun.Status.DUPLICATE:
        return {"status": "duplicate", "message": result.error,
                "run": runs.filter(status=ImportRun.Status.IMPORTED).first()}
    case = case_list(user=request.user).filter(raw_document__sha256=result.sha256, kind="statement.rejected") \
        .order_by("-pk").first()
    return {"status": "rejected", "message": result.error, "run": runs.filter(pk=result.run_id).first(),
            "case": case}


# --- CSV mappings ------------------------------------------------------------------------------------------------

@login_required
@require_GET
def csv_mapping_list(request):
    require_any_perm(request, "statements.view_csvmapping")
    mappings = selectors.csv_mapping_list(user=request.user).order_by("name")
    return render(request, "statements/csv_mappings.html", {"mappings": mappings})


@login_required
@require_http_methods(["GET", "POST"])
def csv_mapping_create(request):
    require_any_perm(request, "statements.add_csvmapping")
    return _csv_mapping_form(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def csv_mapping_edit(request, pk: int):
    require_any_perm(request, "statements.change_csvmapping")
    mapping = selectors.csv_mapping_list(user=request.user).filter(pk=pk).first()
    if mapping is None:
        raise Http404("No such CSV mapping")
    return _csv_mapping_form(request, mapping)


def _csv_mapping_form(request, mapping: CsvMapping | None):
    if request.method == "POST":
        form = CsvMappingForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            try:
                saved = services.csv_mapping_save(
                    mapping_id=mapping.pk if mapping else None, name=form.cleaned_data["name"],
                    bank_partner=form.cleaned_data["bank_partner"], config=form.config(), actor=request.user,
                )
            except ApplicationError as exc:
                form.add_error(exc.extra.get("field") if exc.extra.get("field") in form.fields else None,
                               exc.message)
            else:
                messages.success(request, f"CSV mapping {saved.name} saved.")
                return redirect("statements:csv-mappings")
    else:
        form = CsvMappingForm(initial=CsvMappingForm.initial_from(mapping) if mapping else None, user=request.user)
    return render(request, "statements/csv_mapping_form.html", {"form": form, "mapping": mapping},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def csv_mapping_preview(request):
    """Dry run of the mapping as filled in on the form against an uploaded sample: nothing is stored."""
    require_any_perm(request, "statements.add_csvmapping", "statements.change_csvmapping")
    form = CsvMappingForm(request.POST, request.FILES, user=request.user, for_preview=True)
    context: dict = {"form": form}
    if form.is_valid():
        if form.cleaned_data.get("sample") is None:
            context["no_sample"] = True
        else:
            context.update(_csv_preview(form.cleaned_data["sample"], form.parser_mapping()))
    return render(request, "statements/_csv_preview.html", context)


def _csv_preview(sample, mapping: parsers.CsvMapping) -> dict:
    rows: list[dict] = []
    statements: list[dict] = []
    try:
        for parsed in parsers.parse(io.BytesIO(sample.read()), format="csv", csv_mapping=mapping):
            for entry in parsed.entries:  # read them all: the totals count every row
                if len(rows) < PREVIEW_ROWS:
                    rows.append({"entry": entry, "currency": entry.currency or parsed.currency,
                                 "text": entry.remittance_text or entry.additional_info or ""})
            statements.append({
                "account": parsed.account, "currency": parsed.currency, "count": parsed.entry_count,
                "credits": parsed.total_credits, "debits": parsed.total_debits, "opening": parsed.opening_booked,
                "closing": parsed.closing_booked, "reconciles": parsed.reconciles(),
                "pending": parsed.pending_count,
            })
    except parsers.ParseError as exc:
        return {"rows": rows, "statements": statements, "error": exc.reason, "location": exc.location or ""}
    return {"rows": rows, "statements": statements, "parsed": True,
            "total": sum(s["count"] for s in statements)}


# --- cash position -----------------------------------------------------------------------------------------------

@login_required
@require_GET
def cash_position(request):
    require_any_perm(request, "statements.view_cashposition")
    params = filter_params(request)
    filterset, qs, errors = _filtered(CashPositionFilter, params, selectors.cash_position_list(user=request.user),
                                      request)
    rows = qs.select_related("bank_account__entity").order_by(
        "bank_account__entity__code", "currency", "bank_account__name", "bank_account_id", "date")
    groups: dict[tuple, dict] = {}
    for pos in rows:
        account = pos.bank_account
        group = groups.setdefault((account.entity.code, pos.currency), {
            "entity": account.entity, "currency": pos.currency, "accounts": {}})
        item = group["accounts"].setdefault(account.pk, {"account": account, "points": []})
        item["points"].append(pos)
        item["latest"] = pos  # rows come in date order
    sections = []
    for (code, currency), group in groups.items():
        accounts = list(group["accounts"].values())
        series = [Series(label=a["account"].name, points=[(p.date, p.closing_booked) for p in a["points"]
                                                          if p.closing_booked is not None][-CHART_MAX_POINTS:])
                  for a in accounts]
        total_booked = sum((a["latest"].closing_booked for a in accounts if a["latest"].closing_booked is not None),
                           Decimal(0))
        chart_id = f"chart-{code}-{currency}".lower()
        sections.append({
            "entity": group["entity"], "currency": currency, "accounts": accounts, "total_booked": total_booked,
            "chart": svg_line_chart(
                series, chart_id=chart_id, currency=currency,
                title=f"{group['entity'].name} ({code}): closing balances in {currency}",
            ),
        })
    context = {"sections": sections, "filter": filterset, "filter_errors": errors, "params": params,
               "entities": entity_list(user=request.user).order_by("code"),
               "accounts": bank_account_list(user=request.user).order_by("name")}
    return render(request, "statements/cash.html", context)


# --- the server-side chart ---------------------------------------------------------------------------------------

CHART_COLORS = ("#1f5fbf", "#b3261e", "#1b7a3d", "#a35200", "#6a3fb5", "#00838f", "#c2185b", "#5b6475")
_NICE_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))


@dataclass
class Series:
    label: str
    points: list[tuple[date, Decimal]] = field(default_factory=list)


def _ticks(lo: Decimal, hi: Decimal, count: int = 5) -> list[Decimal]:
    """Round axis values (1, 2, 2.5 or 5 times a power of ten) that cover ``lo..hi``."""
    if lo == hi:
        pad = abs(lo) / 10 or Decimal(1)
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / (count - 1)
    base = Decimal(1).scaleb(raw.adjusted())
    step = next(base * m for m in _NICE_STEPS if base * m >= raw)
    start = (lo / step).to_integral_value(rounding=ROUND_FLOOR) * step
    end = (hi / step).to_integral_value(rounding=ROUND_CEILING) * step
    ticks = []
    value = start
    while value <= end:
        ticks.append(value)
        value += step
    return ticks


def _axis_label(value: Decimal, step: Decimal) -> str:
    places = 0 if step >= 1 else max(0, -step.normalize().as_tuple().exponent)
    return format(value, f",.{places}f").replace("-", "−")


def _coord(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.1")))


def svg_line_chart(series: list[Series], *, chart_id: str, title: str, currency: str, width: int = 760,
                   height: int = 300) -> SafeString:
    """An inline, accessible SVG line chart: one polyline per series over a shared date axis, with value and
    date axes, gridlines, a legend and a ``<title>`` per point. Money stays ``Decimal`` down to the pixel."""
    series = [s for s in series if s.points]
    cid = escape(chart_id)
    if not series:
        return mark_safe(f'<p class="muted" id="{cid}">No closing balances in this range.</p>')
    left, right, top, bottom = 90, 36, 16, 40
    legend_rows = _legend_layout(series, width - left - right)
    total_height = height + 22 * (legend_rows[-1][1] + 1)
    plot_w, plot_h = Decimal(width - left - right), Decimal(height - top - bottom)
    dates = sorted({d for s in series for d, _ in s.points})
    values = [v for s in series for _, v in s.points]
    ticks = _ticks(min(values), max(values))
    y_lo, y_hi = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else Decimal(1)
    first, span = dates[0], (dates[-1] - dates[0]).days

    def x(day: date) -> Decimal:
        if span == 0:
            return left + plot_w / 2
        return left + plot_w * (day - first).days / span

    def y(value: Decimal) -> Decimal:
        return top + plot_h * (y_hi - value) / (y_hi - y_lo)

    latest = "; ".join(f"{s.label} {Money(s.points[-1][1], currency).round()} on {s.points[-1][0]:%d %b %Y}"
                       for s in series)
    desc = (f"Line chart of the closing booked balance per day, {len(series)} account(s), from {first:%d %b %Y} "
            f"to {dates[-1]:%d %b %Y}. Latest: {latest}. The table above gives the same figures.")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{cid}" data-testid="cash-chart" role="img" '
        f'viewBox="0 0 {width} {total_height}" width="100%" style="max-width:{width}px" '
        f'aria-labelledby="{cid}-title {cid}-desc">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
        '<g class="axis y" font-size="11" fill="#5b6475" text-anchor="end">',
    ]
    for tick in ticks:
        ty = _coord(y(tick))
        grid = 'stroke="#9aa3b2" stroke-width="1.5"' if tick == 0 else 'stroke="#e3e7ee"'
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{ty}" y2="{ty}" {grid}/>')
        out.append(f'<text x="{left - 6}" y="{ty}" dy="4">{escape(_axis_label(tick, step))}</text>')
    out.append(f'<text x="12" y="{top + int(plot_h) // 2}" text-anchor="middle" '
               f'transform="rotate(-90 12 {top + int(plot_h) // 2})">{escape(currency)}</text></g>')
    out.append('<g class="axis x" font-size="11" fill="#5b6475" text-anchor="middle">')
    base_y = top + int(plot_h)
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{base_y}" y2="{base_y}" stroke="#5b6475"/>')
    label_fmt = "%d %b %Y" if dates[0].year != dates[-1].year else "%d %b"
    for day in _spread(dates, 6):
        tx = _coord(x(day))
        out.append(f'<line x1="{tx}" x2="{tx}" y1="{base_y}" y2="{base_y + 4}" stroke="#5b6475"/>')
        out.append(f'<text x="{tx}" y="{base_y + 17}"><tspan>{day.strftime(label_fmt)}</tspan></text>')
    out.append("</g>")
    for i, s in enumerate(series):
        color = CHART_COLORS[i % len(CHART_COLORS)]
        pts = " ".join(f"{_coord(x(d))},{_coord(y(v))}" for d, v in s.points)
        out.append(f'<g class="series" data-series="{escape(s.label)}">')
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" stroke-linejoin="round" '
                   f'data-testid="chart-line" data-points="{len(s.points)}" points="{pts}"/>')
        for d, v in s.points:
            out.append(f'<circle cx="{_coord(x(d))}" cy="{_coord(y(v))}" r="3" fill="{color}">'
                       f'<title>{escape(s.label)}, {d:%d %b %Y}: {escape(str(Money(v, currency).round()))}'
                       f'</title></circle>')
        out.append("</g>")
    out.append('<g class="legend" font-size="12" fill="#1d2330">')
    for i, (offset, row) in enumerate(legend_rows):
        ly = height + 22 * row - 4
        color = CHART_COLORS[i % len(CHART_COLORS)]
        out.append(f'<rect x="{left + offset}" y="{ly - 9}" width="14" height="4" fill="{color}"/>'
                   f'<text x="{left + offset + 20}" y="{ly}">{escape(series[i].label)}</text>')
    out.append("</g></svg>")
    return mark_safe("".join(out))


def _legend_layout(series: list[Series], width: int) -> list[tuple[int, int]]:
    """(x offset, row) of each legend item; items wrap onto new rows when the line is full."""
    layout, offset, row = [], 0, 0
    for s in series:
        item = 28 + 7 * len(s.label)
        if offset and offset + item > width:
            offset, row = 0, row + 1
        layout.append((offset, row))
        offset += item + 12
    return layout


def _spread(items: list, n: int) -> list:
    """At most ``n`` items evenly picked, first and last included."""
    if len(items) <= n:
        return items
    picks = {round(i * (len(items) - 1) / (n - 1)) for i in range(n)}
    return [items[i] for i in sorted(picks)]
