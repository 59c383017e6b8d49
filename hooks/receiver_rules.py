"""What a webhook asks of its receiver beyond a 2xx (an acknowledgement in
the body, hooks/acks.py) and how it wants alarms repeated
(deliveries/alarms.py): fields of Webhook, kept here so hooks/models.py
stays about tenants and endpoints."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from hooks.acks import SESSION_HEADER, AckRule, ack_rule_errors, validate_ack_path

# A week: an alarm repeated less often than that is not being repeated.
REPEAT_EVERY_MAX = 7 * 86400


class ReceiverRules(models.Model):
    # Acknowledgement in the body: with both fields empty, any 2xx is
    # delivered; otherwise the answer must be JSON that satisfies them.
    ack_field = models.CharField(
        "acknowledgement field",
        max_length=200,
        blank=True,
        validators=[validate_ack_path],
        help_text="A field of the JSON answer (dotted path, e.g. retCode) that must equal "
        "the acknowledgement value for a 2xx to count as delivered. Empty: any 2xx.",
    )
    ack_value = models.JSONField(
        "acknowledgement value",
        null=True,
        blank=True,
        help_text="The JSON value the acknowledgement field must have (Tencent Cloud: 0).",
    )
    ack_session_field = models.CharField(
        "session id echo field",
        max_length=200,
        blank=True,
        validators=[validate_ack_path],
        help_text=f"A field of the JSON answer that must echo the session id sent in the "
        f"{SESSION_HEADER} header (Tencent Cloud: sessionId). Empty: not checked.",
    )
    # Alarm repeats: the latest firing event of an incident is delivered
    # again every repeat_every seconds until an event resolves it.
    repeat_every = models.PositiveIntegerField(
        "repeat alarms every",
        null=True,
        blank=True,
        help_text="Seconds: a firing alarm event is delivered again this often until an "
        "event resolving its incident is published (Tencent Cloud's alarmNotifyPeriod). "
        "Empty: no repeats.",
    )
    repeat_max = models.PositiveSmallIntegerField(
        "repeats at most",
        null=True,
        blank=True,
        help_text="Repeats of one alarm event at most; empty: WEBHOOK_REPEAT_COUNT.",
    )

    class Meta:
        abstract = True

    def receiver_rules_errors(self) -> dict[str, str]:
        """What is wrong with these fields taken together (Webhook.clean)."""
        errors = ack_rule_errors(
            field=self.ack_field, value=self.ack_value, session_field=self.ack_session_field
        )
        low, high = settings.WEBHOOK_REPEAT_MIN_INTERVAL, REPEAT_EVERY_MAX
        if self.repeat_every is not None and not low <= self.repeat_every <= high:
            errors["repeat_every"] = f"Must be between {low:g} and {high} seconds."
        top = settings.WEBHOOK_REPEAT_COUNT_MAX
        if self.repeat_max is not None and not 1 <= self.repeat_max <= top:
            errors["repeat_max"] = f"Must be between 1 and {top}."
        return errors

    def check_receiver_rules(self) -> None:
        errors = self.receiver_rules_errors()
        if errors:
            raise ValidationError(errors)

    @property
    def ack_rule(self) -> AckRule | None:
        """What the receiver must answer besides a 2xx; None: a 2xx is enough."""
        if not (self.ack_field or self.ack_session_field):
            return None
        return AckRule(self.ack_field, self.ack_value, self.ack_session_field)

    @property
    def effective_repeat_max(self) -> int:
        return self.repeat_max or settings.WEBHOOK_REPEAT_COUNT
