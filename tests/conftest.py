"""Shared fixtures and the API's URLs. The environment is set in tests/testenv.py.

Redis and the receiver are here because two suites start real workers
(tests/integration, tests/browser); the processes themselves are in tests/live.py.
"""

import os
import threading

import pytest

from deliveries.receiver import Receiver
from webhooks_project.redis_server import ensure_redis

# The REST API's routes.
API = "/api/v1/"
WEBHOOKS = f"{API}webhooks/"
TEST_URL = f"{WEBHOOKS}test/"
EVENTS = f"{API}events/"
BATCH = f"{EVENTS}batch/"
DELIVERIES = f"{API}deliveries/"
RECOVER = f"{DELIVERIES}recover/"
DOMAINS = f"{API}domains/"
ACCOUNTS = f"{API}accounts/"
USERS = f"{API}users/"
TOKENS = f"{API}tokens/"
UNKNOWN_ID = "01890a5d-ac96-774b-bcce-b302099a8057"
PUBLIC_URL = "https://example.com/hook"


# --- tenants ------------------------------------------------------------------------------


@pytest.fixture
def root_domain(db):
    from tests.factories import DomainFactory

    return DomainFactory(name="ROOT", parent=None)


@pytest.fixture
def tenants(root_domain):
    """ROOT > (east > east-sub), west; an account in each (tests.factories.tenant_tree)."""
    from tests.factories import tenant_tree

    return tenant_tree(root=root_domain)


@pytest.fixture
def admin(db):
    """An API client of a root admin (a superuser with no membership)."""
    from tests.api_client import client_for
    from tests.factories import UserFactory

    return client_for(UserFactory(username="root", is_superuser=True, is_staff=True))


@pytest.fixture
def east_user(tenants):
    """An API client of a plain user (role user) of east's account."""
    from hooks.models import Role
    from tests.api_client import client_for
    from tests.factories import MembershipFactory

    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    return client_for(membership.user)


@pytest.fixture
def east_hook(tenants):
    """East's local webhook, for every event type, at a public URL."""
    from tests.factories import WebhookFactory

    return WebhookFactory(name="east-local", account=tenants["east_acct"], payload_url=PUBLIC_URL)


@pytest.fixture
def hook(tenants):
    """A stored webhook with a public URL and overrides, so a valid PATCH of it would succeed."""
    from tests.factories import WebhookFactory

    return WebhookFactory(
        name="east-orders",
        account=tenants["east_acct"],
        payload_url=PUBLIC_URL,
        timeout=5,
        max_attempts=3,
        headers={"X-Team": "orders"},
        event_types=["VM.*"],
    )


@pytest.fixture
def delivery(hook, tenants):
    """A failed delivery of an east event to `hook`."""
    from deliveries.models import DeliveryStatus
    from tests.factories import DeliveryFactory, EventFactory

    return DeliveryFactory(
        webhook=hook,
        event=EventFactory(account=tenants["east_acct"]),
        status=DeliveryStatus.FAILED,
    )


# --- the isolation matrix's world (tests/isolation.py) ------------------------------------


@pytest.fixture(scope="module")
def world_rows(django_db_setup, django_db_blocker):
    """The world of tests/isolation.py, stored once per module inside a
    transaction that is rolled back when the module is done. Each test runs in a
    savepoint within it (the `db` fixture), as with Django's
    TestCase.setUpTestData: what a test changes is undone before the next one,
    and nothing outlives the module."""
    from django.db import transaction

    from tests.isolation import build_world

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            rows = build_world()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    try:
        yield rows
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def world(world_rows, db):
    """The stored objects by name, and a logged-in API client per actor."""
    from tests.api_client import client_with_key
    from tests.isolation import World

    refs, keys = world_rows
    return World(refs=refs, clients={actor: client_with_key(key) for actor, key in keys.items()})


# --- sending and throttling ---------------------------------------------------------------


@pytest.fixture
def allow_private(settings):
    """Let webhooks send to 127.0.0.1 (the tests' receivers)."""
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True


@pytest.fixture
def no_sending(monkeypatch):
    """Reaching the sender fails the test (bad input is refused before anything is sent)."""

    def refuse():
        raise AssertionError("bad input reached the sender")

    monkeypatch.setattr("deliveries.http.get_sender", refuse)


@pytest.fixture(autouse=True)
def clean_cache():
    """The recover throttle counts calls in Django's (process-wide) cache, per
    user id: start and end every test with it empty so counts never leak."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def fresh_call_listeners():
    """What the call-hook listener cache read (hooks.callhooks) outlives a
    test's rollback: start every test reading it afresh."""
    from hooks.callhooks import call_listeners

    call_listeners.forget()


@pytest.fixture(autouse=True)
def wakeups_sent():
    """Wake-ups a test queued are sent before the next test starts: the
    process's wake-up thread (deliveries/queue.py) outlives the test, and must
    not send one test's messages into another's patches or data."""
    yield
    from deliveries import queue

    assert queue.flush(timeout=30), "the wake-up thread did not send what it held"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """The tests' Redis (TEST_REDIS_URL); a private redis-server if none answers."""
    url = os.environ["REDIS_URL"]
    private = ensure_redis(url, workdir=tmp_path_factory.mktemp("redis"))
    yield url
    if private is not None:
        private.terminate()
        private.wait(timeout=10)


@pytest.fixture
def receivers():
    """Start real HTTP receivers on 127.0.0.1: `receiver(secret=..., responder=...)`."""
    receivers: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        r = Receiver(**kwargs)
        # Receiver.start() polls for shutdown every 0.5 s; poll faster so that
        # stopping it does not dominate a test's run time.
        threading.Thread(
            target=r.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        receivers.append(r)
        return r

    yield make
    for r in receivers:
        r.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (item.rep_call…), so a fixture's
    teardown can tell whether its test failed and print a worker's log."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
