"""Writes for webhooks: subscriptions (``subscriptions``), the outbox fan-out and sending (``delivery``), the
failing-endpoint case (``health``). Import from here."""

from apps.webhooks.services.delivery import (
    webhook_deliveries_enqueue_due,
    webhook_deliveries_send,
    webhook_delivery_replay,
    webhook_delivery_send,
    webhook_events_fanout,
)
from apps.webhooks.services.health import webhook_health_check_all, webhook_subscription_health_check
from apps.webhooks.services.subscriptions import (
    webhook_subscription_create,
    webhook_subscription_rotate_secret,
    webhook_subscription_set_active,
    webhook_subscription_update,
)

__all__ = [
    "webhook_deliveries_enqueue_due", "webhook_deliveries_send", "webhook_delivery_replay", "webhook_delivery_send",
    "webhook_events_fanout",
    "webhook_health_check_all", "webhook_subscription_health_check", "webhook_subscription_create",
    "webhook_subscription_rotate_secret", "webhook_subscription_set_active", "webhook_subscription_update",
]
