"""Writes about tenants and webhooks: keyword-only, typed, one transaction each."""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from core.signing import SECRET_PREFIX
from hooks.models import Account, Domain, HeaderStyle, Membership, Role, Scope, Webhook

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


def domain_create(*, name: str, parent: Domain | None) -> Domain:
    domain = Domain(name=name, parent=parent)
    domain.full_clean(exclude=["path"])
    domain.save()
    return domain


def root_domain() -> Domain:
    """The ROOT domain every tree hangs from, created on first use."""
    domain = Domain.objects.filter(parent__isnull=True, name="ROOT").first()
    return domain or domain_create(name="ROOT", parent=None)


def account_create(*, name: str, domain: Domain) -> Account:
    account = Account(name=name, domain=domain)
    account.full_clean()
    account.save()
    return account


@transaction.atomic
def user_create(*, username: str, account: Account, role: str = Role.USER, password: str | None):
    user = get_user_model().objects.create_user(username=username, password=password)
    if role == Role.ROOT_ADMIN:
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    Membership.objects.create(user=user, account=account, role=role)
    return user


@transaction.atomic
def webhook_create(
    *,
    name: str,
    payload_url: str,
    account: Account,
    scope: str = Scope.LOCAL,
    domain: Domain | None = None,
    description: str = "",
    secret: str | None = None,
    ssl_verification: bool = True,
    enabled: bool = True,
    event_types: list[str] | None = None,
    header_style: str = HeaderStyle.STANDARD,
    auth_username: str = "",
    auth_password: str = "",
    timeout: float | None = None,
    max_attempts: int | None = None,
    max_in_flight: int | None = None,
    headers: dict[str, str] | None = None,
) -> Webhook:
    """Create a webhook. A secret is generated when none is given (None);
    an empty string means requests go unsigned."""
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
        domain=domain or account.domain,
        payload_url=payload_url,
        secret=secret,
        ssl_verification=ssl_verification,
        enabled=enabled,
        event_types=event_types or [],
        header_style=header_style,
        auth_username=auth_username,
        auth_password=auth_password,
        timeout=timeout,
        max_attempts=max_attempts,
        max_in_flight=max_in_flight,
        headers=headers or {},
    )
    webhook.full_clean()  # vets payload_url too (Webhook.clean)
    webhook.save()
    return webhook


UPDATABLE_WEBHOOK_FIELDS = frozenset(
    {
        "name", "description", "scope", "account", "domain", "payload_url", "ssl_verification",
        "secret", "enabled", "event_types", "headers", "header_style", "auth_username",
        "auth_password", "timeout", "max_attempts", "max_in_flight",
    }
)  # fmt: skip


@transaction.atomic
def webhook_update(*, webhook: Webhook, **changes) -> Webhook:
    """Apply changes to a webhook; they take effect for the very next event."""
    unknown = set(changes) - UPDATABLE_WEBHOOK_FIELDS
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    if changes.get("secret"):
        check_secret(changes["secret"])
    for name, value in changes.items():
        setattr(webhook, name, value)
    fields = [*changes, "updated_at"]
    if "secret" in changes:
        # Setting the secret by hand ends any rotation overlap: if the old
        # secret leaked, it must stop signing now.
        webhook.previous_secret, webhook.previous_secret_expires_at = "", None
        fields += ["previous_secret", "previous_secret_expires_at"]
    webhook.full_clean()
    # Only what changed: the health fields are the workers' to write
    # (deliveries/pipeline/health.py), and this copy of them may be stale.
    webhook.save(update_fields=fields)
    return webhook


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


def token_issue(*, user, expiry_hours: float | None = None):
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
