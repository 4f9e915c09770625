from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "apps.payments"
    label = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from apps.core.events import subscribe
        from apps.core.roles import register_role_permissions
        from apps.payments import kinds  # noqa: F401  registers the case kinds
        from apps.payments.status import statement_return_subscriber, status_report_import
        from apps.statements.services import register_document_handler

        register_document_handler("pain.002", status_report_import)  # pain.002 arrives through bank_import
        subscribe("payments.statement_returns", statement_return_subscriber)

        read = ["payments.view_paymentbatch", "payments.view_paymentinstruction", "payments.view_paymentflag",
                "payments.view_approval", "payments.view_approvalrule"]
        history = ["payments.view_historicalpaymentbatch", "payments.view_historicalpaymentinstruction"]
        register_role_permissions(
            {
                "ap_clerk": read + history + ["payments.add_paymentbatch", "payments.change_paymentinstruction"],
                "treasury": read + history + ["payments.add_paymentbatch", "payments.change_paymentbatch",
                                              "payments.change_paymentinstruction", "payments.view_denylistentry"],
                "approver": read + history + ["payments.approve_paymentbatch"],
                "auditor": read + history + ["payments.view_denylistentry", "payments.view_historicalapprovalrule",
                                             "payments.view_historicaldenylistentry"],
                "admin": read + history + [f"payments.{a}_{m}" for m in ("approvalrule", "denylistentry")
                                           for a in ("add", "change", "delete", "view")],
            }
        )
