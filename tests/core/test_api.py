"""Bad input: a clear 4xx naming the field, never a 500, nothing half-written.

One case per item of the bad-input list (and per spelling for the URL and
address items, on each of POST /webhooks/, PATCH /webhooks/{id}/ and
POST /webhooks/test/). Every case asserts the exact status, that the JSON error
names the field (or, for errors about the request as a whole, that `detail`
says what was wrong), and that no row was created or changed. The sender is
replaced by one that fails the test: bad input must be refused before anything
is sent.
"""

from __future__ import annotations

import base64
import json
import uuid
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from hooks.destinations import MAX_URL_LENGTH
from hooks.models import Account, Domain, Membership, Role, Webhook
from tests.api_client import client_for
from tests.factories import (
    TEST_SECRET,
    DeliveryFactory,
    EventFactory,
    MembershipFactory,
    UserFactory,
    WebhookFactory,
)
from webhooks_project.api import MAX_JSON_DEPTH

pytestmark = [
    pytest.mark.django_db,
]

API = "/api/v1/"
WEBHOOKS = f"{API}webhooks/"
TEST_URL = f"{API}webhooks/test/"
EVENTS = f"{API}events/"
BATCH = f"{API}events/batch/"
DELIVERIES = f"{API}deliveries/"
RECOVER = f"{API}deliveries/recover/"
UNKNOWN_ID = "01890a5d-ac96-774b-bcce-b302099a8057"


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_sending(monkeypatch):
    """Bad input is refused before anything is sent: reaching the sender fails."""

    def refuse():
        raise AssertionError("bad input reached the sender")

    monkeypatch.setattr("deliveries.services.get_sender", refuse)


@pytest.fixture(autouse=True)
def fresh_throttles():
    """The recover throttle counts in the (process-wide) cache: start and end clean."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def admin(db):
    return client_for(UserFactory(username="root", is_superuser=True, is_staff=True))


@pytest.fixture
def east_user(tenants):
    """A plain user (role user) of east's account."""
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    return client_for(membership.user)


@pytest.fixture
def hook(tenants):
    """A stored webhook with a public URL, so a valid PATCH of it would succeed."""
    return WebhookFactory(
        name="east-orders",
        account=tenants["east_acct"],
        payload_url="https://example.com/hook",
        timeout=5,
        max_attempts=3,
        headers={"X-Team": "orders"},
        event_types=["VM.*"],
    )


@pytest.fixture
def delivery(hook, tenants):
    return DeliveryFactory(
        webhook=hook,
        event=EventFactory(account=tenants["east_acct"]),
        status=DeliveryStatus.FAILED,
    )


SNAPSHOT_MODELS = (Domain, Account, Membership, Webhook, Event, Delivery, DeliveryAttempt)


def snapshot() -> dict[str, list[dict]]:
    """Every row of the models a request could write, as plain values."""
    state = {
        model.__name__: sorted(model.objects.values(), key=lambda row: str(row["id"]))
        for model in SNAPSHOT_MODELS
    }
    state["User"] = sorted(
        get_user_model().objects.values("id", "username", "password", "is_superuser"),
        key=lambda row: row["id"],
    )
    return state


@contextmanager
def nothing_written():
    """Assert that no row was created, changed or deleted inside the block."""
    before = snapshot()
    yield
    assert snapshot() == before, "a refused request wrote to the database"


def errors(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert isinstance(body, dict), body
    return body


def messages(body: dict, field: str) -> str:
    """The messages under `field`, flattened to one string to search."""
    return json.dumps(body[field])


def webhook_body(tenants, **kwargs) -> dict:
    body = {
        "name": "orders",
        "account": str(tenants["east_acct"].id),
        "payload_url": "https://example.com/hook",
        "event_types": ["VM.*"],
    }
    body.update(kwargs)
    return body


def event_body(tenants, **kwargs) -> dict:
    body = {"type": "VM.CREATE", "account": str(tenants["east_acct"].id), "data": {"a": 1}}
    body.update(kwargs)
    return body


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


def assert_field_error(response, field: str, fragment: str, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = errors(response)
    assert field in body, body
    assert fragment.lower() in messages(body, field).lower(), body


def assert_detail(response, status: int, fragment: str) -> None:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = errors(response)
    assert "detail" in body, body
    assert fragment.lower() in json.dumps(body["detail"]).lower(), body


# --- payload URL: scheme, credentials, length, characters -----------------------------------

# DRF CharFields strip surrounding whitespace (trim_whitespace=True) before any validator
# runs: a value ending in CR/LF or starting with a space is quietly changed and accepted.

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


def test_a_url_of_exactly_2048_characters_is_accepted(admin, tenants):
    url = "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/"))
    assert len(url) == MAX_URL_LENGTH

    response = admin.post(WEBHOOKS, webhook_body(tenants, payload_url=url), format="json")

    assert response.status_code == 201, response.content[:300]


