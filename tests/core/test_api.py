"""The API's shared request handling (webhooks_project/api.py): the JSON parser's
limits, content types, pagination, filters and ordering, unknown ids; on every
endpoint that takes them.

Bad input gets a clear 4xx, never a 500, and nothing is half-written: every
case asserts the exact status, that the JSON error names the field (or, for
errors about the request as a whole, that `detail` says what was wrong), and
that no row was created or changed and nothing was sent (nothing_written).
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.conf import settings as django_settings
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.api import MAX_JSON_DEPTH, ConsoleContentNegotiation
from tests.api_client import (
    assert_detail,
    assert_field_error,
    errors,
    nothing_written,
    target_url,
)
from tests.conftest import (
    API,
    BATCH,
    DELIVERIES,
    EVENTS,
    RECOVER,
    TEST_URL,
    UNKNOWN_ID,
    WEBHOOKS,
)
from tests.factories import (
    EventFactory,
    WebhookFactory,
)

pytestmark = [
    pytest.mark.django_db,
]


# --- request bodies: size, JSON, shape, nesting -----------------------------------------------


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


# --- content type -----------------------------------------------------------------------------


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


# --- pagination -------------------------------------------------------------------------------


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


@pytest.mark.usefixtures("no_sending")
def test_the_largest_page_is_allowed(admin, delivery):
    response = admin.get(f"{DELIVERIES}?limit={settings.API_MAX_PAGE_SIZE}")

    assert response.status_code == 200


@pytest.mark.usefixtures("no_sending")
def test_the_tokens_list_refuses_a_bad_limit_too(admin):
    response = admin.get(f"{API}tokens/?limit=0")

    assert_field_error(response, "limit", "between 1 and")


def test_limit_and_offset_give_a_slice_and_the_count(admin, tenants):
    for name in ("a", "b", "c", "d", "e"):
        WebhookFactory(name=name, account=tenants["east_acct"])

    page = admin.get(f"{WEBHOOKS}?ordering=name&limit=2&offset=1").json()

    assert page["count"] == 5
    assert [item["name"] for item in page["results"]] == ["b", "c"]
    assert "offset=3" in page["next"]
    assert page["previous"] is not None


def test_the_maximum_page_size_is_accepted_and_one_more_is_refused(admin, tenants, settings):
    settings.API_MAX_PAGE_SIZE = 3
    for _ in range(4):
        EventFactory(account=tenants["east_acct"])

    page = admin.get(f"{EVENTS}?limit=3")
    too_big = admin.get(f"{EVENTS}?limit=4")

    assert page.status_code == 200
    assert (page.json()["count"], len(page.json()["results"])) == (4, 3)
    assert too_big.status_code == 400
    assert list(too_big.json()) == ["limit"]


def test_the_default_maximum_page_size_is_accepted(admin):
    limit = django_settings.API_MAX_PAGE_SIZE

    assert admin.get(f"{DELIVERIES}?limit={limit}").status_code == 200
    assert admin.get(f"{DELIVERIES}?limit={limit + 1}").status_code == 400


# --- filters and ordering ---------------------------------------------------------------------


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


# --- unknown ids ------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/events/", "created_before"),
        ("/api/v1/events/", "occurred_after"),
        ("/api/v1/deliveries/", "created_after"),
    ],
)
def test_a_date_filter_with_an_offset_postgresql_refuses_is_compared_in_utc(admin, path, param):
    # given an offset Python and ISO 8601 allow but PostgreSQL does not (±15:59 at most)
    value = "2984-10-31T22:34:12.916889+16:20"

    # when
    response = admin.get(path, {param: value})

    # then it is a filter like any other, not a 500
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json; indent=4"])
@pytest.mark.parametrize(("query", "suffix"), [("", None), ("format=json", None), ("", "json")])
def test_negotiation_answers_what_drf_answers_for_json_clients(accept, query, suffix):
    # The shortcut for the Accept headers every client sends is DRF's own answer.
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/v1/events/?{query}", **headers))
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]

    ours = ConsoleContentNegotiation().select_renderer(request, renderers, suffix)

    theirs = DefaultContentNegotiation().select_renderer(request, renderers, suffix)
    assert (ours[0], ours[1]) == (theirs[0], theirs[1])
