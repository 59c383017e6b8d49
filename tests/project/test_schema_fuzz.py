"""Property-based run of the whole REST API against its own OpenAPI schema.

Schemathesis reads /api/schema/ from the WSGI application in-process and makes
one test per operation. Each sends schema-derived requests (the coverage phase:
boundary and negative values for every parameter and body field, wrong types,
missing fields, unexpected methods; then the fuzzing phase: `MAX_EXAMPLES`
random cases) as a root admin with a knox token, against a database holding
tenants, users of each role, webhooks, events, deliveries and an attempt.
Path ids are the ids of those rows half the time, so the views behind /{id}/
are reached, not only their 404. The one property: no response is a 5xx.

Bounded and reproducible: `MAX_EXAMPLES` per operation, no Hypothesis deadline,
derandomized (the same cases on every run), no example database. Nothing is
excluded.

No network I/O: WEBHOOK_ALLOW_PRIVATE_IPS is off in tests, so the sender refuses
private addresses at connect time; any other destination (a fuzzed URL that
passes vetting) is answered by a stand-in without sending (`NoNetworkSender`).

The run prints its request count, duration and status counts at the end.
"""

from __future__ import annotations

import time
from collections import Counter
from urllib.parse import urlsplit

import hypothesis.strategies as st
import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error

from deliveries import http
from deliveries.http import SendResult
from deliveries.jobs_api import RecoverThrottle
from deliveries.models import Delivery, DeliveryStatus, Event
from hooks.destinations import address_refusal, host_as_address
from hooks.models import Account, Domain, Role, Webhook
from hooks.services import token_issue
from tests.factories import (
    DeliveryAttemptFactory,
    DeliveryFactory,
    EventFactory,
    MembershipFactory,
    UserFactory,
    WebhookFactory,
)
from webhooks_project.wsgi import application

pytestmark = [
    pytest.mark.django_db,
]

# Hypothesis keeps caches (constants, Unicode tables) even without an example
# database: in the run's VAR_DIR, not in the source tree.
set_hypothesis_home_dir(django_settings.VAR_DIR / "hypothesis")

MAX_EXAMPLES = 25  # fuzzing-phase cases per operation; the coverage phase adds its own
SCHEMA_PATH = "/api/schema/"


def in_test_transaction(environ, start_response):
    """The project's WSGI application, minus Django's per-request connection check.

    Django's handler calls close_old_connections() when a request starts and
    ends; inside the test's transaction (pytest-django's `db`) that would close
    the connection and lose the fixtures, so Django's own test client
    disconnects it the same way. Everything else (middleware, routing, and the
    handling that turns an uncaught exception into a 500) is the real thing.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = application(environ, start_response)
        try:
            body = b"".join(response)
        finally:
            response.close()  # sends request_finished
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return [body]


class NoNetworkSender:
    """The real sender for destinations it refuses at connect time (nothing
    leaves the machine); a refusal without sending for any other."""

    def __init__(self, real):
        self.real = real

    def send(self, request):
        try:
            address = host_as_address(urlsplit(request.url).hostname or "")
        except ValueError:
            address = None
        if address is not None and address_refusal(address):
            return self.real.send(request)
        return SendResult(error_class="DestinationRefused", error_message="fuzz run: not sent")

    def send_many(self, requests, on_done, **kwargs):
        on_done([(request, self.send(request)) for request in requests])


# Loaded when the module is collected (the schema view needs no database).
schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, in_test_transaction)

# Ids of the fixture rows, by collection path; set per test by `api_data`.
KNOWN_IDS: dict[str, list[str]] = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the time, the id of a row that exists."""
    name = next(iter(path_parameters or {}), None)
    ids = next(
        (ids for prefix, ids in KNOWN_IDS.items() if context.operation.path.startswith(prefix)),
        [],
    )
    if name is None or not ids:
        return st.just(path_parameters)
    return st.one_of(
        st.just(path_parameters),
        st.sampled_from(ids).map(lambda pk: {**path_parameters, name: pk}),
    )


RUN = {"statuses": Counter(), "operations": set(), "server_errors": [], "started": 0.0}


