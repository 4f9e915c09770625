from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.core.money import Money
from apps.core.roles import user_roles
from apps.org.selectors import counterparty_list, entity_ids
from apps.payments.models import (
    Approval,
    BatchIntake,
    BatchStatus,
    ErpStatusPush,
    FlagKind,
    InstructionStatus,
    PaymentBatch,
    PaymentFlag,
    PaymentInstruction,
)
from apps.payments.services import BANK_DETAILS_RECENT_DAYS

APPROVE = "payments.approve_paymentbatch"
HISTORY_NOISE = ["updated_at", "created_at", "content_sha256"]
MAX_CHANGES_SHOWN = 50
MAX_ERP_PUSHES_SHOWN = 100


def batch_list(*, user) -> QuerySet[PaymentBatch]:
    if not user.has_perm("payments.view_paymentbatch"):
        return PaymentBatch.objects.none()
    qs = PaymentBatch.objects.select_related("entity", "debtor_account", "created_by").prefetch_related(
        "approvals__approver")
    ids = entity_ids(user=user)
    return qs if ids is None else qs.filter(entity__in=ids)


# --- reads for the console ------------------------------------------------

def batch_with_counts(queryset: QuerySet[PaymentBatch]) -> QuerySet[PaymentBatch]:
    """Annotate live approvals (bound to the current content), held instructions and open holding flags."""
    live = (Approval.objects.filter(batch=OuterRef("pk"), voided_at__isnull=True,
                                    content_sha256=OuterRef("content_sha256"))
            .order_by().values("batch").annotate(n=Count("pk")).values("n"))
    held = (PaymentInstruction.objects.filter(batch=OuterRef("pk"), status=InstructionStatus.HELD)
            .order_by().values("batch").annotate(n=Count("pk")).values("n"))
    flags = (PaymentFlag.objects.filter(instruction__batch=OuterRef("pk"), holds=True, cleared_at__isnull=True)
             .order_by().values("instruction__batch").annotate(n=Count("pk")).values("n"))
    return queryset.annotate(
        live_approvals=Coalesce(Subquery(live, output_field=IntegerField()), 0),
        held_count=Coalesce(Subquery(held, output_field=IntegerField()), 0),
        open_flags=Coalesce(Subquery(flags, output_field=IntegerField()), 0),
    )


def batch_timeline(*, batch: PaymentBatch) -> list[dict]:
    """The batch's history, newest first: who, when, the status, what changed and why."""
    records = list(batch.history.select_related("history_user").order_by("history_date", "history_id"))
    entries = []
    for n, record in enumerate(records):
        changes = []
        if n:
            previous = records[n - 1]
            delta = record.diff_against(previous, excluded_fields=[*HISTORY_NOISE, "status"])
            changes = [(c.field, c.old, c.new) for c in delta.changes]
            reason = record.history_change_reason or ""
            if not changes and record.status == previous.status and reason in ("", previous.history_change_reason):
                continue  # a bookkeeping save (content hash): nothing a reader would call a change
        entries.append({
            "when": record.history_date,
            "who": record.history_user.username if record.history_user else "system",
            "type": {"+": "created", "~": "changed", "-": "deleted"}[record.history_type],
            "status": record.get_status_display(),
            "reason": record.history_change_reason or "",
            "changes": changes,
        })
    entries.reverse()
    return entries


def _approval_baseline(batch: PaymentBatch) -> tuple:
    """Since when changes count: the earliest live approval, else the moment the batch was put up for approval."""
    first = (batch.approvals.filter(voided_at__isnull=True, content_sha256=batch.content_sha256)
             .select_related("approver").order_by("created_at").first())
    if first is not None:
        return first.created_at, f"the first live approval ({first.approver.username})"
    put_up = (batch.history.filter(status=BatchStatus.PENDING_APPROVAL).order_by("history_date", "history_id")
              .values_list("history_date", flat=True).first())
    return put_up or batch.created_at, "receipt"


