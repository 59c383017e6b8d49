"""Writes about tenants and webhooks: keyword-only, typed, one transaction each.

The API and the console write webhooks through these, so who may have which
webhook is ruled here once: `actor` is who asks (None: the platform itself,
such as the benchmark's setup, to which no role applies). A rule broken
raises hooks.errors.ScopeError.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import AuthToken

from core.signing import SECRET_PREFIX
from hooks.callhooks import call_listeners
from hooks.callmatch import CallPhase
from hooks.errors import ScopeError
from hooks.models import (
    Account,
    Domain,
    HeaderStyle,
    Membership,
    PayloadFormat,
    Role,
    Scope,
    Webhook,
)
from hooks.permissions import Actor
from hooks.roots import root_domain

__all__ = ["root_domain"]  # kept here for its callers (bootstrap, bench)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_SECRET_RE = re.compile(r"\Awhsec_[A-Za-z0-9+/]+={0,2}\Z")


def generate_secret() -> str:
    """A new signing secret: whsec_ + base64 of 24 random bytes (Standard Webhooks)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def check_secret(secret: str) -> None:
    """Raise ValidationError unless `secret` is whsec_ + base64 of 24 to 64 bytes."""
    if not _SECRET_RE.match(secret):
        raise ValidationError("Secret must be 'whsec_' followed by base64.")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ValidationError("Secret must be 'whsec_' followed by valid base64.") from None
    if not 24 <= len(key) <= 64:
        raise ValidationError(f"Secret must encode 24 to 64 bytes; it encodes {len(key)}.")


@transaction.atomic
def domain_create(
    *,
    name: str,
    parent: Domain | None,
    delivery_timeout: float | None = None,
    delivery_max_attempts: int | None = None,
) -> Domain:
    """A new domain; it inherits its parent's delivery settings (Domain.save),
    read under a lock: a change to an ancestor's settings being passed down
    right now (hooks.domain_settings locks the subtree) finishes first."""
    if parent is not None:
        parent = Domain.objects.select_for_update().get(pk=parent.pk)
    domain = Domain(
        name=name,
        parent=parent,
        delivery_timeout=delivery_timeout,
        delivery_max_attempts=delivery_max_attempts,
    )
    domain.full_clean(exclude=["path"])
    domain.save()
    return domain


def account_create(*, name: str, domain: Domain) -> Account:
    account = Account(name=name, domain=domain)
    account.full_clean()
    account.save()
    return account


@transaction.atomic
def user_create(
    *, username: str, account: Account, role: str = Role.USER, password: str | None
) -> User:
    user = get_user_model().objects.create_user(username=username, password=password)
    if role == Role.ROOT_ADMIN:
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    Membership.objects.create(user=user, account=account, role=role)
    return user


def webhook_check_scope(*, actor: Actor, scope: str, account: Account, domain: Domain) -> None:
    """CloudStack's rule for having a webhook (creating, changing or deleting
    one): users local only, for their own account; domain admins local or
    domain within their subtree; only root admins global. ScopeError if broken.

    Which accounts and domains an actor may name at all is what they see
    (Actor.accounts(), Actor.domains()): the API and the console offer no other.
    """
    if actor.is_root:
        return
    if scope == Scope.GLOBAL:
        raise ScopeError("Only root admins may have global webhooks.")
    if actor.role == Role.USER:
        if scope != Scope.LOCAL:
            raise ScopeError("Users may only have local webhooks.")
        if domain.pk != account.domain_id:
            raise ScopeError("A user's webhook lives in their account's domain.")


