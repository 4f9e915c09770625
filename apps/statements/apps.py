from django.apps import AppConfig


class StatementsConfig(AppConfig):
    name = "apps.statements"
    label = "statements"
    verbose_name = "Bank statements"

    def ready(self) -> None:
        from apps.statements import kinds  # noqa: F401  registers the case kinds