# --- payload URL: addresses, when private destinations are not allowed -----------------------

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


# --- request bodies: size, JSON, shape, nesting ----------------------------------------------


def oversized(limit: int) -> str:
    """A JSON object one byte over `limit`."""
    body = json.dumps({"type": "VM.CREATE", "data": {"blob": ""}})
    return json.dumps({"type": "VM.CREATE", "data": {"blob": "x" * (limit + 1 - len(body))}})


BODY_TARGETS = [
    pytest.param("post", EVENTS, id="event"),
    pytest.param("post", BATCH, id="event-batch"),
    pytest.param("post", WEBHOOKS, id="webhook-create"),
    pytest.param("patch", "hook", id="webhook-patch"),
    pytest.param("post", TEST_URL, id="webhook-test-url"),
    pytest.param("post", RECOVER, id="recover"),
]


def target_url(path: str, hook: Webhook) -> str:
    return f"{WEBHOOKS}{hook.id}/" if path == "hook" else path


@pytest.mark.parametrize(("method", "path"), BODY_TARGETS)
def test_a_body_over_the_documented_limit_is_413(admin, hook, method, path):
    limit = settings.WEBHOOK_EVENT_MAX_BYTES
    body = oversized(limit)
    assert len(body.encode()) == limit + 1

    with nothing_written():
        response = getattr(admin, method)(
            target_url(path, hook), body, content_type="application/json"
        )

    assert_detail(response, 413, f"larger than {limit} bytes")


@pytest.mark.parametrize(("method", "path"), BODY_TARGETS)
@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param('{"type": "VM.CREATE",', "Malformed JSON", id="truncated"),
        pytest.param("{'type': 'VM.CREATE'}", "Malformed JSON", id="single-quotes"),
        pytest.param('{"type": "VM.CREATE"} trailing', "Malformed JSON", id="trailing-garbage"),
        pytest.param(b'{"type": "\xff"}', "UTF-8", id="not-utf8"),
        pytest.param("[" * 100_000 + "]" * 100_000, "nested too deeply", id="recursion"),
    ],
)
def test_malformed_json_is_400_saying_so(admin, hook, method, path, raw, fragment):
    with nothing_written():
        response = getattr(admin, method)(
            target_url(path, hook), raw, content_type="application/json"
        )

    assert_detail(response, 400, fragment)


def deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(("method", "path"), BODY_TARGETS)
def test_json_nested_deeper_than_the_limit_is_400(admin, tenants, hook, method, path):
    body = {"type": "VM.CREATE", "data": deep(MAX_JSON_DEPTH + 1)}

    with nothing_written():
        response = getattr(admin, method)(target_url(path, hook), body, format="json")

    assert_detail(response, 400, f"nested deeper than {MAX_JSON_DEPTH}")


@pytest.mark.parametrize(("method", "path"), BODY_TARGETS)
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('[{"type": "VM.CREATE"}]', id="array"),
        pytest.param('"VM.CREATE"', id="string"),
        pytest.param("42", id="number"),
        pytest.param("true", id="boolean"),
    ],
)
def test_a_body_that_is_not_an_object_is_400(admin, hook, method, path, raw):
    with nothing_written():
        response = getattr(admin, method)(
            target_url(path, hook), raw, content_type="application/json"
        )

    assert_field_error(response, "non_field_errors", "Expected a dictionary")


