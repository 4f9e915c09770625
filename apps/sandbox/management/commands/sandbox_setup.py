from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.sandbox.services import bank_dir, bank_dirs, sandbox_bank_ensure


class Command(BaseCommand):
    help = "Create sandbox banks and their accounts (idempotent): --bank CODE:BIC:IBAN,IBAN... (repeatable)."

    def add_arguments(self, parser):
        parser.add_argument("--bank", action="append", required=True, metavar="CODE:BIC:IBAN,IBAN...",
                            help="a bank, its BIC and its accounts (IBANs, or account numbers)")
        parser.add_argument("--name", help="bank name (default: 'Sandbox Bank CODE')")
        parser.add_argument("--api-key", help="set this API key (default: keep the stored one, or generate)")
        parser.add_argument("--format", choices=["camt053", "mt940"], help="statement format")
        parser.add_argument("--currency", default="EUR", help="currency of new accounts (default EUR)")
        parser.add_argument("--balance", default="0", help="opening balance of new accounts (default 0)")

    def handle(self, *args, **options):
        for spec in options["bank"]:
            parts = spec.split(":", 2)
            if len(parts) < 2 or not parts[0] or not parts[1]:
                raise CommandError(f"{spec!r}: expected CODE:BIC:IBAN,IBAN...")
            code, bic = parts[0], parts[1]
            accounts = []
            for ident in (parts[2].split(",") if len(parts) > 2 else []):
                ident = ident.strip()
                if not ident:
                    continue
                key = "iban" if ident[:2].isalpha() else "number"
                accounts.append({key: ident, "currency": options["currency"], "balance": options["balance"]})
            try:
                bank, key = sandbox_bank_ensure(code=code, name=options["name"] or f"Sandbox Bank {code}", bic=bic,
                                                accounts=accounts, api_key=options["api_key"],
                                                statement_format=options["format"])
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
            for name in ("inbox", "status", "statements"):
                bank_dirs(bank)[name].mkdir(parents=True, exist_ok=True)
            self.stdout.write(f"{bank.code} {bank.bic} accounts={bank.accounts.count()} api_key={key} "
                              f"files={bank_dir(bank)} rest=/sandbox/banks/{bank.code}/")
