from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The project's own sandbox partners (bank, ERPs, expense platform). They are the outside world: no hub
    module imports them; the hub reaches them only over HTTP, SFTP or files."""

    name = "apps.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox partners"