@pytest.mark.parametrize(("method", "path"), BODY_TARGETS)
def test_a_null_body_is_400(admin, hook, method, path):
    with nothing_written():
        response = getattr(admin, method)(
            target_url(path, hook), "null", content_type="application/json"
        )

    assert response.status_code == 400, response.content[:300]
    assert "non_field_errors" in errors(response) or "detail" in errors(response)


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        pytest.param(EVENTS, {}, id="event"),
        pytest.param(TEST_URL, {"payload_url": "https://example.com/hook"}, id="test-url"),
        pytest.param("webhook-test", {}, id="webhook-test"),
    ],
)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(["a", "b"], id="list"),
        pytest.param("text", id="string"),
        pytest.param(3, id="number"),
        pytest.param(None, id="null"),
    ],
)
def test_event_data_that_is_not_an_object_is_400_naming_data(
    admin, tenants, hook, path, extra, data
):
    url = f"{WEBHOOKS}{hook.id}/test/" if path == "webhook-test" else path
    body = {**extra, "type": "VM.CREATE", "data": data}
    if path == EVENTS:
        body["account"] = str(tenants["east_acct"].id)

    with nothing_written():
        response = admin.post(url, body, format="json")

    assert_field_error(response, "data", "dictionary" if data is not None else "null")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        pytest.param(EVENTS, '"type": "VM.CREATE", "account": "{account}", ', id="event"),
        pytest.param(
            BATCH, '"events": [{{"type": "VM.CREATE", "account": "{account}", ', id="batch"
        ),
        pytest.param(TEST_URL, '"payload_url": "https://example.com/hook", ', id="test-url"),
        pytest.param("webhook-test", "", id="webhook-test"),
    ],
)
def test_a_non_json_number_in_event_data_is_400_not_a_500(
    admin, tenants, hook, path, prefix, constant
):
    # Python's json module reads NaN and Infinity, which JSON does not have.
    raw = "{" + prefix.format(account=tenants["east_acct"].id)
    raw += f'"data": {{"load": {constant}}}}}'
    raw += "]}" if path == BATCH else ""
    url = f"{WEBHOOKS}{hook.id}/test/" if path == "webhook-test" else path

    with nothing_written():
        response = admin.post(url, raw, content_type="application/json")

    assert response.status_code == 400, response.content[:300]
    body = errors(response)
    assert "data" in json.dumps(body) or constant in json.dumps(body), body


# --- event types -------------------------------------------------------------------------------

BAD_EVENT_TYPES = [
    pytest.param("VM CREATE", id="space"),
    pytest.param("VM/CREATE", id="slash"),
    pytest.param("VM:CREATE", id="colon"),
    pytest.param("VM.CREATE\n", id="trailing-lf"),
    pytest.param(" VM.CREATE", id="leading-space"),
    pytest.param("VM\r\nCREATE", id="crlf"),
    pytest.param("VM.CREATE;drop", id="semicolon"),
    pytest.param("VM.*", id="wildcard"),
    pytest.param("<script>", id="angle-brackets"),
    pytest.param("VM.CRÉATE", id="non-ascii"),
    pytest.param("", id="empty"),
    pytest.param("A" * 129, id="129-characters"),
]


@pytest.mark.parametrize("event_type", BAD_EVENT_TYPES)
def test_publishing_an_event_type_with_forbidden_characters_is_400(admin, tenants, event_type):
    with nothing_written():
        response = admin.post(EVENTS, event_body(tenants, type=event_type), format="json")

    assert_field_error(response, "type", "")


@pytest.mark.parametrize("event_type", BAD_EVENT_TYPES)
@pytest.mark.parametrize("target", ["test-url", "webhook-test"])
def test_a_test_event_type_with_forbidden_characters_is_400(admin, hook, target, event_type):
    if target == "test-url":
        url, body = TEST_URL, {"payload_url": "https://example.com/hook", "type": event_type}
    else:
        url, body = f"{WEBHOOKS}{hook.id}/test/", {"type": event_type}

    with nothing_written():
        response = admin.post(url, body, format="json")

    assert_field_error(response, "type", "")


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


# --- secrets -----------------------------------------------------------------------------------


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


