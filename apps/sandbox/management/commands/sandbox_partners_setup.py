import datetime as dt
import json
import os

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.sandbox.demo import CLOUD_ERP, LEGACY_ERP, PLATFORM, sandbox_partners_demo_ensure
from apps.sandbox.erp_services import erp_dir
from apps.sandbox.models import SandboxErp

#: Environment variables holding a partner's credentials as JSON ({"client_id", "client_secret", "api_key"});
#: the demo's config_load reads the same variables (credentials_env), so hub and sandbox share them.
CREDENTIALS_ENV = {CLOUD_ERP: "FINOPS_DEMO_ERP_CLOUD", PLATFORM: "FINOPS_DEMO_CONCUR"}


def _credentials(code: str) -> dict:
    name = CREDENTIALS_ENV.get(code)
    raw = os.environ.get(name or "", "")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise CommandError(f"{name} does not hold a JSON object.") from None  # the value itself is never echoed
    allowed = {"api_key", "client_id", "client_secret"}
    if not isinstance(value, dict) or set(value) - allowed:
        raise CommandError(f"{name}: expected a JSON object with {', '.join(sorted(allowed))}.")
    return {k: str(v) for k, v in value.items()}


class Command(BaseCommand):
    help = ("Create the demo sandbox partners (idempotent): cloud ERP erp-cloud (DE01, REST), legacy ERP erp-legacy "
            "(US01, CSV files) with master data, periods and one payment run each, and the expense platform concur "
            "with approved reports. Credentials come from FINOPS_DEMO_ERP_CLOUD / FINOPS_DEMO_CONCUR (JSON) when "
            "set, else they are generated once and kept.")

    def add_arguments(self, parser):
        parser.add_argument("--today", help="date the demo data around YYYY-MM-DD (default: today)")
        parser.add_argument("--legacy-root", help="directory of the legacy ERP's files (default: <sandbox root>/"
                                                  "erp-legacy)")
        parser.add_argument("--show-secrets", action="store_true",
                            help="print the generated credentials (they are never printed otherwise)")

    def handle(self, *args, **options):
        today = dt.date.fromisoformat(options["today"]) if options["today"] else dt.date.today()
        try:
            result = sandbox_partners_demo_ensure(
                today=today, file_root=options["legacy_root"],
                credentials={code: _credentials(code) for code in CREDENTIALS_ENV})
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        legacy = SandboxErp.objects.get(code=LEGACY_ERP)
        self.stdout.write(f"{CLOUD_ERP}: cloud ERP for DE01, rest=/sandbox/erps/{CLOUD_ERP}/ "
                          f"token=/sandbox/erps/{CLOUD_ERP}/oauth/token")
        self.stdout.write(f"{LEGACY_ERP}: legacy ERP for US01, files={erp_dir(legacy)}")
        self.stdout.write(f"{PLATFORM}: expense platform, rest=/sandbox/expense/{PLATFORM}/, "
                          f"{result.reports_created} report(s) created; {result.batches_queued} payment batch(es) "
                          "queued")
        if options["show_secrets"]:
            for code, creds in result.credentials.items():
                self.stdout.write(f"{code} credentials: {json.dumps(creds)}")
