"""A webhook's payload format over the API: chosen, shown, changed, vetted."""

from __future__ import annotations

import pytest

from hooks.models import PayloadFormat, Webhook
from tests.conftest import PUBLIC_URL, WEBHOOKS

pytestmark = pytest.mark.django_db


def create(admin, tenants, **fields):
    body = {"name": "n", "payload_url": PUBLIC_URL, "account": str(tenants["east_acct"].id)}
    return admin.post(WEBHOOKS, {**body, **fields}, format="json")


def test_the_default_format_is_ours(admin, tenants):
    response = create(admin, tenants)

    assert response.status_code == 201, response.content
    assert response.json()["payload_format"] == "standard"


@pytest.mark.parametrize("fmt", PayloadFormat.values)
def test_each_format_can_be_chosen_and_is_stored(admin, tenants, fmt):
    response = create(admin, tenants, payload_format=fmt)

    assert response.status_code == 201, response.content
    assert response.json()["payload_format"] == fmt
    assert Webhook.objects.get(id=response.json()["id"]).payload_format == fmt


def test_the_format_is_changed_by_patch_and_the_header_style_stays(admin, tenants):
    webhook = create(admin, tenants, header_style="cloudstack").json()

    response = admin.patch(
        f"{WEBHOOKS}{webhook['id']}/", {"payload_format": "nutanix"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["payload_format"], response.json()["header_style"]) == (
        "nutanix",
        "cloudstack",
    )


def test_an_unknown_format_is_a_400_that_names_it(admin, tenants):
    response = create(admin, tenants, payload_format="json-api")

    assert response.status_code == 400
    assert "payload_format" in response.json()
    assert not Webhook.objects.exists()
