"""The ``webhook.endpoint_failing`` case: one per subscription while its receiver fails too often.

A subscription is failing when more than ``FAILING_RATE`` of its deliveries created in the last
``FAILING_WINDOW`` have failed, counting only when there are at least ``FAILING_MIN_DELIVERIES`` of them. The
check runs after every final outcome (a failure may open the case; a success can only close one, so when no case
is open a success costs one indexed lookup) and from beat for every subscription. The case is resolved by the
system when the rate is back at or below the threshold (with enough deliveries to tell) or the subscription is
deactivated.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from apps.core.errors import ApplicationError
from apps.exceptions.selectors import case_for_subject
from apps.exceptions.services import case_open, case_resolve
from apps.webhooks.kinds import ENDPOINT_FAILING
from apps.webhooks.models import WebhookSubscription
from apps.webhooks.selectors import DeliveryStats, delivery_stats
from apps.webhooks.services.subscriptions import display_url

logger = logging.getLogger(__name__)

FAILING_RATE = 0.30
FAILING_MIN_DELIVERIES = 10
FAILING_WINDOW = timedelta(hours=24)


def is_failing(stats: DeliveryStats) -> bool:
    return stats.total >= FAILING_MIN_DELIVERIES and stats.failed > FAILING_RATE * stats.total


def _message(sub: WebhookSubscription, stats: DeliveryStats) -> str:
    hours = int(FAILING_WINDOW.total_seconds() // 3600)
    return (
        f"Webhook subscription {sub.name} ({display_url(sub.url)}) failed {stats.failed} of its {stats.total} "
        f"deliveries in the last {hours} h ({stats.failed_pct}%; the threshold is {round(FAILING_RATE * 100)}% "
        f"of at least {FAILING_MIN_DELIVERIES}). Check that the receiver is up, that its certificate is valid and "
        f"that it verifies signatures with the current secret; read the errors of the failed deliveries "
        f"(Webhooks > Deliveries, status failed), fix the receiver, then replay them. The case closes by itself "
        f"when the failure rate is back under the threshold."
    )


def webhook_subscription_health_check(*, subscription_id: int, success: bool | None = None) -> str:
    """Open or resolve the subscription's failing case. Returns ``opened``, ``resolved`` or ``unchanged``.

    ``success=True`` (a delivery just succeeded) skips the count when no case is open: a success cannot open one.
    """
    case = case_for_subject(subject=WebhookSubscription(pk=subscription_id), kind=ENDPOINT_FAILING)
    if case is None and success:
        return "unchanged"  # the common path after a success: one indexed lookup
    sub = WebhookSubscription.objects.defer("secret_ciphertext").filter(pk=subscription_id).first()
    if sub is None or (case is None and not sub.active):
        return "unchanged"
    stats = delivery_stats(subscription_id=sub.pk, window=FAILING_WINDOW)
    if case is None:
        if not is_failing(stats):
            return "unchanged"
        _case, created = case_open(kind=ENDPOINT_FAILING, subject=sub, message=_message(sub, stats),
                                   reason_code="failure_rate", legal_entity=None, actor=None)
        logger.warning("webhooks: subscription %s failing (%s of %s deliveries failed)", sub.pk, stats.failed,
                       stats.total)
        return "opened" if created else "unchanged"
    healthy = not sub.active or (stats.total >= FAILING_MIN_DELIVERIES and not is_failing(stats))
    if not healthy:
        return "unchanged"
    why = ("subscription deactivated" if not sub.active
           else f"failure rate back to {stats.failed_pct}% ({stats.failed} of {stats.total} in the window)")
    try:
        case_resolve(case_id=case.pk, actor=None, resolution="fixed", reason=f"System: {why}.")
    except ApplicationError as exc:  # closed by a person meanwhile: their decision stands
        logger.info("webhooks: case %s not resolved automatically: %s", case.pk, exc.message)
        return "unchanged"
    return "resolved"


def webhook_health_check_all() -> dict[str, int]:
    """Beat: check every subscription (active ones, and inactive ones that may still have a case open)."""
    counts = {"opened": 0, "resolved": 0, "unchanged": 0}
    for pk in WebhookSubscription.objects.order_by("pk").values_list("pk", flat=True):
        counts[webhook_subscription_health_check(subscription_id=pk)] += 1
    return counts
