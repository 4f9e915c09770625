"""Same-day cut-off per bank partner, and the rule for a batch that reaches the bank after it.

A bank executes a file it receives before its cut-off on the requested day; one that arrives later goes the next
business day. The hub never lets that happen unnoticed:

- at intake (bank profile), a batch asking for today after today's cut-off is refused, naming the first day
  still possible;
- at transmission, a batch whose requested date can no longer be met (approved after the cut-off, or retried on a
  later day) is moved to the earliest possible execution date: today if today is a business day for its currency
  and the cut-off has not passed, else the next business day. The date asked for is kept
  (``execution_date_rolled_from``), the change is in the batch's history and emitted as
  ``payment_batch.execution_date_rolled``. Approvals stand: the bank would execute it on that day anyway, and the
  content approved (who is paid what) is unchanged.

The cut-off is configured per bank partner (``BankCutoff``: ``config_load`` section ``bank_cutoffs``), in the
bank's time zone; without a row it is 14:00 in ``settings.TIME_ZONE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.audit import audited_save
from apps.core.errors import PermissionDenied, ValidationFailed
from apps.core.events import event_emit
from apps.org.models import BankPartner
from apps.payments.models import BankCutoff, PaymentBatch
from apps.payments.validation import is_business_day, next_business_day

DEFAULT_CUTOFF = time(14, 0)


@dataclass(frozen=True)
class Cutoff:
    at: time
    zone: ZoneInfo

    def __str__(self) -> str:
        return f"{self.at:%H:%M} {self.zone.key}"


def _now() -> datetime:
    return timezone.now()  # one seam for tests


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"time_zone: {name!r} is not an IANA time zone (e.g. Europe/Berlin).",
                               {"field": "time_zone"}) from None


def bank_cutoff(bank: BankPartner) -> Cutoff:
    row = BankCutoff.objects.filter(bank_partner=bank).first()
    if row is None:
        return Cutoff(DEFAULT_CUTOFF, _zone(settings.TIME_ZONE))
    return Cutoff(row.cutoff, _zone(row.time_zone or settings.TIME_ZONE))


def bank_local_now(cutoff: Cutoff) -> datetime:
    return _now().astimezone(cutoff.zone)


def earliest_execution_date(*, cutoff: Cutoff, currency: str) -> date:
    """Today if it is a business day for the currency and the cut-off has not passed, else the next business day."""
    now = bank_local_now(cutoff)
    today = now.date()
    if is_business_day(today, currency) and now.time() <= cutoff.at:
        return today
    return next_business_day(today + timedelta(days=1), currency)


def execution_date_roll(batch: PaymentBatch, *, actor=None) -> tuple[date, date] | None:
    """Move the batch to the earliest execution date its bank can still meet. Call under the batch's row lock,
    before its file is built. Returns ``(from, to)`` when the date moved."""
    cutoff = bank_cutoff(batch.debtor_account.bank)
    earliest = earliest_execution_date(cutoff=cutoff, currency=batch.currency)
    asked = batch.requested_execution_date
    if asked >= earliest:
        return None
    batch.requested_execution_date = earliest
    if batch.execution_date_rolled_from is None:
        batch.execution_date_rolled_from = asked
    audited_save(batch, actor=actor, reason=f"execution date {asked} -> {earliest}: cut-off {cutoff} passed",
                 update_fields=["requested_execution_date", "execution_date_rolled_from"])
    event_emit("payment_batch.execution_date_rolled", batch, {
        "batch_id": batch.pk, "entity": batch.entity.code, "erp_reference": batch.erp_reference,
        "status": batch.status, "from": str(asked), "to": str(earliest), "cutoff": str(cutoff),
    }, actor=actor)
    return asked, earliest


# --- configuration ------------------------------------------------------------------------------------------------

def _parse_time(value) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)  # YAML 1.1 reads an unquoted 14:30 as the sexagesimal number 870
    try:
        return time.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationFailed(f"cutoff: {value!r} is not a time of day (HH:MM).", {"field": "cutoff"}) from None


@transaction.atomic
def bank_cutoff_set(*, bank_code: str, cutoff, time_zone: str = "", actor=None,
                    reason: str = "") -> tuple[BankCutoff, str, dict]:
    """Create or change a bank partner's cut-off; returns ``(row, created|updated|unchanged, changes)``. The same
    values again change nothing."""
    if actor is not None and not actor.has_perm("payments.change_bankcutoff"):
        raise PermissionDenied("Your role may not change bank cut-off times.")
    bank = BankPartner.objects.filter(code=bank_code).first()
    if bank is None:
        raise ValidationFailed(f"bank: no bank partner with code {bank_code!r}.", {"field": "bank"})
    at = _parse_time(cutoff)
    zone = (time_zone or "").strip()
    if zone:
        _zone(zone)
    row = BankCutoff.objects.select_for_update().filter(bank_partner=bank).first()
    created = row is None
    row = row or BankCutoff(bank_partner=bank)
    changes = {name: (None if created else getattr(row, name), value)
               for name, value in (("cutoff", at), ("time_zone", zone))
               if created or getattr(row, name) != value}
    if not changes:
        return row, "unchanged", {}
    row.cutoff, row.time_zone = at, zone
    audited_save(row, actor=actor, reason=reason or ("created" if created else "changed"))
    return row, "created" if created else "updated", changes
