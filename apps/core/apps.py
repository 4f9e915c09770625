from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from apps.core import roles

        roles.register_role_permissions(
            {
                "auditor": ["core.view_rawdocument", "core.download_rawdocument", "core.view_event"],
                "treasury": ["core.view_rawdocument", "core.download_rawdocument", "core.view_event"],
                "ap_clerk": ["core.view_rawdocument"],
                "admin": ["core.view_rawdocument", "core.download_rawdocument", "core.view_event"],
            }
        )
        post_migrate.connect(roles.sync_after_migrate, dispatch_uid="finops-roles-sync")
