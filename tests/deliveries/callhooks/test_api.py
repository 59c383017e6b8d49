"""The REST API's write operations as hooked calls (deliveries/callhooks/api.py):
method names, params and results without secrets, errors, tenancy, and no
events at all when nobody listens."""

from __future__ import annotations

import pytest
from django.urls import get_resolver

from deliveries.callhooks.api import WRITES, CallHookMixin, camel
from deliveries.models import Delivery, Event
from hooks.models import Role, Scope, Webhook
from tests.api_client import client_for, url_of, webhook_body
from tests.conftest import EVENTS, TOKENS, UNKNOWN_ID, USERS, WEBHOOKS
from tests.factories import TEST_SECRET, MembershipFactory, WebhookFactory
from webhooks_project.urls import router

pytestmark = pytest.mark.django_db


@pytest.fixture
def east_admin(tenants):
    """An API client of east's domain admin, "eve"."""
    membership = MembershipFactory(
        account=tenants["east_acct"], role=Role.DOMAIN_ADMIN, user__username="eve"
    )
    client = client_for(membership.user)
    client.user = membership.user
    return client


@pytest.fixture
def audit(tenants):
    """East's audit trail: every call, pre and post."""
    return WebhookFactory(name="audit", account=tenants["east_acct"], call_methods=["*"])


def calls() -> list[dict]:
    """The call events' data, oldest first."""
    return [
        e.data for e in Event.objects.filter(type__startswith="call.").order_by("occurred_at", "id")
    ]


def one_call() -> tuple[dict, dict]:
    pre, post = calls()
    assert (pre["type"], post["type"]) == ("pre", "post")
    assert pre["callId"] == post["callId"]
    return pre, post


def test_creating_a_webhook_is_a_call_with_pre_and_post(east_admin, audit, tenants):
    body = webhook_body(tenants, secret=TEST_SECRET, auth_password="listener-pw")

    response = east_admin.post(WEBHOOKS, body, format="json")

    assert response.status_code == 201, response.content
    pre, post = one_call()
    assert pre["method"] == post["method"] == "webhook.create"
    assert pre["userId"] == str(east_admin.user.pk) and pre["userName"] == "eve"
    assert pre["params"] == body | {"secret": "[redacted]", "auth_password": "[redacted]"}
    assert post["result"]["id"] == response.json()["id"]
    assert post["result"]["name"] == "orders" and "error" not in post
    for event in Event.objects.filter(type__startswith="call."):
        assert event.account == tenants["east_acct"] and event.domain == tenants["east"]
    assert Delivery.objects.filter(webhook=audit).count() == 2


@pytest.mark.parametrize(
    ("kind", "request_", "leaked"),
    [
        ("generated secret", ("post", WEBHOOKS, {}), "secret"),
        ("given secret", ("post", WEBHOOKS, {"secret": TEST_SECRET}), TEST_SECRET),
        ("listener password", ("post", WEBHOOKS, {"auth_password": "pw-123456"}), "pw-123456"),
        ("header credential", ("post", WEBHOOKS, {"headers": {"X-Api-Key": "k-9"}}), "k-9"),
        ("user password", ("post", USERS, {"password": "a-long-password"}), "a-long-password"),
        ("token key", ("post", TOKENS, {}), "key"),
        ("rotated secret", ("rotate", None, {"secret": TEST_SECRET}), TEST_SECRET),
        ("updated secret", ("patch", None, {"secret": TEST_SECRET}), TEST_SECRET),
        ("updated password", ("patch", None, {"auth_password": "pw-654321"}), "pw-654321"),
    ],
)
def test_secrets_passwords_and_keys_never_appear(
    east_admin, audit, tenants, kind, request_, leaked
):
    verb, path, extra = request_
    hook = WebhookFactory(account=tenants["east_acct"], payload_url="https://example.com/x")
    if path == WEBHOOKS:
        response = east_admin.post(path, webhook_body(tenants, **extra), format="json")
    elif path == USERS:
        body = {"username": "carl", "account": str(tenants["east_acct"].id)} | extra
        response = east_admin.post(path, body, format="json")
    elif path == TOKENS:
        response = east_admin.post(path, {}, format="json")
    elif verb == "rotate":
        response = east_admin.post(f"{url_of(hook)}rotate-secret/", extra, format="json")
    else:
        response = east_admin.patch(url_of(hook), extra, format="json")
    assert response.status_code in (200, 201), response.content

    # What the caller was shown, secret included, is nowhere in the call events
    answer = response.json()
    shown = answer.get("secret") or answer.get("key") or leaked
    text = str(calls())
    assert shown not in text, kind
    assert leaked == "secret" or leaked == "key" or leaked not in text, kind
    assert "[redacted]" in text, kind


