from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from hooks.services import token_issue


class Command(BaseCommand):
    help = "Print a new API token for a user. Only its hash is stored: this is the one look."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--expiry-hours", type=float, default=None)

    def handle(self, *args, username, expiry_hours, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        _, key = token_issue(user=user, expiry_hours=expiry_hours)
        self.stdout.write(key)