@pytest.mark.parametrize("size", [24, 64])
def test_secrets_at_the_bounds_are_accepted(admin, tenants, size):
    response = admin.post(WEBHOOKS, webhook_body(tenants, secret=whsec(size)), format="json")

    assert response.status_code == 201, response.content[:300]


# --- custom headers ------------------------------------------------------------------------------

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


# --- timeout and max-attempts overrides --------------------------------------------------------


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


# --- pagination --------------------------------------------------------------------------------

LISTS = [WEBHOOKS, EVENTS, DELIVERIES, f"{API}domains/", f"{API}accounts/", f"{API}users/"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("query", "field", "fragment"),
    [
        pytest.param("limit=0", "limit", "between 1 and", id="limit-0"),
        pytest.param("limit=-1", "limit", "between 1 and", id="limit-negative"),
        pytest.param("limit=abc", "limit", "not a whole number", id="limit-text"),
        pytest.param("limit=1.5", "limit", "not a whole number", id="limit-fraction"),
        pytest.param(f"limit={10**9}", "limit", "between 1 and 500", id="limit-huge"),
        pytest.param("limit=501", "limit", "between 1 and 500", id="limit-over-max"),
        pytest.param(f"limit={'9' * 5000}", "limit", "", id="limit-5000-digits"),
        pytest.param("offset=-1", "offset", "at least 0", id="offset-negative"),
        pytest.param("offset=abc", "offset", "not a whole number", id="offset-text"),
    ],
)
def test_a_bad_page_window_is_400_naming_the_parameter(
    admin, delivery, path, query, field, fragment
):
    assert settings.API_MAX_PAGE_SIZE == 500

    with nothing_written():
        response = admin.get(f"{path}?{query}")

    assert_field_error(response, field, fragment)


def test_the_largest_page_is_allowed(admin, delivery):
    response = admin.get(f"{DELIVERIES}?limit={settings.API_MAX_PAGE_SIZE}")

    assert response.status_code == 200


def test_the_tokens_list_refuses_a_bad_limit_too(admin):
    response = admin.get(f"{API}tokens/?limit=0")

    assert_field_error(response, "limit", "between 1 and")


# --- filters and ordering ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        pytest.param(DELIVERIES, "status=bogus", "status", id="deliveries-status"),
        pytest.param(DELIVERIES, "status=failed&status=bogus", "status", id="deliveries-status-2"),
        pytest.param(DELIVERIES, "webhook=not-a-uuid", "webhook", id="deliveries-webhook"),
        pytest.param(DELIVERIES, "event=42", "event", id="deliveries-event"),
        pytest.param(DELIVERIES, "http_status=abc", "http_status", id="deliveries-http-status"),
        pytest.param(DELIVERIES, "created_after=yesterday", "created_after", id="deliveries-date"),
        pytest.param(
            DELIVERIES, "created_before=2024-13-45", "created_before", id="deliveries-date-2"
        ),
        pytest.param(WEBHOOKS, "scope=bogus", "scope", id="webhooks-scope"),
        pytest.param(WEBHOOKS, "account=not-a-uuid", "account", id="webhooks-account"),
        pytest.param(WEBHOOKS, "domain=xyz", "domain", id="webhooks-domain"),
        pytest.param(
            WEBHOOKS,
            "enabled=maybe",
            "enabled",
            id="webhooks-enabled",
        ),
        pytest.param(EVENTS, "account=not-a-uuid", "account", id="events-account"),
        pytest.param(EVENTS, "domain=1", "domain", id="events-domain"),
        pytest.param(EVENTS, "occurred_after=soon", "occurred_after", id="events-date"),
        pytest.param(f"{API}domains/", "parent=root", "parent", id="domains-parent"),
        pytest.param(f"{API}accounts/", "domain=east", "domain", id="accounts-domain"),
    ],
)
def test_an_unknown_filter_value_is_400_naming_the_filter(admin, delivery, path, query, field):
    with nothing_written():
        response = admin.get(f"{path}?{query}")

    assert_field_error(response, field, "")


