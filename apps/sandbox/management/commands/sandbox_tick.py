import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.sandbox.erp_files import sandbox_erp_tick
from apps.sandbox.services import sandbox_tick


class Command(BaseCommand):
    help = ("Advance the sandbox partners. Banks: take in inbox files, execute due payments (camt.054 each), book "
            "returns, close business days up to today (one statement per account and day). Legacy ERPs: export "
            "payment runs, take in journal and payment status files (an ack per journal), refresh master data "
            "files. Without --bank/--erp: all banks and all legacy ERPs.")

    def add_arguments(self, parser):
        parser.add_argument("--bank", help="only this sandbox bank")
        parser.add_argument("--erp", help="only this sandbox ERP")
        parser.add_argument("--end-of-day", action="store_true",
                            help="banks: also close the current business day now (and move to the next)")
        parser.add_argument("--today", help="banks: pretend today is YYYY-MM-DD")

    def handle(self, *args, **options):
        today = dt.date.fromisoformat(options["today"]) if options["today"] else None
        everything = not options["bank"] and not options["erp"]
        try:
            results = []
            if everything or options["bank"]:
                results += sandbox_tick(bank_code=options["bank"], end_of_day=options["end_of_day"], today=today)
            if everything or options["erp"]:
                results += sandbox_erp_tick(erp_code=options["erp"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        for result in results:
            self.stdout.write(json.dumps(vars(result)))
