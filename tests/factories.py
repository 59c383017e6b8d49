"""Factories for the domain model. Webhooks are saved directly (not through the
service) so tests can point them at 127.0.0.1 without relaxing URL vetting."""

import base64

import factory
from django.utils import timezone

from deliveries.models import Delivery, DeliveryAttempt, Event
from hooks.models import Account, Domain, Membership, Role, Scope, Webhook

TEST_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW_SECRET = "whsec_" + base64.b64encode(b"n" * 32).decode()  # another valid one


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain

    name = factory.Sequence(lambda n: f"domain-{n}")
    parent = None


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"account-{n}")
    domain = factory.SubFactory(DomainFactory)


class WebhookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Webhook

    name = factory.Sequence(lambda n: f"webhook-{n}")
    account = factory.SubFactory(AccountFactory)
    domain = factory.LazyAttribute(lambda o: o.account.domain)
    scope = Scope.LOCAL
    payload_url = "http://127.0.0.1:9/hook"
    secret = TEST_SECRET
    enabled = True
    event_types = factory.LazyFunction(list)


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    type = "VM.CREATE"
    account = factory.SubFactory(AccountFactory)
    domain = factory.LazyAttribute(lambda o: o.account.domain if o.account else None)
    data = factory.LazyFunction(lambda: {"name": "vm-1"})
    occurred_at = factory.Faker("date_time", tzinfo=__import__("datetime").timezone.utc)


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Delivery

    event = factory.SubFactory(EventFactory)
    webhook = factory.SubFactory(WebhookFactory)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    account = factory.SubFactory(AccountFactory)
    role = Role.USER


class DeliveryAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeliveryAttempt

    delivery = factory.SubFactory(DeliveryFactory)
    number = factory.Sequence(lambda n: n + 1)
    started_at = factory.LazyFunction(timezone.now)
    url = factory.LazyAttribute(lambda o: o.delivery.webhook.payload_url)
    response_status = 500


def tenant_tree(root: Domain | None = None) -> dict:
    """The tenants most tests start from: ROOT > (east > east-sub), west, and an
    account in each. Keys: root, east, east_sub, west (the domains) and
    root_acct, east_acct, east_sub_acct, west_acct (their accounts)."""
    root = root or DomainFactory(name="ROOT", parent=None)
    east = DomainFactory(name="east", parent=root)
    domains = {
        "root": root,
        "east": east,
        "east_sub": DomainFactory(name="east-sub", parent=east),
        "west": DomainFactory(name="west", parent=root),
    }
    accounts = {
        f"{tenant}_acct": AccountFactory(domain=domain, name=f"{domain.name.lower()}-acct")
        for tenant, domain in domains.items()
    }
    return domains | accounts
