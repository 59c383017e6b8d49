"""The webhooks tenants register (the tenants themselves: hooks/tenancy.py,
re-exported here).

A webhook's scope decides which events it sees: its account's (local), its
domain subtree's (domain), or all (global), as in Apache CloudStack.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.ids import uuid7
from hooks.callmatch import CallPhase, validate_call_methods
from hooks.destinations import DestinationError, check_payload_url
from hooks.event_filters import filters_allow
from hooks.event_filters import validate_event_filters as validate_event_filters
from hooks.health import HEALTH_ORDER, Circuit, Health, health_q

# The migrations name the validators as hooks.models.*: re-exported.
from hooks.patterns import validate_custom_headers as validate_custom_headers
from hooks.patterns import validate_event_patterns as validate_event_patterns
from hooks.receiver_rules import ReceiverRules
from hooks.tenancy import Account as Account
from hooks.tenancy import Domain as Domain
from hooks.tenancy import Membership as Membership
from hooks.tenancy import Role as Role


class Scope(models.TextChoices):
    LOCAL = "local", "Local (the owner account's events)"
    DOMAIN = "domain", "Domain (events of the domain and its subdomains)"
    GLOBAL = "global", "Global (every event)"


class HeaderStyle(models.TextChoices):
    STANDARD = "standard", "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)"
    CLOUDSTACK = "cloudstack", "CloudStack (X-CS-Event-ID, X-CS-Event, X-CS-Signature)"


class PayloadFormat(models.TextChoices):
    """The body's shape (deliveries/formats.py builds each). Independent of the
    header style: the signature headers sign whatever bytes are sent."""

    STANDARD = "standard", "Ours (the event envelope)"
    CLOUDSTACK = "cloudstack", "CloudStack (event description)"
    NUTANIX = "nutanix", "Nutanix v3 notification"
    MYCLOUDIT = "mycloudit", "MyCloudIT notification"
    XO = "xo", "Xen Orchestra web hook"
    TENCENT = "tencent", "Tencent Cloud alarm callback"


class WebhookQuerySet(models.QuerySet):
    def enabled(self) -> WebhookQuerySet:
        return self.filter(enabled=True)

    def in_health(self, *states: str) -> WebhookQuerySet:
        """Webhooks in any of these Health states."""
        wanted = Q(pk__in=[])
        for state in states:
            wanted |= health_q(state)
        return self.filter(wanted)

    def with_health_rank(self) -> WebhookQuerySet:
        """Annotate `health_rank`: the index of the state in HEALTH_ORDER."""
        return self.annotate(
            health_rank=models.Case(
                *(models.When(health_q(s), then=rank) for rank, s in enumerate(HEALTH_ORDER)),
                output_field=models.PositiveSmallIntegerField(),
            )
        )


class Webhook(ReceiverRules, models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.LOCAL)
    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="webhooks",
        help_text="Owner account. For local scope, the account whose events are sent.",
    )
    domain = models.ForeignKey(
        Domain,
        on_delete=models.CASCADE,
        related_name="webhooks",
        help_text="Owner domain. For domain scope, the subtree whose events are sent.",
    )
    # A CharField, not URLField: Django's URL validator wants a dotted domain,
    # which refuses internal names such as http://receiver:8080/ that
    # operators use; hooks.destinations.check_payload_url does the vetting.
    payload_url = models.CharField(max_length=2048, help_text="Where events are POSTed.")
    ssl_verification = models.BooleanField(
        default=True, help_text="Verify the receiver's TLS certificate for https URLs."
    )
    secret = models.CharField(
        max_length=256,
        blank=True,
        help_text="Signing secret (whsec_ + base64). Empty: requests are not signed.",
    )
    # Set by rotate-secret: the old secret goes on signing, beside the new one,
    # until this time, so receivers can switch without dropping requests.
    previous_secret = models.CharField(max_length=256, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    headers = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_custom_headers],
        help_text="Extra headers sent with every request (not the signature or Host headers).",
    )
    event_types = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_event_patterns],
        help_text="Event type patterns, exact or with '*' (VM.*). Empty: every event type.",
    )
    event_filters = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_event_filters],
        help_text="Include and exclude rules (hooks.event_filters): exclude wins; with any "
        "include rule or pattern, one must match.",
    )
    header_style = models.CharField(
        max_length=16, choices=HeaderStyle.choices, default=HeaderStyle.STANDARD
    )
    payload_format = models.CharField(
        max_length=16,
        choices=PayloadFormat.choices,
        default=PayloadFormat.STANDARD,
        help_text="The body's shape: ours, or a source system's, for receivers written for it.",
    )
    auth_username = models.CharField(
        max_length=255, blank=True, help_text="Listener credentials: HTTP basic auth user."
    )
    auth_password = models.CharField(
        max_length=255, blank=True, help_text="Listener credentials: never shown back."
    )
    # Call hooks (hooks/callmatch.py): the calls of which API methods this
    # webhook is told about, before and/or after, as a Xen Orchestra hook.
    call_methods = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_call_methods],
        help_text="Call hooks: API method patterns, exact or with '*' (vm.*, webhook.*). "
        "Empty: no call events. With call methods and no event types, no ordinary events.",
    )
    call_phase = models.CharField(
        max_length=4,
        choices=CallPhase.choices,
        default=CallPhase.BOTH,
        help_text="Call hooks: the call.pre event, the call.post event, or both.",
    )
    timeout = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.5), MaxValueValidator(600)],
        help_text="Seconds for a whole attempt; empty: the domain's, else WEBHOOK_TIMEOUT.",
    )
    max_attempts = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Attempts in all before giving up; empty: the domain's, else "
        "WEBHOOK_MAX_ATTEMPTS.",
    )
    max_in_flight = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Deliveries sent to this endpoint at once, across all workers; "
        "empty: WEBHOOK_MAX_IN_FLIGHT.",
    )
    # Endpoint health, written by the workers from attempt results
    # (deliveries/pipeline/health.py), read by the claim: what is written here
    # decides whether and how fast this endpoint is sent to.
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="First failure since the last success."
    )
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    circuit = models.CharField(
        max_length=8, choices=Circuit.choices, default=Circuit.CLOSED, editable=False
    )
    # Open circuit: no attempt before this time; then one probe (half-open).
    circuit_retry_at = models.DateTimeField(null=True, blank=True, editable=False)
    circuit_cooldown = models.FloatField(default=0, editable=False)
    # Retry-After from a 429 or 503: nothing is sent before this time, and the
    # endpoint's concurrency is halved (throttle_limit), then grows back.
    throttled_until = models.DateTimeField(null=True, blank=True, editable=False)
    throttle_limit = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    state_reason = models.CharField(max_length=500, blank=True, editable=False)
    state_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        indexes = [
            # The matching query: enabled webhooks by scope and owner.
            models.Index(fields=["enabled", "scope", "account"], name="webhook_match_account"),
            models.Index(fields=["enabled", "scope", "domain"], name="webhook_match_domain"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Here, so the admin's forms vet the URL exactly as the API does.
        try:
            check_payload_url(self.payload_url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_IPS)
        except DestinationError as exc:
            raise ValidationError({"payload_url": str(exc)}) from None
        self.check_receiver_rules()

    def wants(self, event_type: str) -> bool:
        """Whether this webhook's event type patterns and filter rules let
        `event_type` through (hooks.event_filters.filters_allow)."""
        return filters_allow(self.event_types, self.event_filters, event_type)

    def signing_secrets(self, *, now: dt.datetime) -> list[str]:
        """The secrets requests are signed with now: the current one, and the
        previous one while its rotation window lasts."""
        secrets = [self.secret] if self.secret else []
        if (
            self.previous_secret
            and self.previous_secret_expires_at
            and (now < self.previous_secret_expires_at)
        ):
            secrets.append(self.previous_secret)
        return secrets

    # The webhook's own value, else its domain's (set there or inherited from
    # above: Domain.inherited_*), else the platform's. The workers load the
    # domain row with the webhook (deliveries/pipeline/claim.py), so this
    # costs no query there; hooks.domain_settings says where a value came from.
    def _domain_value(self, name: str) -> Any:
        if self.domain_id is None:
            return None
        return getattr(self.domain, f"inherited_{name}")

    @property
    def effective_timeout(self) -> float:
        timeout = self.timeout
        if timeout is None:
            timeout = self._domain_value("timeout")
        if timeout is None:
            timeout = settings.WEBHOOK_TIMEOUT
        return min(timeout, settings.WEBHOOK_TIMEOUT_MAX)

    @property
    def effective_max_attempts(self) -> int:
        return (
            self.max_attempts or self._domain_value("max_attempts") or settings.WEBHOOK_MAX_ATTEMPTS
        )

    @property
    def effective_max_in_flight(self) -> int:
        return self.max_in_flight or settings.WEBHOOK_MAX_IN_FLIGHT

    @property
    def sending_limit(self) -> int:
        """Deliveries the claim lets be in flight to this endpoint at once:
        none while disabled, one (the probe) while the circuit is open, fewer
        than its limit while a Retry-After slowed it down. (LIMIT_SQL in
        deliveries/pipeline/claim.py is the same rule.)"""
        if not self.enabled:
            return 0
        if self.circuit == Circuit.OPEN:
            return 1
        return self.throttle_limit or self.effective_max_in_flight

    def is_held(self, *, now: dt.datetime) -> bool:
        """Whether its deliveries wait instead of being sent (CLAIMABLE_SQL in
        deliveries/pipeline/claim.py, negated): disabled, circuit open, or
        told by a Retry-After to wait."""
        return (
            not self.enabled
            or self.circuit == Circuit.OPEN
            or (self.throttled_until is not None and self.throttled_until > now)
        )

    @property
    def health(self) -> str:
        """What an operator sees (health_q is the same rule in SQL)."""
        if not self.enabled:
            return Health.DISABLED
        if self.circuit == Circuit.OPEN:
            return Health.CIRCUIT_OPEN
        if self.consecutive_failures or self.throttle_limit:
            return Health.DEGRADED
        return Health.HEALTHY
