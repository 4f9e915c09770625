"""Payments benchmark: a 10,000-instruction batch received (validated, policy-checked, stored with history),
approved and turned into an XSD-valid pain.001, next to the limit measured in the same run: generating the same
XML with lxml alone and validating it against the same XSD.

    python bench/bench_payments.py [--instructions 10000]

Target (issue "Payments out"): at most 3 s on this machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import setup_django  # noqa: E402

IBANS = ["DE12100700000555444333", "DE32200411110123123123", "DE80500105175407324380", "NL91ABNA0417164300",
         "FR7630006000011234567890189"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instructions", type=int, default=10_000)
    n = ap.parse_args().instructions
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.utils import timezone

    from apps.core.roles import roles_sync
    from apps.org.services import access_grant, bank_account_upsert, bank_partner_upsert, entity_upsert
    from apps.payments import pain001
    from apps.payments.services import payment_batch_approve, payment_batch_receive
    from apps.payments.models import PaymentFile
    from apps.payments.validation import next_business_day

    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="finops-bench-media-")
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE payments_paymentbatch, payments_paymentinstruction, payments_paymentflag, "
                       "payments_approval, payments_paymentfile, payments_historicalpaymentbatch, "
                       "payments_historicalpaymentinstruction, exceptions_exceptioncase, core_event CASCADE")
    roles_sync()
    entity = entity_upsert(code="BENCHP", name="Bench Payments GmbH", country="DE", base_currency="EUR").obj
    bank_partner_upsert(code="DEUTB", name="Deutsche Bank", bic="DEUTDEFFXXX")
    bank_account_upsert(entity_code="BENCHP", bank_code="DEUTB", currency="EUR", name="Bench EUR",
                        iban="DE89370400440532013000")
    User = get_user_model()
    users = {}
    for name, role in (("bench-clerk", "ap_clerk"), ("bench-approver", "approver")):
        user, _ = User.objects.get_or_create(username=name)
        user.groups.set([Group.objects.get(name=role)])
        access_grant(user=user, entities=[entity])
        users[role] = User.objects.get(pk=user.pk)
    day = next_business_day(timezone.localdate() + timedelta(days=2), "EUR")
    ref = f"BENCH-{time.time_ns()}"
    data = {
        "entity": "BENCHP", "debtor_account": "DE89370400440532013000", "requested_execution_date": day,
        "erp_reference": ref,
        "instructions": [
            {"end_to_end_id": f"{ref[-12:]}-{i:06d}", "amount": f"{(i % 997) + 1}.{i % 100:02d}", "currency": "EUR",
             "creditor": {"name": f"Supplier {i} GmbH", "iban": IBANS[i % len(IBANS)],
                          "address": {"town": "Berlin", "country": "DE"}},
             "remittance_information": f"INV {ref[-6:]}-{i}"}
            for i in range(n)
        ],
    }
    start = time.perf_counter()
    batch = payment_batch_receive(data=data, actor=users["ap_clerk"])
    received = time.perf_counter()
    payment_batch_approve(batch_id=batch.pk, actor=users["approver"])  # releases: the file is built on commit
    ours = time.perf_counter() - start
    file = PaymentFile.objects.get(batch=batch)
    content, version = file.raw_document.content.open("rb").read(), file.format
    pain001.validate(content, version)
    assert batch.instruction_count == n and content.count(b"<CdtTrfTxInf>") == n

    transfers = [
        pain001.Transfer(end_to_end_id=i["end_to_end_id"], amount=Decimal(i["amount"]), currency="EUR",
                         creditor_name=i["creditor"]["name"], creditor_iban=i["creditor"]["iban"],
                         creditor_account_number="", creditor_routing="", creditor_bic="",
                         creditor_address=i["creditor"]["address"], remittance_information=i["remittance_information"],
                         purpose="")
        for i in data["instructions"]
    ]
    limit_start = time.perf_counter()
    bare = pain001.build(version=version, message_id="BARE", created_at=timezone.now(), initiating_party="Bench",
                         payment_info_id="BARE", execution_date=day,
                         debtor=pain001.Debtor(name="Bench", iban="DE89370400440532013000", account_number="",
                                               bic="DEUTDEFFXXX", currency="EUR"),
                         transfers=transfers, sepa=True)
    pain001.validate(bare, version)
    limit = time.perf_counter() - limit_start
    print(f"payments: {n:,} instructions received+validated+policy-checked {received - start:.2f} s, approved "
          f"and turned into an XSD-valid {version} {ours - (received - start):.2f} s -> total {ours:.2f} s "
          f"(target <= 3 s); lxml alone + XSD on the same transfers {limit:.2f} s -> {ours / limit:.1f}x")
    return 0 if ours <= 3.0 else 1


if __name__ == "__main__":
    sys.exit(main())