def batch_changes(*, batch: PaymentBatch, user) -> dict:
    """What an approver must know before approving: approvals voided and why, every change to an instruction
    since the earliest live approval (or since receipt), and which bank details changed."""
    since, since_label = _approval_baseline(batch)
    voided = list(batch.approvals.filter(voided_at__isnull=False).select_related("approver").order_by("-voided_at"))
    records = list(
        PaymentInstruction.history.filter(batch_id=batch.pk, history_type="~", history_date__gt=since)
        .select_related("history_user").order_by("history_date", "history_id")[:MAX_CHANGES_SHOWN + 1]
    )
    changes = []
    for record in records[:MAX_CHANGES_SHOWN]:
        previous = record.prev_record
        if previous is None:
            continue
        delta = record.diff_against(previous, excluded_fields=HISTORY_NOISE)
        if delta.changes:
            changes.append({
                "when": record.history_date, "end_to_end_id": record.end_to_end_id,
                "who": record.history_user.username if record.history_user else "system",
                "reason": record.history_change_reason or "",
                "changes": [(c.field, _shown(c.field, c.old, record.currency), _shown(c.field, c.new, record.currency))
                            for c in delta.changes],
            })
    bank_flags = list(PaymentFlag.objects.filter(instruction__batch=batch, kind=FlagKind.BANK_DETAILS_CHANGED)
                      .select_related("instruction", "cleared_by").order_by("cleared_at", "created_at"))
    recent = timezone.now() - timedelta(days=BANK_DETAILS_RECENT_DAYS)
    counterparties = []
    for counterparty in (counterparty_list(user=user)
                         .filter(pk__in=batch.instructions.values("counterparty_id"),
                                 bank_details_changed_at__gte=recent)
                         .order_by("name")[:20]):
        change = _bank_detail_change(counterparty)
        if change is not None:
            counterparties.append({"counterparty": counterparty, **change})
    return {"since": since, "since_label": since_label, "voided": voided, "changes": changes,
            "more_changes": len(records) > MAX_CHANGES_SHOWN, "bank_flags": bank_flags,
            "counterparties": counterparties}


def _shown(field: str, value, currency: str):
    """A history value as people read it: amounts in the currency's decimals, not the column's."""
    if field == "amount" and value is not None:
        return str(Money(Decimal(value), currency).round())
    return value


def _bank_detail_change(counterparty) -> dict | None:
    """The counterparty's latest change of bank details (a record created recently is not a change)."""
    records = list(counterparty.history.select_related("history_user").order_by("-history_date", "-history_id")[:10])
    for n, record in enumerate(records[:-1]):
        delta = record.diff_against(records[n + 1], included_fields=["iban", "bic", "account_number", "routing_code"])
        if delta.changes:
            return {"when": record.history_date, "reason": record.history_change_reason or "",
                    "who": record.history_user.username if record.history_user else "system",
                    "changes": [(c.field, c.old, c.new) for c in delta.changes]}
    return None


def approval_blocker(*, batch: PaymentBatch, user) -> str:
    """Why ``user`` may not approve ``batch`` now ("" if they may). The service decides; this only explains."""
    if user.pk == batch.created_by_id:
        return "you submitted this batch"
    if user.pk == batch.last_edited_by_id:
        return "you last changed this batch"
    if any(a.approver_id == user.pk and a.voided_at is None for a in batch.approvals.all()):
        return "you have approved it already"
    if batch.required_roles and not (set(batch.required_roles) & user_roles(user)) and not user.is_superuser:
        return f"it needs an approver with the role {' or '.join(batch.required_roles)}"
    return ""


def approval_inbox(*, user) -> QuerySet[PaymentBatch]:
    """Batches pending approval that the user can see; the ones they made or last changed sort last."""
    if not user.has_perm(APPROVE):
        return PaymentBatch.objects.none()
    mine = Case(When(Q(created_by=user) | Q(last_edited_by=user), then=Value(1)), default=Value(0),
                output_field=IntegerField())
    return batch_with_counts(batch_list(user=user).filter(status=BatchStatus.PENDING_APPROVAL)) \
        .annotate(mine=mine).order_by("mine", "requested_execution_date", "created_at", "pk")


def approval_pending_count(*, user) -> int:
    """Pending batches the user could still approve: not their own, not approved by them already."""
    if not user.has_perm(APPROVE):
        return 0
    approved = Approval.objects.filter(approver=user, voided_at__isnull=True).values("batch")
    return (batch_list(user=user).filter(status=BatchStatus.PENDING_APPROVAL)
            .exclude(created_by=user).exclude(last_edited_by=user).exclude(pk__in=approved).count())


def batch_erp_exchange(*, batch: PaymentBatch) -> dict:
    """What the batch's ERP sent and was told: the pulled document it came from (for ERP pulls) and every status
    push in event order with its delivery state. ``batch`` comes from ``batch_list``: the user may see it."""
    pushes = (ErpStatusPush.objects.filter(batch=batch).select_related("connection", "instruction")
              .order_by("occurred_at", "pk"))
    counts = dict(pushes.order_by().values_list("status").annotate(n=Count("pk")))
    return {
        "intake": BatchIntake.objects.filter(batch=batch).select_related("raw_document").order_by("created_at").first(),
        "pushes": list(pushes[:MAX_ERP_PUSHES_SHOWN]),
        "counts": [(status, label, counts[status]) for status, label in ErpStatusPush.Status.choices
                   if counts.get(status)],
        "more": sum(counts.values()) > MAX_ERP_PUSHES_SHOWN,
    }
