from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "apps.connectors"
    label = "connectors"
    verbose_name = "Connectors"

    def ready(self) -> None:
        from apps.connectors import config  # noqa: F401  registers the config_load section "connections"
        from apps.connectors import kinds  # noqa: F401  registers the case kinds
        from apps.connectors.adapters import register as register_adapters
        from apps.core.roles import register_role_permissions

        register_adapters()  # rest_erp, csv_erp, rest_expense (options.adapter)
        read = ["connectors.view_connection", "connectors.view_syncrun"]
        history = ["connectors.view_historicalconnection"]
        manage = [f"connectors.{a}_connection" for a in ("add", "change", "delete")]
        register_role_permissions(
            {
                "treasury": read + ["connectors.run_connection"],
                "auditor": read + history,
                "admin": read + history + manage + ["connectors.run_connection"],
            }
        )
