import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.sandbox.services import sandbox_tick


class Command(BaseCommand):
    help = ("Advance the sandbox banks: take in inbox files, execute due payments (camt.054 each), book returns, "
            "close business days up to today (one statement per account and day).")

    def add_arguments(self, parser):
        parser.add_argument("--bank", help="sandbox bank code (default: all)")
        parser.add_argument("--end-of-day", action="store_true",
                            help="also close the current business day now (and move to the next)")
        parser.add_argument("--today", help="pretend today is YYYY-MM-DD")

    def handle(self, *args, **options):
        today = dt.date.fromisoformat(options["today"]) if options["today"] else None
        try:
            results = sandbox_tick(bank_code=options["bank"], end_of_day=options["end_of_day"], today=today)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        for result in results:
            self.stdout.write(json.dumps(vars(result)))
