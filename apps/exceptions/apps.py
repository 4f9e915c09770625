from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "apps.exceptions"
    label = "exceptions"
    verbose_name = "Exception queue"

    def ready(self) -> None:
        from apps.core.roles import register_role_permissions

        view = ["exceptions.view_exceptioncase", "exceptions.view_caseoccurrence"]
        history = ["exceptions.view_historicalexceptioncase"]
        work = ["exceptions.work_exceptioncase"]
        sla = [f"exceptions.{a}_slarule" for a in ("view", "add", "change", "delete")]
        register_role_permissions(
            {
                "ap_clerk": view + history + work,
                "treasury": view + history + work,
                "approver": view + history,
                "auditor": view + history + ["exceptions.view_slarule", "exceptions.view_historicalslarule"],
                "admin": view + history + sla,
            }
        )