@pytest.mark.parametrize(
    ("path", "ordering"),
    [
        pytest.param(WEBHOOKS, "secret", id="webhooks-secret"),
        pytest.param(WEBHOOKS, "-auth_password", id="webhooks-password"),
        pytest.param(WEBHOOKS, "name,bogus", id="webhooks-one-bad"),
        pytest.param(EVENTS, "data", id="events-data"),
        pytest.param(DELIVERIES, "claim_token", id="deliveries-claim-token"),
        pytest.param(DELIVERIES, "webhook__secret", id="deliveries-related"),
        pytest.param(f"{API}domains/", "bogus", id="domains"),
        pytest.param(f"{API}accounts/", "bogus", id="accounts"),
        pytest.param(f"{API}users/", "password", id="users-password"),
    ],
)
def test_ordering_by_an_unknown_field_is_400_naming_ordering(admin, delivery, path, ordering):
    with nothing_written():
        response = admin.get(f"{path}?ordering={ordering}")

    assert_field_error(response, "ordering", "Cannot order by")


# --- content type ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), BODY_TARGETS)
@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        pytest.param("text/plain", '{"type": "VM.CREATE"}', id="text-plain"),
        pytest.param("application/x-www-form-urlencoded", "type=VM.CREATE", id="form"),
        pytest.param("multipart/form-data; boundary=x", "--x--", id="multipart"),
        pytest.param("application/xml", "<type>VM.CREATE</type>", id="xml"),
    ],
)
def test_a_body_that_is_not_json_is_415(admin, hook, method, path, content_type, raw):
    with nothing_written():
        response = getattr(admin, method)(target_url(path, hook), raw, content_type=content_type)

    assert_detail(response, 415, "Unsupported media type")


# --- unknown ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("get", f"{WEBHOOKS}{UNKNOWN_ID}/", id="webhook-get"),
        pytest.param("patch", f"{WEBHOOKS}{UNKNOWN_ID}/", id="webhook-patch"),
        pytest.param("put", f"{WEBHOOKS}{UNKNOWN_ID}/", id="webhook-put"),
        pytest.param("delete", f"{WEBHOOKS}{UNKNOWN_ID}/", id="webhook-delete"),
        pytest.param("post", f"{WEBHOOKS}{UNKNOWN_ID}/rotate-secret/", id="webhook-rotate"),
        pytest.param("post", f"{WEBHOOKS}{UNKNOWN_ID}/test/", id="webhook-test"),
        pytest.param("get", f"{WEBHOOKS}not-a-uuid/", id="webhook-malformed-id"),
        pytest.param("patch", f"{WEBHOOKS}not-a-uuid/", id="webhook-patch-malformed-id"),
        pytest.param("get", f"{EVENTS}{UNKNOWN_ID}/", id="event-get"),
        pytest.param("get", f"{EVENTS}12345/", id="event-malformed-id"),
        pytest.param("get", f"{DELIVERIES}{UNKNOWN_ID}/", id="delivery-get"),
        pytest.param("delete", f"{DELIVERIES}{UNKNOWN_ID}/", id="delivery-delete"),
        pytest.param("post", f"{DELIVERIES}{UNKNOWN_ID}/redeliver/", id="delivery-redeliver"),
        pytest.param("get", f"{DELIVERIES}zzz/", id="delivery-malformed-id"),
        pytest.param("get", f"{API}domains/{UNKNOWN_ID}/", id="domain-get"),
        pytest.param("delete", f"{API}domains/{UNKNOWN_ID}/", id="domain-delete"),
        pytest.param("get", f"{API}accounts/{UNKNOWN_ID}/", id="account-get"),
        pytest.param("get", f"{API}users/999999/", id="user-get"),
        pytest.param("get", f"{API}users/abc/", id="user-malformed-id"),
        pytest.param("get", f"{API}tokens/{'0' * 15}/", id="token-get"),
        pytest.param("delete", f"{API}tokens/{'0' * 15}/", id="token-delete"),
    ],
)
def test_an_unknown_id_is_404(admin, delivery, method, path):
    with nothing_written():
        response = getattr(admin, method)(path, {"name": "x"}, format="json")

    assert response.status_code == 404, response.content[:300]
    detail = errors(response)["detail"]
    assert "not found" in detail.lower() or "matches the given query" in detail, detail