@transaction.atomic
def webhook_create(
    *,
    actor: Actor | None = None,
    name: str,
    payload_url: str,
    account: Account | None = None,
    scope: str = Scope.LOCAL,
    domain: Domain | None = None,
    description: str = "",
    secret: str | None = None,
    ssl_verification: bool = True,
    enabled: bool = True,
    event_types: list[str] | None = None,
    event_filters: list[dict] | None = None,
    header_style: str = HeaderStyle.STANDARD,
    payload_format: str = PayloadFormat.STANDARD,
    auth_username: str = "",
    auth_password: str = "",
    timeout: float | None = None,
    max_attempts: int | None = None,
    max_in_flight: int | None = None,
    headers: dict[str, str] | None = None,
    call_methods: list[str] | None = None,
    call_phase: str = CallPhase.BOTH,
    ack_field: str = "",
    ack_value: Any = None,
    ack_session_field: str = "",
    repeat_every: int | None = None,
    repeat_max: int | None = None,
) -> Webhook:
    """Create a webhook. Its account is the actor's own when none is given, its
    domain the account's. A secret is generated when none is given (None); an
    empty string means requests go unsigned."""
    if account is None:
        account = actor.own_account if actor is not None else None
        if account is None:
            raise ValidationError({"account": ["This field is required."]})
    domain = domain or account.domain
    if actor is not None:
        webhook_check_scope(actor=actor, scope=scope, account=account, domain=domain)
    if secret is None:
        secret = generate_secret()
    elif secret:
        try:
            check_secret(secret)
        except ValidationError as exc:
            raise ValidationError({"secret": exc.messages}) from None
    webhook = Webhook(
        name=name,
        description=description,
        scope=scope,
        account=account,
        domain=domain,
        payload_url=payload_url,
        secret=secret,
        ssl_verification=ssl_verification,
        enabled=enabled,
        event_types=event_types or [],
        event_filters=event_filters or [],
        header_style=header_style,
        payload_format=payload_format,
        auth_username=auth_username,
        auth_password=auth_password,
        timeout=timeout,
        max_attempts=max_attempts,
        max_in_flight=max_in_flight,
        headers=headers or {},
        call_methods=call_methods or [],
        call_phase=call_phase,
        ack_field=ack_field,
        ack_value=ack_value,
        ack_session_field=ack_session_field,
        repeat_every=repeat_every,
        repeat_max=repeat_max,
    )
    webhook.full_clean()  # vets payload_url too (Webhook.clean)
    webhook.save()
    return webhook


UPDATABLE_WEBHOOK_FIELDS = frozenset(
    {
        "name", "description", "scope", "account", "domain", "payload_url", "ssl_verification",
        "secret", "enabled", "event_types", "event_filters", "headers", "header_style",
        "payload_format", "auth_username", "auth_password", "timeout", "max_attempts",
        "max_in_flight", "call_methods", "call_phase", "ack_field", "ack_value",
        "ack_session_field", "repeat_every", "repeat_max",
    }
)  # fmt: skip
_ROTATION_FIELDS = ["previous_secret", "previous_secret_expires_at"]


@transaction.atomic
def webhook_update(*, actor: Actor | None = None, webhook: Webhook, **changes: Any) -> Webhook:
    """Apply changes to a webhook; they take effect for the very next event.

    A new account without a domain moves the webhook to the account's domain.
    Only the columns changed are written: a secret rotation that lands while
    an operator edits the webhook is not undone by the edit."""
    unknown = set(changes) - UPDATABLE_WEBHOOK_FIELDS
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    if "account" in changes and changes.get("domain") is None:
        changes["domain"] = changes["account"].domain
    if actor is not None:
        webhook_check_scope(
            actor=actor,
            scope=changes.get("scope", webhook.scope),
            account=changes.get("account", webhook.account),
            domain=changes.get("domain", webhook.domain),
        )
    if changes.get("secret"):
        check_secret(changes["secret"])
    if webhook.enabled and changes.get("enabled") is False:
        changes.update(_operator_disabled(now=timezone.now()))
    for name, value in changes.items():
        setattr(webhook, name, value)
    written = [*changes, "updated_at"]
    if "secret" in changes:
        # Setting the secret by hand ends any rotation overlap: if the old
        # secret leaked, it must stop signing now.
        webhook.previous_secret, webhook.previous_secret_expires_at = "", None
        written += _ROTATION_FIELDS
    webhook.full_clean()
    # Only what changed: the health fields are the workers' to write
    # (deliveries/pipeline/health.py), and this copy of them may be stale.
    webhook.save(update_fields=written)
    return webhook


