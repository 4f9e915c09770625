from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "apps.payments"
    label = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from apps.core.events import subscribe
        from apps.core.roles import register_role_permissions
        from apps.payments import config, kinds  # noqa: F401  register the config section and the case kinds
        from apps.payments.erp_intake import erp_batch_documents_subscriber
        from apps.payments.erp_status import erp_status_subscriber
        from apps.payments.status import statement_return_subscriber, status_report_import
        from apps.statements.services import register_document_handler

        register_document_handler("pain.002", status_report_import)  # pain.002 arrives through bank_import
        subscribe("payments.statement_returns", statement_return_subscriber)
        subscribe("payments.erp_batches", erp_batch_documents_subscriber)
        subscribe("payments.erp_status", erp_status_subscriber)

        read = ["payments.view_paymentbatch", "payments.view_paymentinstruction", "payments.view_paymentflag",
                "payments.view_approval", "payments.view_approvalrule", "payments.view_bankcutoff",
                "payments.view_batchintake", "payments.view_erpstatuspush"]
        history = ["payments.view_historicalpaymentbatch", "payments.view_historicalpaymentinstruction"]
        register_role_permissions(
            {
                "ap_clerk": read + history + ["payments.add_paymentbatch", "payments.change_paymentinstruction"],
                "treasury": read + history + ["payments.add_paymentbatch", "payments.change_paymentbatch",
                                              "payments.change_paymentinstruction", "payments.view_denylistentry"],
                "approver": read + history + ["payments.approve_paymentbatch"],
                "auditor": read + history + ["payments.view_denylistentry", "payments.view_historicalapprovalrule",
                                             "payments.view_historicaldenylistentry",
                                             "payments.view_historicalbankcutoff"],
                "admin": read + history + [f"payments.{a}_{m}" for m in ("approvalrule", "denylistentry", "bankcutoff")
                                           for a in ("add", "change", "delete", "view")],
            }
        )
