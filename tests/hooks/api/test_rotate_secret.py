"""POST /api/v1/webhooks/{id}/rotate-secret/: a new secret shown once, and the old
one signing beside it until the overlap ends.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.signing import cloudstack_signature
from hooks.models import HeaderStyle, Webhook
from hooks.services import check_secret, generate_secret
from tests.api_client import (
    rotate,
    url_of,
)
from tests.conftest import (
    WEBHOOKS,
)
from tests.factories import (
    NEW_SECRET,
    TEST_SECRET,
)
from tests.hooks.api.conftest import built_headers, verifies, with_signature

pytestmark = [
    pytest.mark.django_db,
]


def test_rotating_a_secret_shows_the_new_one_once(admin, east_hook):
    # when
    before = timezone.now()
    response = rotate(admin, east_hook)

    # then
    assert response.status_code == 200
    result = response.json()
    new = result["secret"]
    assert new.startswith("whsec_")
    check_secret(new)
    assert new != TEST_SECRET
    expires = parse_datetime(result["previous_secret_expires_at"])
    overlap = dt.timedelta(seconds=django_settings.WEBHOOK_SECRET_ROTATION_OVERLAP)
    assert before + overlap <= expires <= timezone.now() + overlap
    east_hook.refresh_from_db()
    assert (east_hook.secret, east_hook.previous_secret) == (new, TEST_SECRET)
    # and never again
    shown = admin.get(url_of(east_hook)).json()
    listed = admin.get(WEBHOOKS).json()
    assert "secret" not in shown
    assert new not in json.dumps([shown, listed])


def test_during_the_overlap_both_secrets_sign(admin, east_hook):
    # given
    new = rotate(admin, east_hook).json()["secret"]

    # when the next request is built
    body, headers = built_headers(east_hook)

    # then it carries two v1 signatures: one for each secret
    signatures = dict(headers)["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    assert verifies(TEST_SECRET, body, headers)
    assert verifies(new, body, headers)
    assert not verifies(generate_secret(), body, headers)
    by_new = [s for s in signatures if verifies(new, body, with_signature(headers, s))]
    by_old = [s for s in signatures if verifies(TEST_SECRET, body, with_signature(headers, s))]
    assert len(by_new) == len(by_old) == 1
    assert by_new != by_old


def test_after_the_overlap_only_the_new_secret_signs(admin, east_hook):
    # given a rotation with a one-minute overlap
    result = rotate(admin, east_hook, overlap_seconds=60).json()
    new = result["secret"]
    expires = parse_datetime(result["previous_secret_expires_at"])

    # then just before it ends both sign
    with time_machine.travel(expires - dt.timedelta(seconds=2), tick=False):
        body, headers = built_headers(east_hook)
        assert len(dict(headers)["webhook-signature"].split(" ")) == 2
        assert verifies(TEST_SECRET, body, headers)

    # and once it has ended only the new one does
    with time_machine.travel(expires + dt.timedelta(seconds=1), tick=False):
        body, headers = built_headers(east_hook)
        signatures = dict(headers)["webhook-signature"].split(" ")
        assert len(signatures) == 1
        assert verifies(new, body, headers)
        assert not verifies(TEST_SECRET, body, headers)


def test_a_rotation_without_overlap_drops_the_old_secret_at_once(admin, east_hook):
    result = rotate(admin, east_hook, overlap_seconds=0).json()

    assert result["previous_secret_expires_at"] is None
    body, headers = built_headers(east_hook)
    assert len(dict(headers)["webhook-signature"].split(" ")) == 1
    assert verifies(result["secret"], body, headers)
    assert not verifies(TEST_SECRET, body, headers)
    east_hook.refresh_from_db()
    assert east_hook.previous_secret == ""


def test_a_secret_given_to_rotate_is_used(admin, east_hook):
    response = rotate(admin, east_hook, secret=NEW_SECRET)

    assert response.status_code == 200
    assert response.json()["secret"] == NEW_SECRET
    east_hook.refresh_from_db()
    assert east_hook.secret == NEW_SECRET
    body, headers = built_headers(east_hook)
    assert verifies(NEW_SECRET, body, headers)


def test_a_malformed_secret_given_to_rotate_is_refused(admin, east_hook):
    response = rotate(admin, east_hook, secret="whsec_short")

    assert response.status_code == 400
    assert list(response.json()) == ["secret"]
    east_hook.refresh_from_db()
    assert (east_hook.secret, east_hook.previous_secret) == (TEST_SECRET, "")


def test_a_cloudstack_webhook_sends_one_signature_with_the_new_secret(admin, east_hook):
    # given a CloudStack-style webhook, rotated
    Webhook.objects.filter(pk=east_hook.pk).update(header_style=HeaderStyle.CLOUDSTACK)
    new = rotate(admin, east_hook).json()["secret"]

    # when the next request is built
    body, headers = built_headers(east_hook)

    # then there is one X-CS-Signature, made with the new secret
    signatures = [value for name, value in headers if name == "X-CS-Signature"]
    assert signatures == [cloudstack_signature(secret=new, body=body)]
    assert "webhook-signature" not in dict(headers)


@pytest.mark.parametrize("secret", ["", NEW_SECRET], ids=["emptied", "replaced"])
def test_setting_the_secret_ends_a_rotations_overlap(admin, east_hook, secret):
    # given a rotation whose old secret still signs
    rotated = rotate(admin, east_hook).json()["secret"]
    assert rotated != secret

    # when the secret is set outright (replaced, or emptied: unsigned)
    response = admin.patch(url_of(east_hook), {"secret": secret}, format="json")

    # then only what was set signs: no rotated-out secret goes on signing
    assert response.status_code == 200
    assert response.json()["has_secret"] is bool(secret)
    body, headers = built_headers(east_hook)
    if secret:
        assert len(dict(headers)["webhook-signature"].split(" ")) == 1
        assert verifies(secret, body, headers)
    else:
        assert "webhook-signature" not in dict(headers)
    assert not verifies(TEST_SECRET, body, headers)
