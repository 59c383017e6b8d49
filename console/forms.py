"""The webhook form: what an operator edits, vetted like the API's input (the
model's validation, and the scope rule of hooks.services)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from hooks.destinations import DestinationError, check_payload_url
from hooks.errors import ScopeError
from hooks.event_filters import FilterMatch, FilterMode, filter_rule, validate_event_filters
from hooks.models import Account, Role, Webhook
from hooks.permissions import Actor
from hooks.services import check_secret, webhook_check_scope

PASSWORD_HELP = "HTTP basic auth password. Never shown back."


def default_account(actor: Actor | None) -> Account | None:
    """The account a new webhook is for unless the operator picks another:
    theirs, as the API defaults it. A root admin with no membership (a
    `createsuperuser` login) acts for the root domain's admin account, as
    CloudStack's root admin does: the top-level domain's account named
    "admin", else one whose member is a root admin; none if neither exists."""
    if actor is None:
        return None
    if actor.account is not None:
        return actor.account
    if not actor.is_root:
        return None
    top = Account.objects.filter(domain__parent__isnull=True).order_by("created_at")
    return (
        top.filter(name="admin").first()
        or top.filter(members__role=Role.ROOT_ADMIN).distinct().first()
    )


class PatternsField(forms.CharField):
    """Event type patterns as text, one per line (or separated by commas)."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(value)
        return value

    # The cleaned value is the list of patterns, not CharField's str.
    def to_python(self, value) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


