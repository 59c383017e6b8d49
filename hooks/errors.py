"""Domain errors of the tenant and webhook rules: plain exceptions the
services raise, whatever calls them.

They subclass Django's PermissionDenied (django.core.exceptions, not DRF's),
so each interface answers in its own terms without a mapping of its own: the
API's exception handler turns them into a 403 with the message as `detail`,
and the console catches them as form errors (or Django answers a 403).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied


class ScopeError(PermissionDenied):
    """The actor's role may not have a webhook of this scope, for this account
    and domain: users local ones of their own account, domain admins local or
    domain ones within their subtree, only root admins global ones."""
