"""Forms of the statement console pages: they parse and check input; the services do the work."""

from __future__ import annotations

import codecs
import dataclasses

from django import forms

from apps.org.selectors import bank_partner_list
from apps.statements import parsers
from apps.statements.selectors import csv_mapping_list
from apps.statements.services import FORMAT_ALIASES

FORMAT_LABELS = {
    "auto": "Detect from the content", "camt053": "camt.053 (end of day)", "camt052": "camt.052 (intraday)",
    "camt054": "camt.054 (notification)", "mt940": "MT940", "mt942": "MT942", "bai2": "BAI2",
    "csv": "CSV (needs a mapping)",
}
MAX_SAMPLE_BYTES = 5 * 1024 * 1024


class StatementUploadForm(forms.Form):
    file = forms.FileField(label="Statement file")
    format = forms.ChoiceField(choices=[(k, FORMAT_LABELS.get(k, k)) for k in FORMAT_ALIASES], initial="auto")
    csv_mapping = forms.ModelChoiceField(queryset=None, required=False, empty_label="No mapping",
                                         label="CSV mapping", help_text="Required for CSV files.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["csv_mapping"].queryset = csv_mapping_list(user=user)

    def clean(self):
        data = super().clean()
        if data.get("format") == "csv" and not data.get("csv_mapping"):
            self.add_error("csv_mapping", "Choose the CSV mapping that describes this bank's columns.")
        return data


# --- CSV mappings ------------------------------------------------------------------------------------------------

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(parsers.CsvMapping)
             if f.default is not dataclasses.MISSING}
COLUMN_FIELDS = (
    "date", "value_date", "amount", "debit", "credit", "currency", "counterparty_name", "counterparty_account",
    "reference", "end_to_end_id", "balance", "type_code", "indicator",
)
TEXT_FIELDS = ("fixed_currency", "account", "statement_id", "date_format", "value_date_format",
               "decimal_separator", "thousands_separator", "delimiter", "quotechar", "encoding", "sign")
LIST_FIELDS = ("credit_values", "debit_values")
COLUMN_HELP = "Header name, or a 0-based column number."
SIGN_CHOICES = [
    ("credit_positive", "Signed amount: positive is a credit"),
    ("debit_positive", "Signed amount: positive is a debit"),
    ("indicator", "Unsigned amount with a credit/debit indicator column"),
]


def _column(required: bool = False, label: str | None = None) -> forms.CharField:
    return forms.CharField(required=required, max_length=100, label=label, help_text=COLUMN_HELP)


def _as_column(text: str | None) -> str | int | None:
    text = (text or "").strip()
    if not text:
        return None
    return int(text) if text.isdigit() else text


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