def pytest_generate_tests(metafunc):
    # Under pytest 9, schemathesis's per-operation tests all get the node id of
    # the function (pytest builds it from the original name, not the one with
    # the operation in it) unless they are parametrized: then the id carries
    # the operation, e.g. test_api[POST /api/v1/webhooks/][no-5xx].
    if "run" in metafunc.fixturenames:
        metafunc.parametrize("run", [RUN], ids=["no-5xx"])


@pytest.fixture(scope="module", autouse=True)
def fuzz_summary(request):
    """Prints the run's request count, duration, statuses and any 5xx at the end."""
    RUN["started"] = time.monotonic()
    yield
    elapsed = time.monotonic() - RUN["started"]
    lines = [
        f"schema fuzz: {sum(RUN['statuses'].values())} requests to "
        f"{len(RUN['operations'])} operations in {elapsed:.1f}s",
        "  statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(RUN["statuses"].items())),
        *(f"  5xx: {line}" for line in RUN["server_errors"]),
    ]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)


@pytest.fixture
def api_data(tenants, monkeypatch):
    """Rows for every operation to act on; returns the root admin's token key."""
    real_sender = http.get_sender
    monkeypatch.setattr(http, "get_sender", lambda: NoNetworkSender(real_sender()))
    # Recovery is limited to a few calls an hour per user: lift it, so the run
    # reaches the view rather than the throttle (whose counts live in the cache).
    monkeypatch.setattr(RecoverThrottle, "rate", "1000000/hour", raising=False)
    cache.clear()

    root = MembershipFactory(
        user=UserFactory(username="fuzz-root", is_superuser=True, is_staff=True),
        account=tenants["root_acct"],
        role=Role.ROOT_ADMIN,
    ).user
    MembershipFactory(account=tenants["east_acct"], role=Role.DOMAIN_ADMIN)
    other = MembershipFactory(account=tenants["west_acct"], role=Role.USER).user
    token_issue(user=other)
    # A private address: test and redeliver reach the real sender, which refuses it.
    private = WebhookFactory(account=tenants["east_acct"], event_types=["VM.*"])
    # A public URL: a PATCH that leaves payload_url alone can succeed.
    public = WebhookFactory(
        account=tenants["west_acct"],
        payload_url="https://receiver.example/hook",
        headers={"X-Team": "west"},
    )
    event = EventFactory(account=tenants["east_acct"], data={"name": "vm-1", "tags": ["a"]})
    failed = DeliveryFactory(webhook=private, event=event, status=DeliveryStatus.FAILED)
    DeliveryAttemptFactory(delivery=failed, number=1)
    DeliveryFactory(webhook=public, event=EventFactory(account=tenants["west_acct"]))
    key = token_issue(user=root)[1]

    def ids(queryset) -> list[str]:
        return [str(pk) for pk in queryset.values_list("pk", flat=True)]

    KNOWN_IDS.update(
        {
            "/api/v1/webhooks/": ids(Webhook.objects.all()),
            "/api/v1/events/": ids(Event.objects.all()),
            "/api/v1/deliveries/": ids(Delivery.objects.all()),
            "/api/v1/domains/": ids(Domain.objects.all()),
            "/api/v1/accounts/": ids(Account.objects.all()),
            "/api/v1/users/": ids(get_user_model().objects.all()),
            # Not the run's own token: deleting it would end the run's access.
            "/api/v1/tokens/": list(
                AuthToken.objects.exclude(user=root).values_list("token_key", flat=True)
            ),
        }
    )
    yield key
    KNOWN_IDS.clear()
    cache.clear()


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
@schema.parametrize()
def test_api(case, run, api_data):
    headers = {"Authorization": f"Token {api_data}"}

    if case.method.upper() == "DELETE":
        # Put deleted rows back, so every case of an operation finds the ids it
        # was generated with (Hypothesis insists on that), and nothing else
        # loses its rows.
        with transaction.atomic():
            response = case.call(headers=headers)
            transaction.set_rollback(True)
    else:
        response = case.call(headers=headers)

    run["statuses"][response.status_code] += 1
    run["operations"].add(case.operation.label)
    if response.status_code >= 500:
        run["server_errors"].append(
            f"{case.operation.label} -> {response.status_code}: {case.as_curl_command(headers)}"
        )
    case.validate_response(response, checks=[not_a_server_error])
