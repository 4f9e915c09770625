"""manage.py bank_import PATH... [--format auto|camt053|...] [--csv-mapping NAME] [--dry-run] [--json]"""

import json
import mimetypes
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.statements.models import CsvMapping, ImportRun
from apps.statements.services import FORMAT_ALIASES, statement_file_import


class Command(BaseCommand):
    help = (
        "Import bank files (camt.052/053/054, MT940/942, BAI2, CSV with a saved mapping). The format is detected "
        "from the content. Exit code 1 if any file was rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--format", default="auto", choices=sorted(FORMAT_ALIASES))
        parser.add_argument("--csv-mapping", default=None, help="name of a saved CSV mapping")
        parser.add_argument("--dry-run", action="store_true", help="parse and validate only; write nothing")
        parser.add_argument("--json", action="store_true", help="print one JSON object per file")

    def handle(self, *args, paths, format, csv_mapping, dry_run, json: bool, **options):
        mapping = None
        if csv_mapping:
            mapping = CsvMapping.objects.filter(name=csv_mapping).first()
            if mapping is None:
                known = ", ".join(CsvMapping.objects.values_list("name", flat=True)) or "none saved yet"
                raise CommandError(f"--csv-mapping: no CSV mapping named {csv_mapping!r} ({known}).")
        rejected = 0
        for path in paths:
            result = self._one(path, format, mapping, dry_run)
            rejected += result["status"] == ImportRun.Status.REJECTED
            if json:
                self.stdout.write(_dumps(result))
            else:
                self.stdout.write(_human(result))
        if rejected:
            raise SystemExit(1)

    def _one(self, path: Path, fmt: str, mapping, dry_run: bool) -> dict:
        try:
            handle = path.open("rb")
        except OSError as exc:
            return {"path": str(path), "sha256": None, "format": None, "status": "rejected",
                    "error": f"cannot read {path}: {exc.strerror}", "statements": [], "entries_created": 0,
                    "entries_duplicate": 0}
        with handle:
            try:
                result = statement_file_import(
                    content=handle, filename=path.name, source="cli",
                    media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                    file_format=fmt, csv_mapping=mapping, dry_run=dry_run,
                )
            except ApplicationError as exc:
                return {"path": str(path), "sha256": None, "format": None, "status": "rejected",
                        "error": exc.message, "statements": [], "entries_created": 0, "entries_duplicate": 0}
        data = result.as_json()
        data["path"] = str(path)
        return data


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


def _human(data: dict) -> str:
    lines = [f"{data['path']}: {data['status']} ({data.get('format') or 'unknown format'})"]
    if data.get("error"):
        lines.append(f"  error: {data['error']}")
    for s in data.get("statements", []):
        check = {True: "balances reconcile", False: "BALANCES DO NOT RECONCILE", None: "no balances"}[
            s["balances_reconcile"]]
        lines.append(
            f"  {s['account']} {s['currency']}: {s['entries']} entries, opening {s['opening_balance']}, "
            f"closing {s['closing_balance']}, {check}" + (f" — {s['error']}" if s.get("error") else "")
        )
    lines.append(f"  entries created {data['entries_created']}, duplicates {data['entries_duplicate']}")
    return "\n".join(lines)
