"""Tenants, as Apache CloudStack has them: domains form a tree, accounts live
in one domain, users belong to one account (with a role). hooks.models
re-exports them; the webhooks they register are there."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from core.ids import uuid7


class Domain(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=255, help_text="Name, unique among its siblings.")
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="Parent domain; empty for the root domain.",
    )
    # Materialised path of ancestor ids, root first, e.g. "/<root>/<child>/".
    # Lets "this domain and its subdomains" be one indexed prefix query, and
    # "this domain's ancestors" be read without a query.
    path = models.CharField(max_length=2048, editable=False, db_index=True)
    # CloudStack's domain-level configuration (webhook.delivery.timeout,
    # webhook.delivery.retries): for the webhooks of this domain and of its
    # subdomains, unless a subdomain or the webhook sets its own.
    delivery_timeout = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.5), MaxValueValidator(600)],
        help_text="Seconds for a whole attempt, for webhooks here and below; "
        "empty: the parent domain's, else WEBHOOK_TIMEOUT.",
    )
    delivery_max_attempts = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Attempts in all, for webhooks here and below; "
        "empty: the parent domain's, else WEBHOOK_MAX_ATTEMPTS.",
    )
    # The nearest setting at or above this domain, and the domain it is set
    # on (null: none is, the platform default applies). Denormalised so a
    # worker reads a webhook's effective values from the webhook's own
    # domain row, joined in the claim's webhook lookup: no query for the
    # ancestors, ever. Written by hooks.domain_settings when a domain's
    # setting changes (for its whole subtree), and here on creation.
    inherited_timeout = models.FloatField(null=True, blank=True, editable=False)
    inherited_timeout_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    inherited_max_attempts = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    inherited_max_attempts_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="domain_unique_name_in_parent"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.path:
            prefix = self.parent.path if self.parent is not None else "/"
            self.path = f"{prefix}{self.id.hex}/"
            self.inherit_delivery_settings(self.parent)
        super().save(*args, **kwargs)

    def inherit_delivery_settings(self, parent: Domain | None) -> None:
        """Set the inherited_* fields from its own settings, else its parent's
        inherited ones (a new domain has no subdomains to pass them on to)."""
        for name in ("timeout", "max_attempts"):
            own = getattr(self, f"delivery_{name}")
            if own is not None:
                value, source = own, self.id
            elif parent is not None:
                value = getattr(parent, f"inherited_{name}")
                source = getattr(parent, f"inherited_{name}_from_id")
            else:
                value = source = None
            setattr(self, f"inherited_{name}", value)
            setattr(self, f"inherited_{name}_from_id", source)

    @property
    def ancestor_ids(self) -> list[uuid.UUID]:
        """This domain and every domain above it."""
        return [uuid.UUID(part) for part in self.path.strip("/").split("/") if part]


class Account(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=255)
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="accounts")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "name"], name="account_unique_name_in_domain"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.domain})"


class Role(models.TextChoices):
    ROOT_ADMIN = "root_admin", "Root admin"
    DOMAIN_ADMIN = "domain_admin", "Domain admin"
    USER = "user", "User"


class Membership(models.Model):
    """Which account a login belongs to, and with which role."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="members")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)

    def __str__(self) -> str:
        return f"{self.user} in {self.account} as {self.get_role_display()}"
