"""Writes about tenants and webhooks: keyword-only, typed, one transaction each."""

from __future__ import annotations

import base64
import re
import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from hooks.models import Account, Domain, HeaderStyle, Membership, Role, Scope, Webhook

SECRET_PREFIX = "whsec_"
_SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9+/]+={0,2}$")


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
    )
    webhook.full_clean()  # vets payload_url too (Webhook.clean)
    webhook.save()
    return webhook