def test_another_tenants_webhook_is_404_not_403(east_user, tenants):
    other = WebhookFactory(account=tenants["west_acct"], payload_url="https://example.com/x")

    with nothing_written():
        response = east_user.patch(f"{WEBHOOKS}{other.id}/", {"name": "mine"}, format="json")

    assert_detail(response, 404, "")


# --- authentication and roles ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("get", WEBHOOKS, id="webhooks-list"),
        pytest.param("post", WEBHOOKS, id="webhooks-create"),
        pytest.param("patch", "hook", id="webhook-patch"),
        pytest.param("post", TEST_URL, id="webhooks-test-url"),
        pytest.param("post", EVENTS, id="events-publish"),
        pytest.param("post", BATCH, id="events-batch"),
        pytest.param("get", DELIVERIES, id="deliveries-list"),
        pytest.param("post", RECOVER, id="recover"),
        pytest.param("get", f"{API}domains/", id="domains-list"),
        pytest.param("post", f"{API}tokens/", id="tokens-create"),
    ],
)
@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        pytest.param(None, "credentials were not provided", id="no-token"),
        pytest.param("Token " + "0" * 64, "Invalid token", id="unknown-token"),
        pytest.param("Token", "Invalid token header", id="empty-token"),
        pytest.param("Bearer abc", "credentials were not provided", id="other-scheme"),
    ],
)
def test_without_a_valid_token_it_is_401(tenants, hook, method, path, authorization, fragment):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)

    with nothing_written():
        response = getattr(client, method)(
            target_url(path, hook), event_body(tenants), format="json"
        )

    assert_detail(response, 401, fragment)
    assert response["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("get", f"{API}domains/", id="domains-list"),
        pytest.param("get", f"{API}accounts/", id="accounts-list"),
        pytest.param("get", f"{API}users/", id="users-list"),
        pytest.param("post", f"{API}domains/", id="domains-create"),
        pytest.param("post", f"{API}accounts/", id="accounts-create"),
        pytest.param("post", f"{API}users/", id="users-create"),
    ],
)
def test_a_user_cannot_reach_the_tenant_admin_endpoints(east_user, tenants, method, path):
    body = {"name": "mine", "parent": str(tenants["east"].id), "domain": str(tenants["east"].id)}

    with nothing_written():
        response = getattr(east_user, method)(path, body, format="json")

    assert_detail(response, 403, "Only root and domain admins")


def test_a_user_reading_their_own_domain_is_403_too(east_user, tenants):
    with nothing_written():
        response = east_user.get(f"{API}domains/{tenants['east'].id}/")

    assert_detail(response, 403, "Only root and domain admins")


# --- event batches -----------------------------------------------------------------------------


def test_a_batch_over_the_limit_is_400_naming_events(admin, tenants):
    limit = settings.API_EVENT_BATCH_MAX
    items = [event_body(tenants, id=str(uuid.uuid4())) for _ in range(limit + 1)]

    with nothing_written():
        response = admin.post(BATCH, {"events": items}, format="json")

    assert_field_error(response, "events", f"At most {limit} events")