def test_method_names_of_the_platforms_operations(east_admin, audit, tenants):
    hook = WebhookFactory(account=tenants["east_acct"], payload_url="https://example.com/x")
    east_admin.patch(url_of(hook), {"name": "renamed"}, format="json")
    east_admin.put(url_of(hook), webhook_body(tenants), format="json")
    east_admin.post(f"{url_of(hook)}rotate-secret/", {}, format="json")
    east_admin.post(f"{url_of(hook)}resume/", {}, format="json")
    east_admin.delete(url_of(hook))
    east_admin.post(EVENTS, {"type": "VM.CREATE", "data": {}}, format="json")
    east_admin.get(WEBHOOKS)  # a read: no call

    methods = [body["method"] for body in calls() if body["type"] == "pre"]
    assert methods == [
        "webhook.update",
        "webhook.update",
        "webhook.rotateSecret",
        "webhook.resume",
        "webhook.delete",
        "event.publish",
    ]
    assert [body["params"].get("id") for body in calls() if body["type"] == "pre"][:5] == [
        str(hook.id)
    ] * 5


def test_publishing_an_event_with_an_event_publish_listener_makes_three_events(east_admin, tenants):
    WebhookFactory(account=tenants["east_acct"], call_methods=["event.publish"])

    response = east_admin.post(EVENTS, {"type": "VM.CREATE", "data": {"n": 1}}, format="json")

    assert response.status_code == 202
    # The event and its call's pre and post: the call events are published
    # from Python, not over the API, so they are no calls themselves.
    assert sorted(Event.objects.values_list("type", flat=True)) == [
        "VM.CREATE",
        "call.post",
        "call.pre",
    ]
    pre, post = one_call()
    assert pre["params"] == {"type": "VM.CREATE", "data": {"n": 1}}
    assert post["result"] == {"id": response.json()["id"], "deliveries": 0, "created": True}


def test_publishing_with_no_call_listener_makes_one_event(east_admin, tenants):
    WebhookFactory(account=tenants["east_acct"], call_methods=["webhook.*"])  # another method
    WebhookFactory(account=tenants["west_acct"], call_methods=["*"])  # another tenancy

    response = east_admin.post(EVENTS, {"type": "VM.CREATE", "data": {}}, format="json")

    assert response.status_code == 202
    assert list(Event.objects.values_list("type", flat=True)) == ["VM.CREATE"]


def test_a_refused_call_posts_its_error(east_admin, audit, tenants):
    response = east_admin.post(
        WEBHOOKS, webhook_body(tenants, payload_url="ftp://example.com/"), format="json"
    )

    assert response.status_code == 400
    _, post = one_call()
    assert "result" not in post
    assert post["error"]["class"] == "ValidationError"
    assert post["error"]["status"] == 400
    assert "payload_url" in post["error"]["message"]


def test_a_call_on_an_unknown_id_posts_not_found(east_admin, audit):
    response = east_admin.patch(f"{WEBHOOKS}{UNKNOWN_ID}/", {"name": "x"}, format="json")

    assert response.status_code == 404
    pre, post = one_call()
    assert pre["params"] == {"id": UNKNOWN_ID, "name": "x"}
    assert post["error"] == {
        "class": "Http404",  # what get_object raised
        "message": "No Webhook matches the given query.",
        "status": 404,
    }


def test_an_answer_without_an_exception_posts_the_status_as_error(east_admin, audit, tenants):
    event_id = "01890a5d-ac96-774b-bcce-b302099a8057"
    east_admin.post(EVENTS, {"id": event_id, "type": "VM.CREATE", "data": {}}, format="json")
    Event.objects.filter(type__startswith="call.").delete()

    response = east_admin.post(
        EVENTS, {"id": event_id, "type": "VM.CREATE", "data": {"x": 1}}, format="json"
    )

    assert response.status_code == 409
    _, post = one_call()
    assert post["error"]["class"] == "Conflict" and post["error"]["status"] == 409
    assert event_id in post["error"]["message"]


