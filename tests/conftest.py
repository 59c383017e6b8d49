"""Shared fixtures. The environment is set in tests/testenv.py."""

import threading

import pytest


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


@pytest.fixture
def receivers():
    """Start real receivers on random ports; stop them all afterwards."""
    started = []

    def start(**kwargs):
        from deliveries.receiver import Receiver

        receiver = Receiver(**kwargs)
        # Receiver.start() polls for shutdown every 0.5 s; poll faster so that
        # stopping it does not dominate the test's run time.
        threading.Thread(
            target=receiver.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()
