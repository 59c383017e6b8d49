"""API token authentication: django-rest-knox's, in one query.

knox's TokenAuthentication costs three queries on every request before the
view runs (the token with its user, then all of that user's tokens to delete
the expired ones), and every view then loads the caller's membership and
account (hooks.permissions.actor_for): five round trips and as many model
instances for an API call whose own work is often a single INSERT. Here the
token comes with its user, membership, account and domain in one SELECT, and
the user's other expired tokens are deleted by the hourly purge
(`tokens_purge`) instead of on every request. What a token proves is
unchanged: the digest is compared in constant time, an expired token is
refused (and deleted), an inactive user is refused.

That SELECT is compiled once per connection (core.prepared): the ORM
compiling its five-table join on every request cost more CPU than everything
else the token check does. It is still read on every request, nothing is
cached between requests: a revoked or expired token is refused at once.
It is the request's first statement and a read, so it checks the connection
by use (core.checkbyuse) instead of Django's SELECT 1 before it.
"""

from __future__ import annotations

import binascii
from hmac import compare_digest
from typing import Any

from django.db import router
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import exceptions
from rest_framework.authentication import get_authorization_header

from core.checkbyuse import first_statement
from core.prepared import PreparedQuery

# The tokens of one key (a key prefix is not unique: knox compares the digest
# of each), with the user, membership, account and domain.
TOKENS_OF_KEY = PreparedQuery(
    lambda key: (
        get_token_model()
        .objects.filter(token_key=key)
        .select_related("user__membership__account__domain")
    )
)


class TokenAuthentication(auth.TokenAuthentication):
    def authenticate_credentials(self, key: bytes):
        msg = _("Invalid token.")
        token = key.decode("utf-8")
        key_prefix = token[: CONSTANTS.TOKEN_KEY_LENGTH]
        db = router.db_for_read(get_token_model())
        for auth_token in first_statement(db, lambda: TOKENS_OF_KEY.all(key_prefix, using=db)):
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                username = auth_token.user.get_username()
                auth_token.delete()
                token_expired.send(sender=self.__class__, username=username, source="auth_token")
                continue
            try:
                digest = hash_token(token)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(msg) from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(msg)


def carries_token(request: Any) -> bool:
    """Whether the request's Authorization header is of the token scheme: then
    TokenAuthentication, first of the API's classes, decides alone (it accepts
    the token or answers 401; no later class, the session's included, is
    asked). knox's own test of the header, on Django's request or DRF's."""
    header = get_authorization_header(request).split()
    return bool(header) and header[0].lower() == knox_settings.AUTH_HEADER_PREFIX.encode().lower()


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme: knox's, unchanged (same name, same header)."""

    target_class = "hooks.authentication.TokenAuthentication"
