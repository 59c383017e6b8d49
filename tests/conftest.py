"""Shared fixtures. The environment is set in tests/testenv.py.

Redis and the receiver are here because two suites start real workers
(tests/integration, tests/browser); the processes themselves are in tests/live.py.
"""

import os
import threading

import pytest

from deliveries.receiver import Receiver
from webhooks_project.redis_server import ensure_redis


@pytest.fixture
def root_domain(db):
    from tests.factories import DomainFactory

    return DomainFactory(name="ROOT", parent=None)


@pytest.fixture
def tenants(root_domain):
    """ROOT > (east > east-sub), west; an account in each."""
    from tests.factories import AccountFactory, DomainFactory

    east = DomainFactory(name="east", parent=root_domain)
    east_sub = DomainFactory(name="east-sub", parent=east)
    west = DomainFactory(name="west", parent=root_domain)
    return {
        "root": root_domain,
        "east": east,
        "east_sub": east_sub,
        "west": west,
        "root_acct": AccountFactory(domain=root_domain, name="root-acct"),
        "east_acct": AccountFactory(domain=east, name="east-acct"),
        "east_sub_acct": AccountFactory(domain=east_sub, name="east-sub-acct"),
        "west_acct": AccountFactory(domain=west, name="west-acct"),
    }


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