def test_an_unexpected_exception_posts_a_500_and_propagates(east_admin, audit, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("deliveries.api.event_publish", broken)

    with pytest.raises(RuntimeError, match="disk full"):
        east_admin.post(EVENTS, {"type": "VM.CREATE", "data": {}}, format="json")

    _, post = one_call()
    assert post["error"] == {"class": "RuntimeError", "message": "disk full", "status": 500}


def test_a_malformed_body_is_a_call_that_fails_as_before(east_admin, audit):
    response = east_admin.generic("POST", EVENTS, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["detail"]
    pre, post = one_call()
    assert pre["params"] == {"body": "[not JSON]"}
    assert post["error"]["class"] == "ParseError"


def test_hooking_reads_no_body_the_view_would_not(east_admin, audit, tenants):
    # A delete never reads its body: one that is not JSON changes nothing.
    hook = WebhookFactory(account=tenants["east_acct"], payload_url="https://example.com/x")

    response = east_admin.generic("DELETE", url_of(hook), "{oops", content_type="application/json")

    assert response.status_code == 204
    pre, post = one_call()
    assert pre["method"] == "webhook.delete" and pre["params"]["body"] == "[not JSON]"
    assert post["result"] is None


def test_a_body_too_large_is_refused_as_before(east_admin, audit, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = settings.WEBHOOK_EVENT_MAX_BYTES = 2048
    body = '{"type": "VM.CREATE", "data": {"x": "' + "a" * 4000 + '"}}'

    response = east_admin.generic("POST", EVENTS, body, content_type="application/json")

    assert response.status_code == 413
    pre, post = one_call()
    assert pre["params"] == {"body": "[unreadable]"}
    assert post["error"]["status"] == 413


def test_a_request_refused_before_the_view_calls_nothing(audit, tenants, client):
    assert (
        client.post(WEBHOOKS, webhook_body(tenants), content_type="application/json").status_code
        == 401
    )
    east = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    assert client_for(east.user).post(USERS, {}, format="json").status_code == 403

    assert calls() == []


def test_other_tenants_do_not_hear_the_calls(east_admin, tenants, admin):
    west = WebhookFactory(account=tenants["west_acct"], call_methods=["*"])
    sub = WebhookFactory(account=tenants["east_sub_acct"], call_methods=["*"])
    east_domain = WebhookFactory(
        account=tenants["east_acct"], scope=Scope.DOMAIN, call_methods=["*"]
    )
    everyone = WebhookFactory(account=tenants["root_acct"], scope=Scope.GLOBAL, call_methods=["*"])

    east_admin.post(WEBHOOKS, webhook_body(tenants), format="json")

    def heard(hook: Webhook) -> int:
        return Delivery.objects.filter(webhook=hook).count()

    assert (heard(west), heard(sub), heard(east_domain), heard(everyone)) == (0, 0, 2, 2)

    # A root admin with no account: only global webhooks hear it.
    admin.post(WEBHOOKS, webhook_body(tenants), format="json")
    assert (heard(west), heard(sub), heard(east_domain), heard(everyone)) == (0, 0, 2, 4)


def test_call_event_types_cannot_be_published(east_admin):
    for type in ("call.pre", "call.post", "CALL.anything"):
        response = east_admin.post(EVENTS, {"type": type, "data": {}}, format="json")
        assert response.status_code == 400, type
        assert "reserved for call hooks" in str(response.json()["type"])


def test_the_webhook_api_takes_call_methods_and_phase(east_admin, tenants):
    body = webhook_body(
        tenants, event_types=[], call_methods=["vm.*", "webhook.create"], call_phase="post"
    )

    response = east_admin.post(WEBHOOKS, body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["call_methods"] == ["vm.*", "webhook.create"]
    assert response.json()["call_phase"] == "post"
    hook = Webhook.objects.get(pk=response.json()["id"])
    assert (hook.call_methods, hook.call_phase) == (["vm.*", "webhook.create"], "post")
    response = east_admin.patch(url_of(hook), {"call_phase": "pre"}, format="json")
    assert response.json()["call_phase"] == "pre"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("call_methods", ["vm start"]),
        ("call_methods", "vm.*"),
        ("call_methods", ["x" * 129]),
        ("call_methods", ["vm.*"] * 101),
        ("call_phase", "sometimes"),
    ],
)
def test_bad_call_hook_settings_are_refused(east_admin, tenants, field, value):
    response = east_admin.post(WEBHOOKS, webhook_body(tenants, **{field: value}), format="json")

    assert response.status_code == 400
    assert field in response.json()


# --- every write operation is hooked -------------------------------------------------------


def routed_write_methods() -> set[str]:
    """The method name of every write operation the API routes."""
    names = set()
    for _prefix, viewset, basename in router.registry:
        assert issubclass(viewset, CallHookMixin), viewset
        actions = {
            "create": "post",
            "update": "put",
            "partial_update": "patch",
            "destroy": "delete",
        }
        for action, http in actions.items():
            if hasattr(viewset, action) and http in viewset.http_method_names:
                view = viewset(action=action, basename=basename)
                names.add(view.call_hook_method_name(type("R", (), {"method": http.upper()})))
        for extra in viewset.get_extra_actions():
            if set(m.upper() for m in extra.mapping) & WRITES:
                verb = viewset.call_hook_verbs.get(extra.__name__) or camel(extra.__name__)
                names.add(f"{basename}.{verb}")
    for pattern in get_resolver().url_patterns:
        view = getattr(getattr(pattern, "callback", None), "view_class", None)
        if view is not None and getattr(view, "call_hook_method", None):
            names.add(view.call_hook_method)
    return names


def test_every_routed_write_operation_is_a_hooked_method():
    assert routed_write_methods() == {
        "account.create", "account.update", "account.delete",
        "domain.create", "domain.update", "domain.delete",
        "user.create", "user.update", "user.delete",
        "token.create", "token.delete",
        "webhook.create", "webhook.update", "webhook.delete",
        "webhook.rotateSecret", "webhook.resume", "webhook.test", "webhook.testUrl",
        "event.publish", "event.publishBatch",
        "delivery.delete", "delivery.bulkDelete", "delivery.redeliver", "delivery.recover",
        "delivery.requeue",
    }  # fmt: skip
