from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "apps.org"
    label = "org"
    verbose_name = "Organisation"

    def ready(self) -> None:
        from apps.core.roles import register_role_permissions
        from apps.org import config  # noqa: F401  registers the config_load sections

        models = ("legalentity", "bankpartner", "bankaccount", "counterparty", "fxrate")
        view = [f"org.view_{m}" for m in models]
        history = [f"org.view_historical{m}" for m in models]
        manage = [
            f"org.{action}_{m}"
            for m in models
            for action in ("add", "change", "delete")
        ]
        register_role_permissions(
            {
                "ap_clerk": view,
                "treasury": view,
                "approver": view,
                "auditor": view + history,
                "admin": view + history + manage,
            }
        )
