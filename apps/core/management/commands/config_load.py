from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.core.config import config_load, config_parse
from apps.core.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Load configuration (entities, bank partners, bank accounts, counterparties, access, ...) from a YAML or "
        "JSON file. Idempotent: items are upserted by code or IBAN. --dry-run shows what would change."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="show what would change and write nothing")

    def handle(self, *args, file: Path, dry_run: bool, **options):
        try:
            results = config_load(config_parse(file), dry_run=dry_run)
        except ApplicationError as exc:
            raise CommandError(f"{file}: {exc.message} Nothing was written.") from None
        counts: dict[str, int] = {}
        for item in results:
            counts[item.action] = counts.get(item.action, 0) + 1
            if item.action == "unchanged" and options["verbosity"] < 2:
                continue
            detail = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in item.changes.items())
            self.stdout.write(f"{item.action:9} {item.section} {item.key}" + (f" ({detail})" if detail else ""))
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "nothing to load"
        prefix = "DRY RUN, nothing written: " if dry_run else ""
        self.stdout.write(self.style.SUCCESS(f"{prefix}{summary}"))
