"""/api/v1/webhooks/: creating, listing, updating and deleting webhooks, what is
never shown, and the bad input each field refuses (on POST /webhooks/,
PATCH /webhooks/{id}/ and POST /webhooks/test/, which take the same settings).

Publishing really runs: its on-commit enqueue never fires inside the test's
transaction.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from deliveries.pipeline.request import delivery_request
from deliveries.pipeline.send import deliveries_send
from deliveries.publishing import event_publish
from hooks.destinations import MAX_URL_LENGTH
from hooks.models import Scope, Webhook
from hooks.services import check_secret
from tests.api_client import (
    assert_detail,
    assert_field_error,
    client_for,
    errors,
    nothing_written,
    url_of,
    webhook_body,
)
from tests.conftest import (
    PUBLIC_URL,
    TEST_URL,
    WEBHOOKS,
)
from tests.factories import (
    NEW_SECRET,
    TEST_SECRET,
    DeliveryAttemptFactory,
    DeliveryFactory,
    EventFactory,
    UserFactory,
    WebhookFactory,
)
from tests.hooks.api.conftest import built_headers

pytestmark = [
    pytest.mark.django_db,
]


# --- creating ---------------------------------------------------------------------------------


def test_creating_a_webhook_shows_its_generated_secret_once(admin, tenants):
    # when
    response = admin.post(WEBHOOKS, webhook_body(tenants), format="json")

    # then the secret is in the answer to the creation
    assert response.status_code == 201
    created = response.json()
    secret = created["secret"]
    check_secret(secret)
    webhook = Webhook.objects.get(id=created["id"])
    assert webhook.secret == secret
    assert webhook.domain == tenants["east"]
    assert created["has_secret"] is True
    assert created["event_types"] == ["VM.*"]

    # and never again
    shown = admin.get(f"{WEBHOOKS}{created['id']}/").json()
    assert "secret" not in shown
    assert shown["has_secret"] is True
    listed = admin.get(WEBHOOKS).json()["results"]
    assert all("secret" not in item for item in listed)
    assert secret not in json.dumps(listed)


def test_a_secret_given_by_the_client_is_not_echoed(admin, tenants):
    response = admin.post(WEBHOOKS, webhook_body(tenants, secret=TEST_SECRET), format="json")

    assert response.status_code == 201
    assert "secret" not in response.json()
    assert Webhook.objects.get().secret == TEST_SECRET


def test_an_empty_secret_means_unsigned(admin, tenants):
    response = admin.post(WEBHOOKS, webhook_body(tenants, secret=""), format="json")

    assert response.status_code == 201
    assert response.json()["has_secret"] is False
    assert Webhook.objects.get().secret == ""


def test_a_malformed_secret_is_refused(admin, tenants):
    response = admin.post(WEBHOOKS, webhook_body(tenants, secret="whsec_short"), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["secret"]


def test_the_listener_password_is_never_shown(admin, tenants):
    body = webhook_body(tenants, auth_username="listener", auth_password="hunter2")

    created = admin.post(WEBHOOKS, body, format="json").json()
    shown = admin.get(f"{WEBHOOKS}{created['id']}/").json()

    assert created["auth_username"] == shown["auth_username"] == "listener"
    assert "auth_password" not in created
    assert "auth_password" not in shown
    assert "hunter2" not in json.dumps([created, shown])


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/", "http://localhost:8080/x", "http://169.254.169.254/", "ftp://x/"]
)
def test_a_private_or_bad_payload_url_is_refused(admin, tenants, url):
    assert settings.WEBHOOK_ALLOW_PRIVATE_IPS is False

    response = admin.post(WEBHOOKS, webhook_body(tenants, payload_url=url), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["payload_url"]
    assert not Webhook.objects.exists()


def test_a_user_creates_a_local_webhook_for_their_own_account(east_user, tenants):
    body = webhook_body(tenants)
    del body["account"]

    response = east_user.post(WEBHOOKS, body, format="json")

    assert response.status_code == 201
    webhook = Webhook.objects.get()
    assert webhook.account == tenants["east_acct"]
    assert webhook.scope == Scope.LOCAL


@pytest.mark.parametrize("scope", [Scope.GLOBAL, Scope.DOMAIN])
def test_a_user_cannot_create_a_wider_webhook(east_user, tenants, scope):
    response = east_user.post(WEBHOOKS, webhook_body(tenants, scope=scope), format="json")

    # a role that cannot: 403, saying which scopes users may have
    assert response.status_code == 403
    assert response.json()["detail"] in {
        "Only root admins may have global webhooks.",
        "Users may only have local webhooks.",
    }
    assert not Webhook.objects.exists()


def test_a_user_cannot_create_a_webhook_for_another_account(east_user, tenants):
    body = webhook_body(tenants, account=str(tenants["west_acct"].id))

    response = east_user.post(WEBHOOKS, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["account"]
    assert not Webhook.objects.exists()


def test_a_user_cannot_file_their_webhook_under_another_domain(east_user, tenants):
    # A user's local webhook placed in west's domain would be shown to west's
    # domain admins (with its deliveries), and hidden from east's.
    body = webhook_body(tenants, domain=str(tenants["west"].id))

    response = east_user.post(WEBHOOKS, body, format="json")

    assert response.status_code == 400
    assert not Webhook.objects.exists()


def test_a_root_admin_may_create_a_global_webhook(admin, tenants):
    response = admin.post(WEBHOOKS, webhook_body(tenants, scope=Scope.GLOBAL), format="json")

    assert response.status_code == 201
    assert Webhook.objects.get().scope == Scope.GLOBAL


# --- listing and reading ----------------------------------------------------------------------


def test_a_user_lists_only_their_accounts_webhooks(east_user, admin, tenants):
    # given
    mine = WebhookFactory(account=tenants["east_acct"])
    WebhookFactory(account=tenants["west_acct"])
    WebhookFactory(account=tenants["east_sub_acct"])
    WebhookFactory(account=tenants["root_acct"], scope=Scope.GLOBAL)

    # when
    listed = east_user.get(WEBHOOKS).json()

    # then
    assert [item["id"] for item in listed["results"]] == [str(mine.id)]
    assert listed["count"] == 1
    assert admin.get(WEBHOOKS).json()["count"] == 4


def test_a_user_cannot_read_another_accounts_webhook(east_user, tenants):
    other = WebhookFactory(account=tenants["west_acct"])

    response = east_user.get(f"{WEBHOOKS}{other.id}/")

    assert response.status_code == 404


def test_another_tenants_webhook_is_404_not_403(east_user, tenants):
    other = WebhookFactory(account=tenants["west_acct"], payload_url="https://example.com/x")

    with nothing_written():
        response = east_user.patch(f"{WEBHOOKS}{other.id}/", {"name": "mine"}, format="json")

    assert_detail(response, 404, "")


# --- updating and deleting --------------------------------------------------------------------


def test_put_replaces_a_webhooks_fields(admin, tenants, east_hook):
    # given
    body = {
        "name": "renamed",
        "description": "now with a description",
        "account": str(tenants["east_acct"].id),
        "payload_url": "https://example.org/new",
        "event_types": ["NETWORK.*"],
        "enabled": False,
        "headers": {"X-Team": "blue"},
        "timeout": 3.5,
        "max_attempts": 4,
    }

    # when
    response = admin.put(url_of(east_hook), body, format="json")

    # then
    assert response.status_code == 200, response.json()
    shown = response.json()
    for name, value in body.items():
        assert shown[name] == value, name
    assert "secret" not in shown
    east_hook.refresh_from_db()
    assert (east_hook.name, east_hook.payload_url) == ("renamed", "https://example.org/new")
    assert east_hook.event_types == ["NETWORK.*"]
    assert east_hook.enabled is False
    assert east_hook.headers == {"X-Team": "blue"}
    assert (east_hook.timeout, east_hook.max_attempts) == (3.5, 4)
    assert east_hook.secret == TEST_SECRET  # not given: kept


def test_put_without_a_required_field_is_refused(admin, east_hook):
    response = admin.put(url_of(east_hook), {"name": "only a name"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["payload_url"]
    east_hook.refresh_from_db()
    assert east_hook.name == "east-local"


def test_patch_changes_only_the_given_fields(admin, east_hook):
    response = admin.patch(url_of(east_hook), {"description": "patched"}, format="json")

    assert response.status_code == 200
    assert response.json()["description"] == "patched"
    east_hook.refresh_from_db()
    assert east_hook.description == "patched"
    assert east_hook.name == "east-local"
    assert east_hook.payload_url == PUBLIC_URL
    assert east_hook.secret == TEST_SECRET


def test_patched_event_types_apply_to_the_next_event(admin, tenants):
    # given a webhook for VM events only
    webhook = WebhookFactory(
        account=tenants["east_acct"], payload_url=PUBLIC_URL, event_types=["VM.*"]
    )
    before = event_publish(type="NETWORK.CREATE", data={}, account=tenants["east_acct"])
    assert before.delivery_count == 0

    # when its filter is changed to network events
    response = admin.patch(url_of(webhook), {"event_types": ["NETWORK.*"]}, format="json")

    # then the very next network event goes to it, and VM events no longer do
    assert response.status_code == 200
    assert response.json()["event_types"] == ["NETWORK.*"]
    network = event_publish(type="NETWORK.CREATE", data={}, account=tenants["east_acct"])
    vm = event_publish(type="VM.CREATE", data={}, account=tenants["east_acct"])
    assert network.delivery_count == 1
    assert Delivery.objects.get(event=network.event).webhook == webhook
    assert vm.delivery_count == 0


def test_a_patched_url_and_headers_apply_to_the_next_request(admin, tenants, east_hook):
    # given a delivery not sent yet
    delivery = DeliveryFactory(webhook=east_hook, event=EventFactory(account=tenants["east_acct"]))

    # when
    response = admin.patch(
        url_of(east_hook),
        {"payload_url": "https://example.net/moved", "headers": {"X-Env": "staging"}},
        format="json",
    )

    # then its next attempt goes to the new URL with the new header
    assert response.status_code == 200
    delivery = Delivery.objects.select_related("event", "webhook").get(pk=delivery.pk)
    request = delivery_request(delivery, timestamp=int(time.time()))
    assert request.url == "https://example.net/moved"
    assert ("X-Env", "staging") in request.headers


def test_deleting_a_webhook_removes_it_and_its_deliveries(admin, tenants, east_hook):
    # given a webhook with a delivery tried once, and another webhook's delivery
    event = EventFactory(account=tenants["east_acct"])
    delivery = DeliveryFactory(webhook=east_hook, event=event, attempts=1)
    DeliveryAttemptFactory(delivery=delivery, number=1)
    other = DeliveryFactory(event=event, webhook=WebhookFactory(account=tenants["east_acct"]))

    # when
    response = admin.delete(url_of(east_hook))

    # then
    assert response.status_code == 204
    assert not Webhook.objects.filter(pk=east_hook.pk).exists()
    assert not Delivery.objects.filter(pk=delivery.pk).exists()
    assert not DeliveryAttempt.objects.exists()
    assert Delivery.objects.filter(pk=other.pk).exists()
    assert Event.objects.filter(pk=event.pk).exists()  # the event is other deliveries' too
    assert admin.get(url_of(east_hook)).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_deleting_a_webhook_while_its_delivery_is_sent_spares_the_rest_of_the_batch(
    tenants, allow_private, receivers
):
    # given two webhooks, each with a delivery of one event, sent in one batch;
    # while the request to the first is in flight, its webhook is deleted
    admin = client_for(UserFactory(username="root", is_superuser=True, is_staff=True))
    event = EventFactory(account=tenants["east_acct"])
    doomed_receiver = receivers()
    doomed = WebhookFactory(account=tenants["east_acct"], payload_url=doomed_receiver.url)
    kept = WebhookFactory(account=tenants["east_acct"], payload_url=receivers().url)
    deliveries = [
        DeliveryFactory(webhook=w, event=event, next_attempt_at=timezone.now())
        for w in (doomed, kept)
    ]
    answers = []

    def delete_webhook(received):
        try:
            answers.append(admin.delete(url_of(doomed)).status_code)
        finally:
            connections.close_all()  # this thread's connection

    doomed_receiver.on_request = delete_webhook

    # when the worker sends the batch and records the outcomes
    sent = deliveries_send([d.id for d in deliveries])

    # then the delete was answered (refused, or done), and the other webhook's
    # delivery is recorded as the success it was, not left for the sweeper to resend
    assert sent == 2
    assert answers in ([204], [409])
    kept_delivery = Delivery.objects.get(pk=deliveries[1].pk)
    assert kept_delivery.status == DeliveryStatus.SUCCEEDED
    assert DeliveryAttempt.objects.filter(delivery=kept_delivery).count() == 1


# --- what is never shown ----------------------------------------------------------------------


def test_a_secret_is_write_only(admin, east_hook):
    # when the secret is changed
    response = admin.patch(url_of(east_hook), {"secret": NEW_SECRET}, format="json")

    # then it is stored but not shown, in the answer or afterwards
    assert response.status_code == 200
    patched = response.json()
    assert "secret" not in patched
    assert patched["has_secret"] is True
    east_hook.refresh_from_db()
    assert east_hook.secret == NEW_SECRET
    shown = admin.get(url_of(east_hook)).json()
    listed = admin.get(WEBHOOKS).json()["results"]
    assert "secret" not in shown
    assert all("secret" not in item for item in listed)
    for secret in (NEW_SECRET, TEST_SECRET):
        assert secret not in json.dumps([patched, shown, listed])


def test_an_emptied_secret_shows_as_none(admin, east_hook):
    response = admin.patch(url_of(east_hook), {"secret": ""}, format="json")

    assert response.status_code == 200
    assert response.json()["has_secret"] is False
    assert admin.get(url_of(east_hook)).json()["has_secret"] is False
    _, headers = built_headers(east_hook)
    assert "webhook-signature" not in dict(headers)


def test_the_listener_password_is_never_returned_but_is_sent(admin, east_hook):
    # when
    response = admin.patch(
        url_of(east_hook),
        {"auth_username": "listener", "auth_password": "s3cret-pw"},
        format="json",
    )

    # then it is not shown anywhere
    assert response.status_code == 200
    patched = response.json()
    shown = admin.get(url_of(east_hook)).json()
    listed = admin.get(WEBHOOKS).json()["results"]
    assert patched["auth_username"] == shown["auth_username"] == "listener"
    assert "auth_password" not in patched
    assert "auth_password" not in shown
    assert all("auth_password" not in item for item in listed)
    assert "s3cret-pw" not in json.dumps([patched, shown, listed])
    # and requests carry it as basic auth
    _, headers = built_headers(east_hook)
    expected = "Basic " + base64.b64encode(b"listener:s3cret-pw").decode()
    assert dict(headers)["Authorization"] == expected


def test_custom_headers_are_saved_and_sent(admin, tenants):
    # when a webhook is created with headers of its own
    body = {
        "name": "with-headers",
        "account": str(tenants["east_acct"].id),
        "payload_url": PUBLIC_URL,
        "headers": {"X-Tenant": "east", "X-Api-Key": "k-123"},
    }
    response = admin.post(WEBHOOKS, body, format="json")

    # then they are stored, shown, and sent beside the platform's headers
    assert response.status_code == 201
    assert response.json()["headers"] == {"X-Tenant": "east", "X-Api-Key": "k-123"}
    webhook = Webhook.objects.get(pk=response.json()["id"])
    assert webhook.headers == {"X-Tenant": "east", "X-Api-Key": "k-123"}
    assert admin.get(url_of(webhook)).json()["headers"] == webhook.headers
    _, headers = built_headers(webhook)
    assert ("X-Tenant", "east") in headers
    assert ("X-Api-Key", "k-123") in headers
    assert "webhook-signature" in dict(headers)


def test_a_header_the_platform_sets_cannot_be_overridden(admin, east_hook):
    response = admin.patch(
        url_of(east_hook), {"headers": {"webhook-signature": "v1,forged"}}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["headers"]
    east_hook.refresh_from_db()
    assert east_hook.headers == {}


# --- bad input: where a webhook's settings are written ----------------------------------------


# Where a webhook's settings are written: create, change, and try-before-create.
WRITE_TARGETS = ["create", "patch", "test-url"]


def write_webhook(target: str, client: APIClient, tenants, hook: Webhook, **fields):
    """Send `fields` to one of the endpoints that accept webhook settings."""
    if target == "create":
        return client.post(WEBHOOKS, webhook_body(tenants, **fields), format="json")
    if target == "patch":
        # A valid change beside the bad one: it must not be half-applied.
        body = {"name": "renamed", "description": "changed", **fields}
        return client.patch(f"{WEBHOOKS}{hook.id}/", body, format="json")
    if target == "test-url":
        body = {"payload_url": "https://example.com/hook", **fields}
        return client.post(TEST_URL, body, format="json")
    raise AssertionError(target)


# --- bad input: payload URL: scheme, credentials, length, characters --------------------------


BAD_URLS = [
    # schemes other than http/https
    pytest.param("ftp://example.com/hook", "scheme must be http or https", id="ftp"),
    pytest.param("file:///etc/passwd", "scheme must be http or https", id="file"),
    pytest.param("gopher://example.com:70/_x", "scheme must be http or https", id="gopher"),
    pytest.param("ws://example.com/socket", "scheme must be http or https", id="ws"),
    pytest.param("javascript:alert(1)", "scheme must be http or https", id="javascript"),
    pytest.param("example.com/hook", "scheme must be http or https", id="no-scheme"),
    pytest.param("//example.com/hook", "scheme must be http or https", id="scheme-relative"),
    # credentials inside the URL
    pytest.param("https://user:pass@example.com/hook", "credentials", id="user-and-password"),
    pytest.param("https://user@example.com/hook", "credentials", id="user-only"),
    pytest.param("https://:pass@example.com/hook", "credentials", id="password-only"),
    # over 2,048 characters
    pytest.param(
        "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/") + 1),
        str(MAX_URL_LENGTH),
        id="2049-characters",
    ),
    pytest.param("https://example.com/" + "a" * 5000, str(MAX_URL_LENGTH), id="5020-characters"),
    # whitespace, CR, LF inside
    pytest.param("https://example.com/a b", "whitespace", id="space-in-path"),
    pytest.param("https://exa mple.com/", "whitespace", id="space-in-host"),
    pytest.param("https://example.com/a\tb", "whitespace", id="tab"),
    pytest.param("https://example.com/a\rb", "whitespace", id="cr"),
    pytest.param("https://example.com/a\nb", "whitespace", id="lf"),
    pytest.param("https://example.com/\r\nX-Injected: 1", "whitespace", id="crlf-injection"),
    pytest.param("https://example.com/a\x00b", "null", id="nul"),
    # ... and around it: a client sending these made a mistake the answer should show.
    pytest.param(
        "https://example.com/hook\r\n",
        "whitespace",
        id="trailing-crlf",
    ),
    pytest.param(
        " https://example.com/hook",
        "whitespace",
        id="leading-space",
    ),
    # malformed
    pytest.param("https://example.com:99999/", "port", id="port-out-of-range"),
    pytest.param("https://example.com:0/", "port", id="port-zero"),
    pytest.param("http:///hook", "no host", id="no-host"),
    pytest.param("", "blank", id="empty"),
]


@pytest.mark.parametrize("target", WRITE_TARGETS)
@pytest.mark.parametrize(("url", "fragment"), BAD_URLS)
def test_a_bad_payload_url_is_refused_naming_it(admin, tenants, hook, target, url, fragment):
    with nothing_written():
        response = write_webhook(target, admin, tenants, hook, payload_url=url)

    assert_field_error(response, "payload_url", fragment)


@pytest.mark.usefixtures("no_sending")
def test_a_url_of_exactly_2048_characters_is_accepted(admin, tenants):
    url = "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/"))
    assert len(url) == MAX_URL_LENGTH

    response = admin.post(WEBHOOKS, webhook_body(tenants, payload_url=url), format="json")

    assert response.status_code == 201, response.content[:300]


# --- bad input: payload URL: addresses, when private destinations are not allowed -------------


LOOPBACK, PRIVATE, LINK_LOCAL = "loopback", "private or reserved", "link-local"


METADATA, UNSPECIFIED = "metadata", "unspecified"


PRIVATE_DESTINATIONS = [
    # loopback, by name and address
    pytest.param("http://localhost/hook", LOOPBACK, id="localhost"),
    pytest.param("http://LOCALHOST:8080/hook", LOOPBACK, id="localhost-upper"),
    pytest.param("http://localhost./hook", LOOPBACK, id="localhost-trailing-dot"),
    pytest.param("http://api.localhost/hook", LOOPBACK, id="sub.localhost"),
    pytest.param("http://127.0.0.1/hook", LOOPBACK, id="127.0.0.1"),
    pytest.param("https://127.0.0.1:8443/hook", LOOPBACK, id="127.0.0.1-https-port"),
    pytest.param("http://127.255.255.254/", LOOPBACK, id="127/8"),
    pytest.param("http://127.0.0.1./hook", LOOPBACK, id="127.0.0.1-trailing-dot"),
    # private, carrier-grade NAT
    pytest.param("http://10.0.0.1/", PRIVATE, id="10/8"),
    pytest.param("http://172.16.5.4/", PRIVATE, id="172.16/12"),
    pytest.param("http://192.168.0.10/", PRIVATE, id="192.168/16"),
    pytest.param("http://100.64.0.1/", PRIVATE, id="100.64/10-cgnat"),
    # link-local and cloud metadata services
    pytest.param("http://169.254.10.10/", LINK_LOCAL, id="169.254/16"),
    pytest.param("http://169.254.169.254/latest/meta-data/", METADATA, id="metadata-aws"),
    pytest.param("http://169.254.170.2/v2/credentials", METADATA, id="metadata-ecs"),
    pytest.param("http://100.100.100.200/", METADATA, id="metadata-alibaba"),
    pytest.param("http://[fd00:ec2::254]/", METADATA, id="metadata-aws-ipv6"),
    # the unspecified address
    pytest.param("http://0.0.0.0/", UNSPECIFIED, id="0.0.0.0"),
    pytest.param("http://0.0.0.0:8000/", UNSPECIFIED, id="0.0.0.0-port"),
    pytest.param("http://0/", UNSPECIFIED, id="0"),
    # IPv6
    pytest.param("http://[::1]/", LOOPBACK, id="ipv6-loopback"),
    pytest.param("http://[0:0:0:0:0:0:0:1]/", LOOPBACK, id="ipv6-loopback-long"),
    pytest.param("http://[::]/", UNSPECIFIED, id="ipv6-unspecified"),
    pytest.param("http://[fe80::1]/", LINK_LOCAL, id="ipv6-link-local"),
    pytest.param("http://[fe80::1%25eth0]/", LINK_LOCAL, id="ipv6-link-local-zone"),
    pytest.param("http://[fc00::1]/", PRIVATE, id="ipv6-unique-local"),
    pytest.param("http://[fd12:3456::1]/", PRIVATE, id="ipv6-unique-local-fd"),
    # IPv4-mapped and other IPv6 forms carrying an IPv4 address
    pytest.param("http://[::ffff:127.0.0.1]/", LOOPBACK, id="mapped-dotted"),
    pytest.param("http://[::ffff:7f00:1]/", LOOPBACK, id="mapped-hex"),
    pytest.param("http://[0:0:0:0:0:ffff:127.0.0.1]/", LOOPBACK, id="mapped-long"),
    pytest.param("http://[::ffff:10.0.0.1]/", PRIVATE, id="mapped-private"),
    pytest.param("http://[::ffff:169.254.169.254]/", METADATA, id="mapped-metadata"),
    pytest.param("http://[64:ff9b::a9fe:a9fe]/", METADATA, id="nat64-metadata"),
    pytest.param("http://[2002:7f00:1::]/", LOOPBACK, id="6to4-loopback"),
    pytest.param("http://[::127.0.0.1]/", PRIVATE, id="ipv4-compatible"),
    # numeric spellings of 127.0.0.1 and 169.254.169.254
    pytest.param("http://2130706433/", LOOPBACK, id="decimal"),
    pytest.param("http://0x7f000001/", LOOPBACK, id="hex"),
    pytest.param("http://0X7F000001/", LOOPBACK, id="hex-upper"),
    pytest.param("http://0177.0.0.1/", LOOPBACK, id="octal"),
    pytest.param("http://017700000001/", LOOPBACK, id="octal-whole"),
    pytest.param("http://127.1/", LOOPBACK, id="short-127.1"),
    pytest.param("http://0x7f.1/", LOOPBACK, id="short-hex"),
    pytest.param("http://127.000.000.001/", LOOPBACK, id="zero-padded"),
    pytest.param("http://2852039166/latest/meta-data/", METADATA, id="decimal-metadata"),
    pytest.param("http://0xA9FEA9FE/", METADATA, id="hex-metadata"),
]


@pytest.mark.parametrize("target", WRITE_TARGETS)
@pytest.mark.parametrize(("url", "reason"), PRIVATE_DESTINATIONS)
def test_a_private_destination_is_refused_naming_the_url(admin, tenants, hook, target, url, reason):
    assert settings.WEBHOOK_ALLOW_PRIVATE_IPS is False

    with nothing_written():
        response = write_webhook(target, admin, tenants, hook, payload_url=url)

    assert_field_error(response, "payload_url", reason)


# --- bad input: event type patterns -----------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param("VM CREATE", id="space"),
        pytest.param("VM/*", id="slash"),
        pytest.param("VM.?", id="question-mark"),
        pytest.param("VM.[AB]", id="brackets"),
        pytest.param("VM\r\nCREATE", id="crlf"),
        pytest.param("VM.*\r\n", id="trailing-crlf"),
        pytest.param("", id="empty"),
        pytest.param("A" * 129, id="129-characters"),
    ],
)
@pytest.mark.parametrize("target", ["create", "patch"])
def test_a_webhook_event_type_pattern_with_forbidden_characters_is_400(
    admin, tenants, hook, target, pattern
):
    with nothing_written():
        response = write_webhook(target, admin, tenants, hook, event_types=["VM.*", pattern])

    assert_field_error(response, "event_types", "")


# --- bad input: secrets -----------------------------------------------------------------------


def whsec(size: int) -> str:
    return "whsec_" + base64.b64encode(bytes(range(256))[:size]).decode()


BAD_SECRETS = [
    pytest.param("nope", "whsec_", id="no-prefix"),
    pytest.param(TEST_SECRET.replace("whsec_", "WHSEC_"), "whsec_", id="prefix-case"),
    pytest.param(TEST_SECRET.replace("whsec_", "sk_"), "whsec_", id="other-prefix"),
    pytest.param("whsec_", "whsec_", id="prefix-only"),
    pytest.param("whsec_short", "base64", id="short-not-base64"),
    pytest.param("whsec_!!!!notbase64!!!!!!!!!!!!!!!!!", "base64", id="not-base64"),
    pytest.param("whsec_" + "A" * 33, "base64", id="bad-padding"),
    pytest.param(whsec(23), "24 to 64 bytes", id="23-bytes"),
    pytest.param(whsec(65), "24 to 64 bytes", id="65-bytes"),
    pytest.param(whsec(16), "24 to 64 bytes", id="16-bytes"),
    pytest.param(TEST_SECRET + "\n" + TEST_SECRET, "whsec_", id="two-lines"),
    pytest.param("whsec_" + "A" * 300, "256", id="over-256-characters"),
]


@pytest.mark.parametrize("target", [*WRITE_TARGETS, "rotate"])
@pytest.mark.parametrize(("secret", "fragment"), BAD_SECRETS)
def test_a_malformed_secret_is_400_naming_it(admin, tenants, hook, target, secret, fragment):
    with nothing_written():
        if target == "rotate":
            response = admin.post(
                f"{WEBHOOKS}{hook.id}/rotate-secret/", {"secret": secret}, format="json"
            )
        else:
            response = write_webhook(target, admin, tenants, hook, secret=secret)

    assert_field_error(response, "secret", fragment)


@pytest.mark.usefixtures("no_sending")
@pytest.mark.parametrize("size", [24, 64])
def test_secrets_at_the_bounds_are_accepted(admin, tenants, size):
    response = admin.post(WEBHOOKS, webhook_body(tenants, secret=whsec(size)), format="json")

    assert response.status_code == 201, response.content[:300]


# --- bad input: custom headers ----------------------------------------------------------------


RESERVED = "set by the platform"


BAD_NAME = "not a valid header name"


BAD_VALUE = "CR, LF or NUL"


BAD_HEADERS = [
    # the signature headers, both styles, any case
    pytest.param({"webhook-signature": "v1,x"}, RESERVED, id="webhook-signature"),
    pytest.param({"Webhook-Id": "msg_1"}, RESERVED, id="webhook-id"),
    pytest.param({"WEBHOOK-TIMESTAMP": "0"}, RESERVED, id="webhook-timestamp"),
    pytest.param({"X-CS-Signature": "x"}, RESERVED, id="x-cs-signature"),
    pytest.param({"x-cs-event-id": "x"}, RESERVED, id="x-cs-event-id"),
    pytest.param({"X-CS-Event": "x"}, RESERVED, id="x-cs-event"),
    # Host and the framing headers
    pytest.param({"Host": "internal.example"}, RESERVED, id="host"),
    pytest.param({"content-length": "0"}, RESERVED, id="content-length"),
    pytest.param({"Content-Type": "text/plain"}, RESERVED, id="content-type"),
    pytest.param({"Transfer-Encoding": "chunked"}, RESERVED, id="transfer-encoding"),
    pytest.param({"Authorization": "Bearer x"}, RESERVED, id="authorization"),
    # CR/LF and other characters in the name
    pytest.param({"X-A\r\nX-Injected": "1"}, BAD_NAME, id="crlf-in-name"),
    pytest.param({"X-A\nB": "1"}, BAD_NAME, id="lf-in-name"),
    pytest.param(
        {"X-Team\n": "1"},
        BAD_NAME,
        id="trailing-lf-in-name",
    ),
    pytest.param(
        {"Host\n": "internal.example"},
        BAD_NAME,
        id="host-with-trailing-lf",
    ),
    pytest.param({"X A": "1"}, BAD_NAME, id="space-in-name"),
    pytest.param({"X-A:": "1"}, BAD_NAME, id="colon-in-name"),
    pytest.param({"": "1"}, BAD_NAME, id="empty-name"),
    pytest.param({"X-" + "a" * 100: "1"}, BAD_NAME, id="long-name"),
    # CR/LF in the value
    pytest.param({"X-Team": "a\r\nX-Injected: 1"}, BAD_VALUE, id="crlf-in-value"),
    pytest.param({"X-Team": "a\nb"}, BAD_VALUE, id="lf-in-value"),
    pytest.param({"X-Team": "a\rb"}, BAD_VALUE, id="cr-in-value"),
    # too many, not strings, not an object
    pytest.param({f"X-H{i}": "v" for i in range(21)}, "at most 20", id="21-headers"),
    pytest.param({"X-Team": None}, "null", id="null-value"),
    pytest.param({"X-Team": "v" * 1025}, "1024", id="long-value"),
    pytest.param(["X-Team: a"], "dictionary", id="list"),
    pytest.param("X-Team: a", "dictionary", id="string"),
]


@pytest.mark.parametrize("target", WRITE_TARGETS)
@pytest.mark.parametrize(("headers", "fragment"), BAD_HEADERS)
def test_a_forbidden_custom_header_is_400_naming_headers(
    admin, tenants, hook, target, headers, fragment
):
    with nothing_written():
        response = write_webhook(target, admin, tenants, hook, headers=headers)

    assert_field_error(response, "headers", fragment)


# --- bad input: timeout and max-attempts overrides --------------------------------------------


@pytest.mark.parametrize("target", ["create", "patch"])
@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        pytest.param("timeout", 0, "between 0.5 and", id="timeout-0"),
        pytest.param("timeout", 0.49, "between 0.5 and", id="timeout-0.49"),
        pytest.param("timeout", -1, "between 0.5 and", id="timeout-negative"),
        pytest.param("timeout", 60.01, "between 0.5 and 60", id="timeout-over-max"),
        pytest.param("timeout", 10**9, "between 0.5 and", id="timeout-huge"),
        pytest.param("timeout", "ten", "number", id="timeout-text"),
        pytest.param("timeout", [5], "number", id="timeout-list"),
        pytest.param("max_attempts", 0, "between 1 and 50", id="attempts-0"),
        pytest.param("max_attempts", -1, "between 1 and 50", id="attempts-negative"),
        pytest.param("max_attempts", 51, "between 1 and 50", id="attempts-51"),
        pytest.param("max_attempts", 70000, "between 1 and 50", id="attempts-over-smallint"),
        pytest.param("max_attempts", 10**30, "", id="attempts-huge"),
        pytest.param("max_attempts", 2.5, "integer", id="attempts-fraction"),
        pytest.param("max_attempts", "many", "integer", id="attempts-text"),
    ],
)
def test_an_override_out_of_range_is_400_naming_it(
    admin, tenants, hook, target, field, value, fragment
):
    assert settings.WEBHOOK_TIMEOUT_MAX == 60

    with nothing_written():
        response = write_webhook(target, admin, tenants, hook, **{field: value})

    assert_field_error(response, field, fragment)


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("target", ["create", "patch"])
def test_a_non_json_number_as_timeout_is_400(admin, tenants, hook, target, raw):
    body = json.dumps(webhook_body(tenants) if target == "create" else {"name": "renamed"})
    raw_body = body[:-1] + f', "timeout": {raw}}}'
    url = WEBHOOKS if target == "create" else f"{WEBHOOKS}{hook.id}/"

    with nothing_written():
        response = getattr(admin, "post" if target == "create" else "patch")(
            url, raw_body, content_type="application/json"
        )

    assert response.status_code == 400, response.content[:300]
    body = errors(response)
    assert "timeout" in body or "detail" in body, body


# --- the refusals leave valid requests working ------------------------------------------------


@pytest.mark.usefixtures("no_sending")
def test_the_webhook_used_above_accepts_a_valid_change(admin, hook):
    # The PATCH cases above would have succeeded but for their one bad field.
    response = admin.patch(
        f"{WEBHOOKS}{hook.id}/", {"name": "renamed", "description": "changed"}, format="json"
    )

    assert response.status_code == 200, response.content[:300]
    hook.refresh_from_db()
    assert (hook.name, hook.description) == ("renamed", "changed")
