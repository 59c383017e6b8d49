"""Make sure a first login exists: ROOT domain, an admin account, a superuser
and an API token. Prints them. Run by `make run` on every start."""

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from knox.auth import TokenAuthentication

from hooks.models import Membership, Role
from hooks.roots import root_admin_account
from hooks.services import token_issue


class Command(BaseCommand):
    help = "Ensure an admin login and an API token exist; print both."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        # The password and token are kept in var/ so a restart prints the same
        # ones (the database keeps only the password's hash).
        store = settings.VAR_DIR / "admin-credentials.json"
        saved = json.loads(store.read_text()) if store.exists() else {}
        account = root_admin_account()  # the one a superuser without a membership acts for
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if (
            user is None
            or saved.get("username") != username
            or not user.check_password(saved.get("password", ""))
        ):
            password = saved.get("password") or secrets.token_urlsafe(12)
            if user is None:
                user = User.objects.create_superuser(username=username, password=password)
            else:
                user.set_password(password)
                user.is_staff = user.is_superuser = True
                user.save()
            saved = {"username": username, "password": password}
        Membership.objects.get_or_create(
            user=user, defaults={"account": account, "role": Role.ROOT_ADMIN}
        )
        # Tokens are stored hashed: keep the key we issued, and issue a new one
        # only if the saved one no longer works (revoked, expired, new database).
        if not _token_works(saved.get("token"), user):
            saved["token"] = token_issue(user=user)[1]
        store.write_text(json.dumps(saved))
        store.chmod(0o600)
        self.stdout.write(
            f"Admin login: {username} / {saved['password']}   (saved in {store})\n"
            f"API token:   {saved['token']}\n"
            f"Admin account id: {account.id}"
        )


def _token_works(key: str | None, user) -> bool:
    if not key:
        return False
    try:
        found, _ = TokenAuthentication().authenticate_credentials(key.encode())
    except Exception:  # knox raises AuthenticationFailed for unknown/expired keys
        return False
    return found.pk == user.pk
