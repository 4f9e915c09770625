from django.apps import AppConfig


class StatementsConfig(AppConfig):
    name = "apps.statements"
    label = "statements"
    verbose_name = "Bank statements"

    def ready(self) -> None:
        from apps.core.events import subscribe
        from apps.core.roles import register_role_permissions
        from apps.statements import kinds  # noqa: F401  registers the case kinds
        from apps.statements.services import channel_documents_subscriber

        subscribe("statements.channel_documents", channel_documents_subscriber)

        read = [f"statements.view_{m}" for m in ("statement", "statemententry", "importrun", "cashposition",
                                                   "csvmapping")]
        register_role_permissions(
            {
                "ap_clerk": read,
                "treasury": read + ["statements.add_importrun", "statements.add_csvmapping",
                                    "statements.change_csvmapping"],
                "approver": read,
                "auditor": read + ["statements.view_historicalcsvmapping"],
                "admin": read + ["statements.add_importrun", "statements.add_csvmapping",
                                 "statements.change_csvmapping", "statements.delete_csvmapping",
                                 "statements.view_historicalcsvmapping"],
            }
        )
