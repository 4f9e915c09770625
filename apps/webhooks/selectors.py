"""Reads for webhooks, filtered by what the user may see. The secret column is never selected for display.

A user limited to some legal entities sees only the subscriptions filtered to those entities (and their
deliveries): an unfiltered subscription carries every entity's events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.org.selectors import entity_ids
from apps.webhooks.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription


def _can(user, perm: str) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(perm))


def subscription_list(*, user) -> QuerySet[WebhookSubscription]:
    if not _can(user, "webhooks.view_webhooksubscription"):
        return WebhookSubscription.objects.none()
    qs = WebhookSubscription.objects.select_related("legal_entity", "created_by").defer("secret_ciphertext")
    ids = entity_ids(user=user)
    if ids is not None:
        qs = qs.filter(legal_entity__in=ids)
    return qs.order_by("name")


def subscription_get(*, user, pk: int) -> WebhookSubscription:
    return subscription_list(user=user).get(pk=pk)


def delivery_list(*, user) -> QuerySet[WebhookDelivery]:
    if not _can(user, "webhooks.view_webhookdelivery"):
        return WebhookDelivery.objects.none()
    qs = WebhookDelivery.objects.select_related("subscription").defer("subscription__secret_ciphertext")
    ids = entity_ids(user=user)
    if ids is not None:
        qs = qs.filter(subscription__legal_entity__in=ids)
    return qs.order_by("-created_at", "-pk")


def delivery_get(*, user, pk: int) -> WebhookDelivery:
    return delivery_list(user=user).get(pk=pk)


def delivery_attempts(*, delivery: WebhookDelivery) -> QuerySet[DeliveryAttempt]:
    return delivery.attempts.order_by("number")


def delivery_timeline(*, delivery: WebhookDelivery) -> list[dict]:
    """Status changes and replays, newest first: who, when, to which status, why."""
    return [
        {"at": h.history_date, "user": getattr(h.history_user, "username", None), "status": h.status,
         "sequence": h.sequence, "reason": h.history_change_reason or ""}
        for h in delivery.history.select_related("history_user").order_by("-history_date", "-history_id")
    ]


@dataclass(frozen=True)
class DeliveryStats:
    total: int
    failed: int

    @property
    def failed_pct(self) -> int:
        return round(100 * self.failed / self.total) if self.total else 0


def delivery_stats(*, subscription_id: int, window: timedelta) -> DeliveryStats:
    """Deliveries created in the window, and how many of them have failed (one aggregate on an index)."""
    row = WebhookDelivery.objects.filter(
        subscription_id=subscription_id, created_at__gte=timezone.now() - window
    ).aggregate(total=Count("pk"), failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)))
    return DeliveryStats(total=row["total"], failed=row["failed"])