class FilterRulesField(forms.CharField):
    """Include/exclude rules as text, one per line: "<mode> <match> <value>",
    e.g. "exclude suffix .DELETE" (hooks.event_filters)."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(f"{r['mode']} {r['match']} {r['value']}" for r in value)
        return value

    # The cleaned value is the list of rules (without ids: the form adds them).
    def to_python(self, value) -> list[dict]:  # type: ignore[override]
        text = super().to_python(value) or ""
        rules = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 3:
                raise ValidationError(
                    f"Line {number}: write “mode match value”, e.g. “exclude suffix .DELETE”."
                )
            mode, match, rule_value = parts
            if mode not in FilterMode.values or match not in FilterMatch.values:
                raise ValidationError(
                    f"Line {number}: mode is {' or '.join(FilterMode.values)}; "
                    f"match is {', '.join(FilterMatch.values)}."
                )
            rules.append({"mode": mode, "match": match, "value": rule_value})
        return rules


class WebhookForm(forms.ModelForm):
    actor = None  # set per request by WebhookAdmin.get_form (an Actor)

    event_types = PatternsField(
        required=False,
        help_text="Event types, one per line: exact names or with '*' (VM.*). "
        "Empty: every event type.",
    )
    call_methods = PatternsField(
        label="Call hook methods",
        required=False,
        help_text="API methods whose calls this webhook is told about (call.pre / call.post "
        "events), one per line: exact names or with '*' (webhook.*, event.publish). Empty: "
        "none. With methods here and no event types, it gets no other events.",
    )
    event_filters = FilterRulesField(
        label="Filter rules",
        required=False,
        help_text="One per line: include|exclude exact|prefix|suffix|contains VALUE, e.g. "
        "“exclude suffix .DELETE”. Exclude wins; with any include rule or event type above, "
        "one must match.",
    )
    new_auth_password = forms.CharField(
        label="Listener password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=f"{PASSWORD_HELP} Leave empty to keep the current one.",
    )
    clear_auth_password = forms.BooleanField(label="Remove the listener password", required=False)

    class Meta:
        model = Webhook
        fields = [
            "name",
            "description",
            "enabled",
            "scope",
            "account",
            "domain",
            "payload_url",
            "event_types",
            "event_filters",
            "ssl_verification",
            "header_style",
            "payload_format",
            "headers",
            "auth_username",
            "timeout",
            "max_attempts",
            "max_in_flight",
            "call_methods",
            "call_phase",
            "ack_field",
            "ack_value",
            "ack_session_field",
            "repeat_every",
            "repeat_max",
        ]

    # What a save writes (through hooks.services): the fields above and the
    # password, never the secret columns.
    WRITTEN = [*Meta.fields, "auth_password"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "domain" not in self.fields:
            return  # a view-only form: every field is read-only
        self.fields["ssl_verification"].label = "Verify TLS certificate"
        self.fields["domain"].required = False
        self.fields["domain"].help_text = (
            "Owner domain; for domain scope, the subtree whose events are sent. "
            "Empty: the account's domain."
        )
        # A new webhook has its pk already (a uuid7 default): ask the state.
        adding = self.instance._state.adding
        if adding:
            self.fields["new_auth_password"].help_text = f"{PASSWORD_HELP} Empty: none."
            self.fields["account"].initial = default_account(self.actor)
        if adding or not self.instance.auth_password:
            del self.fields["clear_auth_password"]

    def clean(self):
        data = super().clean()
        assert data is not None  # ModelForm.clean returns cleaned_data
        account, domain = data.get("account"), data.get("domain")
        if account is not None and domain is None:
            data["domain"] = domain = account.domain
        if account is not None and self.actor is not None:
            # The services check again when writing; here, to say it on the form.
            try:
                webhook_check_scope(
                    actor=self.actor, scope=data.get("scope"), account=account, domain=domain
                )
            except ScopeError as exc:
                raise ValidationError({"scope": str(exc)}) from None
        if data.get("new_auth_password"):
            self.instance.auth_password = data["new_auth_password"]
        elif data.get("clear_auth_password"):
            self.instance.auth_password = ""
        return data

    def clean_event_filters(self) -> list[dict]:
        # A rule kept as it was keeps its id (the API names rules by id).
        known = {
            (r["mode"], r["match"], r["value"]): r["id"] for r in self.instance.event_filters or []
        }
        rules = [
            filter_rule(**r, id=known.get((r["mode"], r["match"], r["value"])))
            for r in self.cleaned_data.get("event_filters") or []
        ]
        validate_event_filters(rules)
        return rules

    def clean_max_in_flight(self) -> int | None:
        # The API's rule, in its words (hooks.serializers): 1 to 1000, or
        # empty for WEBHOOK_MAX_IN_FLIGHT.
        value = self.cleaned_data.get("max_in_flight")
        if value is not None and not 1 <= value <= 1000:
            raise ValidationError("Must be between 1 and 1000.")
        return value

    def written(self) -> dict:
        """The values a save writes, as the services take them."""
        return {name: getattr(self.instance, name) for name in self.WRITTEN}


class TestOverridesForm(forms.Form):
    """A test delivery's overrides, for this send only (CloudStack's
    executeWebhookDelivery): empty fields keep the webhook's own."""

    payload_url = forms.CharField(required=False, max_length=2048, strip=False)
    secret = forms.CharField(required=False, max_length=256, strip=False)
    unsigned = forms.BooleanField(required=False)
    ssl_verification = forms.ChoiceField(
        required=False, choices=[("", "as the webhook"), ("on", "verify"), ("off", "do not verify")]
    )

    def clean_payload_url(self) -> str | None:
        url = self.cleaned_data.get("payload_url") or None
        if url is not None:
            try:
                check_payload_url(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_IPS)
            except DestinationError as exc:
                raise ValidationError(str(exc)) from None
        return url

    def clean_secret(self) -> str | None:
        secret = self.cleaned_data.get("secret") or None
        if secret is not None:
            check_secret(secret)
        return secret

    def overrides(self) -> dict:
        """The keyword arguments of webhook_test_send."""
        data = self.cleaned_data
        secret = "" if data.get("unsigned") else data.get("secret")
        verify = {"on": True, "off": False}.get(data.get("ssl_verification") or "")
        return {
            "payload_url": data.get("payload_url"),
            "secret": secret,
            "ssl_verification": verify,
        }
