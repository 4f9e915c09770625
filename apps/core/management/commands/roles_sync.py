from django.core.management.base import BaseCommand

from apps.core.roles import roles_sync


class Command(BaseCommand):
    help = "Create the role groups and set exactly the permissions each app declares for them."

    def handle(self, *args, **options):
        for role, count in roles_sync().items():
            self.stdout.write(f"{role:<10} {count} permission(s)")
