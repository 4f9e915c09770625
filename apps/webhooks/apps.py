from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from apps.core.events import subscribe
        from apps.core.roles import register_role_permissions
        from apps.webhooks import kinds  # noqa: F401  registers the case kind webhook.endpoint_failing
        from apps.webhooks.services import webhook_events_fanout

        subscribe("webhooks", webhook_events_fanout, batch=True)
        read = ["webhooks.view_webhooksubscription", "webhooks.view_webhookdelivery", "webhooks.view_deliveryattempt"]
        history = ["webhooks.view_historicalwebhooksubscription", "webhooks.view_historicalwebhookdelivery"]
        manage = ["webhooks.add_webhooksubscription", "webhooks.change_webhooksubscription",
                  "webhooks.replay_webhookdelivery"]
        register_role_permissions({
            "treasury": read,
            "auditor": read + history,
            "admin": read + history + manage,
        })