OPERATOR_DISABLED = "disabled by an operator"


def _operator_disabled(*, now: dt.datetime) -> dict:
    # Why and since when, as a worker's disable records them (410 Gone, failing
    # too long): otherwise the state shown would keep the previous reason.
    return {"state_reason": OPERATOR_DISABLED, "state_changed_at": now}


def webhooks_set_enabled(*, actor: Actor, webhooks: QuerySet[Webhook], enabled: bool) -> int:
    """Enable or disable those of these webhooks the actor may manage (a domain
    admin sees a global webhook but only a root admin acts on it). Returns how
    many were set; the others are left alone. Disabling writes what
    webhook_update(enabled=False) does; enabling does not release held
    deliveries (deliveries.pipeline.health.webhook_resume does)."""
    manageable = webhooks.filter(actor.manageable_webhooks()).values("pk")
    chosen = Webhook.objects.filter(pk__in=manageable)
    now = timezone.now()
    if enabled:
        count = chosen.update(enabled=True, updated_at=now)
    else:
        count = chosen.count()
        chosen.filter(enabled=True).update(
            enabled=False, updated_at=now, **_operator_disabled(now=now)
        )
    call_listeners.webhooks_changed()  # update() sends no post_save
    return count


@transaction.atomic
def webhook_delete(*, actor: Actor | None = None, webhook: Webhook) -> None:
    """Delete a webhook with its deliveries. Deleting is changing: a role that
    may not have this webhook may not delete it either (a root admin's global
    webhook homed in a tenant's account)."""
    if actor is not None:
        webhook_check_scope(
            actor=actor, scope=webhook.scope, account=webhook.account, domain=webhook.domain
        )
    webhook.delete()


@transaction.atomic
def webhook_rotate_secret(
    *, webhook: Webhook, secret: str | None = None, overlap_seconds: float | None = None
) -> Webhook:
    """Give a webhook a new secret; the old one keeps signing too for a while.

    During the overlap, Standard-style requests carry both signatures, so a
    receiver can switch to the new secret whenever it is ready.
    """
    if secret:
        check_secret(secret)
    # Locked: two rotations at once must not lose a secret already shown.
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    overlap = (
        settings.WEBHOOK_SECRET_ROTATION_OVERLAP if overlap_seconds is None else overlap_seconds
    )
    old = webhook.secret
    webhook.secret = secret or generate_secret()
    if old and overlap > 0:
        webhook.previous_secret = old
        webhook.previous_secret_expires_at = timezone.now() + dt.timedelta(seconds=overlap)
    else:
        webhook.previous_secret, webhook.previous_secret_expires_at = "", None
    webhook.save(
        update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
    )
    return webhook


def token_issue(*, user: User, expiry_hours: float | None = None) -> tuple[AuthToken, str]:
    """A new API token for `user`: (token record, key). Only a hash is stored;
    the key is shown once."""
    expiry = dt.timedelta(hours=expiry_hours) if expiry_hours else None
    if expiry is None and settings.API_TOKEN_TTL_HOURS:
        expiry = dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS)
    return AuthToken.objects.create(user=user, expiry=expiry)


def tokens_purge(*, now: dt.datetime | None = None) -> int:
    """Delete expired API tokens; returns how many. Run by the hourly purge.

    An expired token is refused when used whatever this does; knox deleted a
    user's expired tokens on each of that user's requests, a query per API
    call, which hooks.authentication leaves to this."""
    deleted, _ = AuthToken.objects.filter(expiry__lt=now or timezone.now()).delete()
    return deleted
