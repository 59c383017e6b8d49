"""The webhook API's acknowledgement rule and alarm repeats (hooks/receiver_rules_api.py):
set, shown, changed one field at a time, reset; every bad value a clear 400."""

from __future__ import annotations

import pytest

from hooks.models import Webhook
from tests.api_client import assert_field_error, nothing_written, url_of, webhook_body
from tests.conftest import WEBHOOKS

pytestmark = pytest.mark.django_db

TENCENT = {"ack_field": "retCode", "ack_value": 0, "ack_session_field": "sessionId"}


@pytest.fixture(autouse=True)
def repeat_bounds(settings):
    settings.WEBHOOK_REPEAT_MIN_INTERVAL = 60
    settings.WEBHOOK_REPEAT_COUNT = 10
    settings.WEBHOOK_REPEAT_COUNT_MAX = 100


def test_a_tencent_style_webhook_is_created_shown_and_reset(admin, tenants):
    # Given a webhook created with Tencent Cloud's acknowledgement and repeats
    body = webhook_body(tenants, **TENCENT, repeat_every=300, repeat_max=3)
    created = admin.post(WEBHOOKS, body, format="json")
    assert created.status_code == 201, created.content
    # Then the API shows them and they are stored
    data = created.json()
    assert {k: data[k] for k in [*TENCENT, "repeat_every", "repeat_max"]} == {
        **TENCENT,
        "repeat_every": 300,
        "repeat_max": 3,
    }
    webhook = Webhook.objects.get(id=data["id"])
    assert webhook.ack_rule is not None and webhook.ack_rule.value == 0
    assert webhook.effective_repeat_max == 3

    # When one field is changed alone, the others stay
    changed = admin.patch(url_of(webhook), {"ack_value": "ok"}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["ack_field"], changed.json()["ack_value"]) == ("retCode", "ok")

    # And when the rule is removed, any 2xx is enough again
    reset = admin.patch(
        url_of(webhook),
        {"ack_field": "", "ack_value": None, "ack_session_field": "", "repeat_every": None},
        format="json",
    )
    assert reset.status_code == 200, reset.content
    webhook.refresh_from_db()
    assert webhook.ack_rule is None and webhook.repeat_every is None


def test_a_new_webhook_has_no_rule(admin, tenants):
    data = admin.post(WEBHOOKS, webhook_body(tenants), format="json").json()
    assert [data[k] for k in ["ack_field", "ack_value", "ack_session_field"]] == ["", None, ""]
    assert (data["repeat_every"], data["repeat_max"]) == (None, None)


def test_a_dotted_path_and_an_object_value(admin, tenants):
    body = webhook_body(tenants, ack_field="result.status", ack_value={"code": 0, "ok": True})
    created = admin.post(WEBHOOKS, body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["ack_value"] == {"code": 0, "ok": True}


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"ack_field": "retCode"}, "ack_value", "give the value 'retCode' must have"),
        ({"ack_field": "retCode", "ack_value": None}, "ack_value", "give the value"),
        ({"ack_value": 0}, "ack_value", "set ack_field too"),
        ({"ack_field": "ret code", "ack_value": 0}, "ack_field", "not a field path"),
        ({"ack_field": "a..b", "ack_value": 0}, "ack_field", "not a field path"),
        ({"ack_field": ".retCode", "ack_value": 0}, "ack_field", "not a field path"),
        ({"ack_field": "a.b.c.d.e.f.g.h.i.j.k", "ack_value": 0}, "ack_field", "10 levels"),
        ({"ack_field": "x" * 201, "ack_value": 0}, "ack_field", "no more than 200"),
        ({"ack_field": "ok", "ack_value": "x" * 2000}, "ack_value", "at most 1024 bytes"),
        ({"ack_session_field": "session id"}, "ack_session_field", "not a field path"),
        ({"repeat_every": 10}, "repeat_every", "between 60 and 604800"),
        ({"repeat_every": 10**9}, "repeat_every", "between 60"),
        ({"repeat_every": "soon"}, "repeat_every", "valid integer"),
        ({"repeat_every": 60, "repeat_max": 0}, "repeat_max", "between 1 and 100"),
        ({"repeat_every": 60, "repeat_max": 101}, "repeat_max", "between 1 and 100"),
        ({"repeat_max": -1}, "repeat_max", "between 1 and 100"),
    ],
)
def test_bad_rules_are_refused_with_what_is_wrong(admin, tenants, fields, field, fragment):
    with nothing_written():
        response = admin.post(WEBHOOKS, webhook_body(tenants, **fields), format="json")
    assert_field_error(response, field, fragment)


def test_a_patch_is_checked_with_the_stored_rule(admin, tenants):
    webhook = Webhook.objects.get(
        id=admin.post(WEBHOOKS, webhook_body(tenants, **TENCENT), format="json").json()["id"]
    )
    # Removing the value alone would leave a field without a value
    assert_field_error(
        admin.patch(url_of(webhook), {"ack_value": None}, format="json"), "ack_value", "give"
    )
    # Removing the field alone would leave a value without a field
    assert_field_error(
        admin.patch(url_of(webhook), {"ack_field": ""}, format="json"), "ack_value", "ack_field"
    )
    webhook.refresh_from_db()
    assert webhook.ack_field == "retCode" and webhook.ack_value == 0


def test_the_platform_header_cannot_be_replaced_by_a_custom_one(admin, tenants):
    body = webhook_body(tenants, headers={"X-Webhook-Session-Id": "mine"})
    assert_field_error(admin.post(WEBHOOKS, body, format="json"), "headers", "set by the platform")
