from django.apps import AppConfig


class ExpensesConfig(AppConfig):
    name = "apps.expenses"
    label = "expenses"
    verbose_name = "Expenses"

    def ready(self) -> None:
        from apps.core.events import subscribe
        from apps.core.roles import register_role_permissions
        from apps.expenses import config, kinds  # noqa: F401  register the config section and the case kinds
        from apps.expenses.services import connector_documents_subscriber, reimbursement_status_subscriber

        subscribe("expenses.connector_documents", connector_documents_subscriber)
        subscribe("expenses.reimbursement_status", reimbursement_status_subscriber)
        read = ["expenses.view_expensereport", "expenses.view_expenseline", "expenses.view_journal",
                "expenses.view_journalline", "expenses.view_masterrecord", "expenses.view_masterdatasync",
                "expenses.view_expensepolicy"]
        history = ["expenses.view_historicalexpensereport", "expenses.view_historicaljournal",
                   "expenses.view_historicalmasterrecord", "expenses.view_historicalexpensepolicy"]
        register_role_permissions({
            "ap_clerk": read + history + ["expenses.add_expensereport", "expenses.post_expensereport"],
            "treasury": read + history + ["expenses.post_expensereport"],
            "approver": read + history + ["expenses.approve_repost"],
            "auditor": read + history,
            "admin": read + history + ["expenses.add_expensepolicy", "expenses.change_expensepolicy",
                                       "expenses.add_expensereport"],
        })
