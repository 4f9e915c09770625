from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from apps.console.management.commands.demo_load import USERS, password_for


class Command(BaseCommand):
    help = "Print the console URL and the demo users with their passwords."

    def handle(self, *args, **options):
        existing = set(get_user_model().objects.values_list("username", flat=True))
        self.stdout.write("\nFinOps Console demo: http://127.0.0.1:8000/  (API docs: /api/docs/, admin: /admin/)\n")
        self.stdout.write(f"{'user':<10} {'password':<22} role")
        for username, role, _first, _last in USERS:
            if username in existing:
                self.stdout.write(f"{username:<10} {password_for(username):<22} {role}")
        self.stdout.write("")
