"""Django's session, user and message middleware, skipped for API calls made
with a token.

Such a call is authenticated by its token alone (hooks.authentication:
the token's header is accepted or answered 401, no later authentication
class, the session's included, is asked), and nothing in the API reads a
session or leaves a message. For it, the three loaded the message storage
and a lazy session with its lazy user, and looked at them again on the way
out, for nothing. Browsers (the console, the browsable API, /api/docs/)
send no token header and keep all three.

A module of its own: webhooks_project.middleware is read by gunicorn's
settings before Django is set up, and these import Django's auth models.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest

from hooks.authentication import carries_token

# Every view under it is a DRF view whose first authentication class is the
# token's (webhooks_project/api_settings.py).
API_PREFIX = "/api/"


def token_api_call(request: HttpRequest) -> bool:
    # Asked by each of the three: worked out once.
    answer = getattr(request, "_token_api_call", None)
    if answer is None:
        answer = request.path_info.startswith(API_PREFIX) and carries_token(request)
        request._token_api_call = answer  # type: ignore[attr-defined]
    return answer


class _UnlessToken:
    # Subclasses of Django's own, so the admin's checks (admin.E408-E410)
    # still find them in MIDDLEWARE, in their order.
    get_response: Any

    def __call__(self, request: HttpRequest) -> Any:
        if token_api_call(request):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class SessionMiddleware(_UnlessToken, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(_UnlessToken, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(_UnlessToken, messages.MessageMiddleware):
    pass
