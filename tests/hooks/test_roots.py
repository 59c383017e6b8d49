"""hooks/roots.py: a superuser made with Django's own `createsuperuser` acts
for the ROOT domain's admin account, made if missing, as CloudStack's root
admin does; so the README's and docs/api.md's examples work for them."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from deliveries.models import Delivery, Event
from hooks.models import Account, Domain, Webhook
from hooks.roots import find_root_admin_account, root_admin_account
from tests.api_client import client_for
from tests.conftest import EVENTS, WEBHOOKS

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(monkeypatch):
    """What `manage.py createsuperuser` makes on a fresh database: no domain,
    no account, no membership."""
    from django.contrib.auth import get_user_model

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password")
    call_command("createsuperuser", interactive=False, username="jo", email="jo@example.com")
    return get_user_model().objects.get(username="jo")


def test_a_createsuperuser_login_creates_a_webhook_without_naming_an_account(superuser):
    assert not Domain.objects.exists()
    api = client_for(superuser)

    response = api.post(
        WEBHOOKS,
        {"name": "mine", "payload_url": "https://example.com/hook", "scope": "local"},
        format="json",
    )

    assert response.status_code == 201, response.content
    account = Account.objects.get(pk=response.json()["account"])
    assert (account.name, account.domain.name, account.domain.parent) == ("admin", "ROOT", None)


def test_what_it_publishes_reaches_its_local_webhook(superuser):
    api = client_for(superuser)
    created = api.post(
        WEBHOOKS,
        {"name": "mine", "payload_url": "https://example.com/hook", "scope": "local"},
        format="json",
    ).json()

    published = api.post(EVENTS, {"type": "VM.CREATE"}, format="json").json()

    assert published["deliveries"] == 1
    assert Delivery.objects.get().webhook_id.hex == created["id"].replace("-", "")
    event = Event.objects.get()
    assert event.envelope()["account"] == created["account"]
    assert event.envelope()["domain"] == str(Account.objects.get().domain_id)


def test_the_account_is_made_once_and_found_after(db):
    assert find_root_admin_account() is None

    first = root_admin_account()

    assert root_admin_account() == first == find_root_admin_account()
    assert Account.objects.count() == 1 and Domain.objects.count() == 1


def test_bootstrap_uses_the_same_account(superuser, tmp_path, settings):
    settings.VAR_DIR = tmp_path
    account = root_admin_account()

    call_command("bootstrap")

    assert Account.objects.get() == account
    assert Webhook.objects.count() == 0
