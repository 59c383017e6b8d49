"""Factories for the domain model. Webhooks are saved directly (not through the
service) so tests can point them at 127.0.0.1 without relaxing URL vetting."""

import factory
from django.utils import timezone

from deliveries.models import Delivery, DeliveryAttempt, Event
from hooks.models import Account, Domain, Membership, Role, Scope, Webhook

TEST_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


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
