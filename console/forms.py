"""The webhook form: what an operator edits, vetted like the API's input (the
model's validation, and the scope rule of hooks.services)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from hooks.errors import ScopeError
from hooks.models import Webhook
from hooks.services import webhook_check_scope


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


class WebhookForm(forms.ModelForm):
    actor = None  # set per request by WebhookAdmin.get_form

    event_types = PatternsField(
        required=False,
        help_text="Event types, one per line: exact names or with '*' (VM.*). "
        "Empty: every event type.",
    )
    new_auth_password = forms.CharField(
        label="Listener password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="HTTP basic auth password. Never shown back; leave empty to keep the "
        "current one.",
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
            "ssl_verification",
            "header_style",
            "headers",
            "auth_username",
            "timeout",
            "max_attempts",
            "max_in_flight",
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
        if not self.instance.pk or not self.instance.auth_password:
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