def test_a_batch_at_the_limit_is_accepted(admin, tenants):
    items = [event_body(tenants) for _ in range(settings.API_EVENT_BATCH_MAX)]

    response = admin.post(BATCH, {"events": items}, format="json")

    assert response.status_code == 202, response.content[:300]
    assert Event.objects.count() == settings.API_EVENT_BATCH_MAX


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param({"events": []}, "empty", id="empty-list"),
        pytest.param({}, "required", id="missing"),
        pytest.param({"events": None}, "null", id="null"),
        pytest.param({"events": {"type": "VM.CREATE"}}, "list", id="object-not-list"),
        pytest.param({"events": "VM.CREATE"}, "list", id="string"),
    ],
)
def test_an_empty_or_malformed_batch_is_400_naming_events(admin, body, fragment):
    with nothing_written():
        response = admin.post(BATCH, body, format="json")

    assert_field_error(response, "events", fragment)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        pytest.param({"type": "VM CREATE"}, "type", id="bad-type"),
        pytest.param({"data": ["not", "an", "object"]}, "data", id="data-not-object"),
        pytest.param({"data": {"note": "a\u0000b"}}, "data", id="nul-in-data"),
        pytest.param({"account": UNKNOWN_ID}, "account", id="unknown-account"),
        pytest.param({"timestamp": "yesterday"}, "timestamp", id="bad-timestamp"),
        pytest.param({"id": "not-a-uuid"}, "id", id="bad-id"),
    ],
)
def test_one_bad_item_refuses_the_whole_batch_naming_it(admin, tenants, hook, bad, field):
    # given two good events around a bad one
    items = [event_body(tenants), event_body(tenants, **bad), event_body(tenants)]

    # when
    with nothing_written():
        response = admin.post(BATCH, {"events": items}, format="json")

    # then the answer points at events[1].<field>, and none of the three was stored
    assert response.status_code == 400, response.content[:300]
    body = errors(response)
    assert list(body) == ["events"], body
    per_item = body["events"]
    if isinstance(per_item, list):  # DRF's older shape: one entry per item, {} when fine
        per_item = {str(i): e for i, e in enumerate(per_item) if e}
    assert list(per_item) == ["1"], per_item
    assert field in per_item["1"], per_item


def test_a_batch_item_that_is_not_an_object_is_400(admin, tenants):
    items = [event_body(tenants), "VM.CREATE"]

    with nothing_written():
        response = admin.post(BATCH, {"events": items}, format="json")

    assert response.status_code == 400
    assert "events" in errors(response)


# --- recover -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until"),
    [
        pytest.param("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z", id="since-after-until"),
        pytest.param("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", id="since-equals-until"),
        pytest.param("2024-01-01T02:00:00+02:00", "2024-01-01T00:00:00Z", id="same-instant"),
        pytest.param("2999-01-01T00:00:00Z", None, id="since-in-the-future"),
    ],
)
def test_recover_with_since_not_before_until_is_400_naming_since(
    admin, hook, delivery, since, until
):
    body = {"webhook": str(hook.id), "since": since}
    if until:
        body["until"] = until

    with nothing_written():
        response = admin.post(RECOVER, body, format="json")

    assert_field_error(response, "since", "Must be before until")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"since": "2024-01-01T00:00:00Z"}, "webhook", id="missing-webhook"),
        pytest.param({"webhook": UNKNOWN_ID, "since": "2024-01-01T00:00:00Z"}, "webhook", id="u"),
        pytest.param({"webhook": "hook", "since": "last week"}, "since", id="bad-since"),
        pytest.param({"webhook": "hook"}, "since", id="missing-since"),
        pytest.param(
            {"webhook": "hook", "since": "2024-01-01T00:00:00Z", "dry_run": "perhaps"},
            "dry_run",
            id="bad-dry-run",
        ),
    ],
)
def test_recover_with_a_bad_field_is_400_naming_it(admin, hook, delivery, body, field):
    body = {k: str(hook.id) if v == "hook" else v for k, v in body.items()}

    with nothing_written():
        response = admin.post(RECOVER, body, format="json")

    assert_field_error(response, field, "")


def test_recover_of_another_tenants_webhook_is_400_naming_webhook(east_user, tenants):
    theirs = WebhookFactory(account=tenants["west_acct"], payload_url="https://example.com/x")
    DeliveryFactory(webhook=theirs, status=DeliveryStatus.FAILED)
    body = {"webhook": str(theirs.id), "since": "2000-01-01T00:00:00Z"}

    with nothing_written():
        response = east_user.post(RECOVER, body, format="json")

    assert_field_error(response, "webhook", "does not exist")


# --- the refusals leave valid requests working -------------------------------------------------


def test_the_webhook_used_above_accepts_a_valid_change(admin, hook):
    # The PATCH cases above would have succeeded but for their one bad field.
    response = admin.patch(
        f"{WEBHOOKS}{hook.id}/", {"name": "renamed", "description": "changed"}, format="json"
    )

    assert response.status_code == 200, response.content[:300]
    hook.refresh_from_db()
    assert (hook.name, hook.description) == ("renamed", "changed")