class CsvMappingForm(forms.Form):
    """A CsvMapping row: its name and bank, and the fields of the parser's ``CsvMapping`` as ``config``.

    ``config()`` returns the JSON the model stores; ``parser_mapping()`` the dataclass the parser reads.
    With ``for_preview=True`` the name is not needed (nothing is saved).
    """

    name = forms.CharField(max_length=100)
    bank_partner = forms.ModelChoiceField(queryset=None, required=False, empty_label="(any bank)")
    # file layout
    delimiter = forms.CharField(max_length=2, initial=",", strip=False, help_text="One character; \\t for tab.")
    quotechar = forms.CharField(max_length=1, initial='"', strip=False)
    encoding = forms.CharField(max_length=40, initial="utf-8-sig", help_text="e.g. utf-8-sig, cp1252, latin-1")
    skip_rows = forms.IntegerField(min_value=0, max_value=1000, initial=0,
                                   help_text="Lines to skip before the header (or the data).")
    has_header = forms.BooleanField(required=False, initial=True, label="First row is a header")
    # columns
    date = _column(required=True, label="Booking date column")
    value_date = _column(label="Value date column")
    amount = _column(label="Amount column")
    debit = _column(label="Debit column")
    credit = _column(label="Credit column")
    currency = _column(label="Currency column")
    fixed_currency = forms.CharField(max_length=3, required=False, help_text="One currency for the whole file.")
    description = forms.CharField(max_length=300, required=False, label="Description column(s)",
                                  help_text="Several columns separated by commas are joined with a space.")
    counterparty_name = _column(label="Counterparty name column")
    counterparty_account = _column(label="Counterparty account column")
    reference = _column(label="Bank reference column")
    end_to_end_id = _column(label="End-to-end id column")
    balance = _column(label="Running balance column")
    type_code = _column(label="Transaction type column")
    indicator = _column(label="Credit/debit indicator column")
    account = forms.CharField(max_length=100, required=False, label="Account (IBAN or number)",
                              help_text="The account the file belongs to; CSV exports rarely say.")
    statement_id = forms.CharField(max_length=100, required=False)
    # number and date formats
    date_format = forms.CharField(max_length=40, initial="%Y-%m-%d", help_text="strptime format, e.g. %d.%m.%Y")
    value_date_format = forms.CharField(max_length=40, required=False, help_text="Defaults to the date format.")
    decimal_separator = forms.CharField(max_length=1, initial=".", strip=False)
    thousands_separator = forms.CharField(max_length=1, required=False, strip=False)
    sign = forms.ChoiceField(choices=SIGN_CHOICES, initial="credit_positive")
    credit_values = forms.CharField(max_length=200, initial=", ".join(_DEFAULTS["credit_values"]),
                                    help_text="Indicator values meaning credit, comma separated.")
    debit_values = forms.CharField(max_length=200, initial=", ".join(_DEFAULTS["debit_values"]),
                                   help_text="Indicator values meaning debit, comma separated.")
    skip_empty_amount = forms.BooleanField(required=False, initial=True, label="Skip rows without an amount")
    # not saved: the file the live preview parses
    sample = forms.FileField(required=False, label="Sample CSV for the preview")

    def __init__(self, *args, user, for_preview: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bank_partner"].queryset = bank_partner_list(user=user)
        self.for_preview = for_preview
        if for_preview:
            self.fields["name"].required = False

    @classmethod
    def initial_from(cls, mapping) -> dict:
        """Form initial values from a stored CsvMapping (its config merged over the parser defaults)."""
        config = {**_DEFAULTS, **(mapping.config or {})}
        initial = {"name": mapping.name, "bank_partner": mapping.bank_partner_id}
        for key, value in config.items():
            if key not in cls.base_fields:
                continue
            if key in LIST_FIELDS or key == "description":
                value = ", ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value
            initial[key] = "" if value is None else value
        if config.get("delimiter") == "\t":
            initial["delimiter"] = "\\t"
        return initial

    def clean_delimiter(self):
        value = self.cleaned_data["delimiter"]
        return "\t" if value in ("\\t", "tab") else value

    def clean_fixed_currency(self):
        return self.cleaned_data["fixed_currency"].strip().upper()

    def clean_sample(self):
        sample = self.cleaned_data.get("sample")
        if sample is not None and sample.size > MAX_SAMPLE_BYTES:
            raise forms.ValidationError(f"The sample is {sample.size:,} bytes; keep it under "
                                        f"{MAX_SAMPLE_BYTES // (1024 * 1024)} MB (the first rows are enough).")
        return sample

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self._mapping = self._build()
            self._mapping.validate()
        except parsers.ParseError as exc:
            raise forms.ValidationError(exc.message) from None
        except (TypeError, ValueError) as exc:
            raise forms.ValidationError(f"This mapping cannot be used: {exc}") from None
        if self._mapping.date_format and "%" not in self._mapping.date_format:
            self.add_error("date_format", "A strptime format needs % codes, e.g. %Y-%m-%d or %d.%m.%Y.")
        return data

    def config(self) -> dict:
        """The JSON stored in ``CsvMapping.config``: every field of the parser's dataclass, tuples as lists."""
        mapping = self._mapping
        out = {}
        for f in dataclasses.fields(mapping):
            value = getattr(mapping, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def parser_mapping(self) -> parsers.CsvMapping:
        return self._mapping

    def _build(self) -> parsers.CsvMapping:
        d = self.cleaned_data
        kwargs: dict = {}
        for key in COLUMN_FIELDS:
            kwargs[key] = _as_column(d.get(key))
        description = [_as_column(part) for part in _split(d.get("description", ""))]
        kwargs["description"] = (description[0] if len(description) == 1 else tuple(description)) or None
        for key in TEXT_FIELDS:
            value = d.get(key)
            kwargs[key] = value if value not in ("", None) else None
        for key in ("fixed_currency", "account", "statement_id", "value_date_format", "thousands_separator"):
            kwargs[key] = kwargs[key] or None
        for key in ("delimiter", "quotechar", "encoding", "date_format", "decimal_separator", "sign"):
            if kwargs[key] is None:
                kwargs[key] = _DEFAULTS[key]
        for key in LIST_FIELDS:
            kwargs[key] = _split(d.get(key, "")) or _DEFAULTS[key]
        kwargs["skip_rows"] = d.get("skip_rows") or 0
        kwargs["has_header"] = bool(d.get("has_header"))
        kwargs["skip_empty_amount"] = bool(d.get("skip_empty_amount"))
        if kwargs["encoding"]:
            try:
                codecs.lookup(kwargs["encoding"])
            except LookupError:
                raise ValueError(f"unknown encoding {kwargs['encoding']!r}") from None
        return parsers.CsvMapping(**kwargs)
