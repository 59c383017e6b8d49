"""The webhook form's acknowledgement rule and alarm repeats (console.forms,
console.webhooks): set from the form, vetted as the API vets them."""

import pytest
from django.urls import reverse

from hooks.models import Webhook
from tests.console.kit import change_url, form_data, text

TENCENT = {
    "ack_field": "retCode",
    "ack_value": "0",
    "ack_session_field": "sessionId",
    "repeat_every": "300",
    "repeat_max": "3",
}


def test_a_tencent_style_webhook_is_set_from_the_form(root, tenants):
    response = root.post(reverse("admin:hooks_webhook_add"), form_data(tenants, **TENCENT))
    assert response.status_code == 302, response.context["adminform"].form.errors
    webhook = Webhook.objects.get(name="new-hook")
    assert (webhook.ack_field, webhook.ack_value, webhook.ack_session_field) == (
        "retCode",
        0,
        "sessionId",
    )
    assert (webhook.repeat_every, webhook.repeat_max) == (300, 3)
    page = text(root.get(change_url(webhook)))
    assert "Acknowledgement and alarm repeats" in page and "X-Webhook-Session-Id" in page


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"ack_field": "retCode"}, "ack_value", "Give the value"),
        ({"ack_value": "0"}, "ack_value", "Set ack_field too"),
        ({"ack_field": "ret code", "ack_value": "0"}, "ack_field", "not a field path"),
        ({"ack_field": "retCode", "ack_value": "{nope"}, "ack_value", "valid JSON"),
        ({"repeat_every": "5"}, "repeat_every", "between 60"),
        ({"repeat_every": "60", "repeat_max": "1000"}, "repeat_max", "between 1 and 100"),
    ],
)
def test_a_bad_rule_says_what_is_wrong_and_saves_nothing(root, tenants, overrides, field, message):
    response = root.post(reverse("admin:hooks_webhook_add"), form_data(tenants, **overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not Webhook.objects.exists()
