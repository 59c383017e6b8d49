"""Instances from cursor rows (deliveries/pipeline/rows.py) are the ORM's
instances: every concrete field, converted as the ORM converts it (SQLite
gives UUIDs and datetimes back as text), nothing deferred, marked as loaded.
Runs on SQLite and on PostgreSQL (DATABASE_URL)."""

import pytest
from django.db import connection
from django.db.models import Model
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from deliveries.models import Delivery, DeliveryAttempt, Event
from deliveries.pipeline import rows
from hooks.domain_settings import domain_set_delivery
from hooks.models import Domain, Webhook
from tests.factories import DeliveryFactory, DomainFactory, EventFactory, WebhookFactory

pytestmark = pytest.mark.django_db


def values(obj: Model) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def loaded(obj: Model) -> None:
    assert (obj._state.adding, obj._state.db) == (False, "default")
    assert obj.get_deferred_fields() == set()


def test_in_bulk_gives_what_the_orm_gives():
    events = [EventFactory(data={"name": "vm-1", "n": [1, 2]}), EventFactory()]

    found = rows.in_bulk(Event, [e.id for e in events], db="default")

    expected = Event.objects.in_bulk([e.id for e in events])
    assert found.keys() == expected.keys()
    for pk, event in found.items():
        assert values(event) == values(expected[pk])
        loaded(event)


def test_in_bulk_joined_caches_the_parent_row():
    domain = DomainFactory()
    domain_set_delivery(domain=domain, delivery_timeout=3, delivery_max_attempts=2)
    hooks = [WebhookFactory(account__domain=domain, domain=domain), WebhookFactory()]

    with CaptureQueriesContext(connection) as queries:
        found = rows.in_bulk_joined(Webhook, [h.id for h in hooks], via="domain", db="default")
        settings = {pk: (w.effective_timeout, w.domain.name) for pk, w in found.items()}

    assert len(queries) == 1
    expected = Webhook.objects.select_related("domain").in_bulk([h.id for h in hooks])
    assert settings == {pk: (w.effective_timeout, w.domain.name) for pk, w in expected.items()}
    for pk, webhook in found.items():
        assert values(webhook) == values(expected[pk])
        assert values(webhook.domain) == values(Domain.objects.get(pk=webhook.domain_id))
        loaded(webhook)
        loaded(webhook.domain)


def test_instance_converts_a_delivery_row_as_the_orm_does():
    delivery = DeliveryFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {rows.columns(Delivery, 'default')} FROM deliveries_delivery "
            f"WHERE {rows.keys_match(Delivery, 'default', 'id', 1)}",
            rows.key_values(Delivery, [delivery.id], db="default"),
        )
        (row,) = cursor.fetchall()

    built = rows.instance(Delivery, row, db="default")

    assert values(built) == values(Delivery.objects.get(pk=delivery.pk))
    loaded(built)


def test_a_model_with_init_listeners_is_built_the_orms_way():
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    event = EventFactory()
    post_init.connect(listener, sender=Event)
    try:
        found = rows.in_bulk(Event, [event.id], db="default")
        made = rows.new(Event, {"type": "VM.STOP"})
    finally:
        post_init.disconnect(listener, sender=Event)

    assert seen == [found[event.id], made]


def test_new_is_the_unsaved_instance_the_constructor_makes():
    delivery = DeliveryFactory()

    made = rows.new(DeliveryAttempt, {"delivery_id": delivery.id, "number": 1, "url": "u"})

    assert made._state.adding and made._state.db is None
    expected = DeliveryAttempt(delivery_id=delivery.id, number=1, url="u")
    assert values(made) == values(expected) | {"id": made.id}
    assert made.id != expected.id  # each takes its own default
    made.started_at = delivery.created_at
    made.save(force_insert=True)
    assert DeliveryAttempt.objects.get(pk=made.pk).url == "u"


def test_new_refuses_a_field_the_model_does_not_have():
    with pytest.raises(TypeError, match="no field 'delivery'"):
        rows.new(DeliveryAttempt, {"delivery": None})


def test_only_models_whose_key_no_other_index_holds_are_read_through_prepared_statements():
    # Delivery's console index (created_at, id) holds the key: not prepared
    assert rows.key_only_in_primary_key(Event) and rows.key_only_in_primary_key(Webhook)
    assert rows.key_only_in_primary_key(Domain)
    assert not rows.key_only_in_primary_key(Delivery)


def generic_plan(sql: str, keys: list) -> str:
    """EXPLAIN of `sql` prepared as a worker's session prepares it: a
    generic plan, on a session that plans through indexes alone."""
    from django.db import transaction

    from core.plaincursor import PLAN_THROUGH_INDEXES

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(PLAN_THROUGH_INDEXES.replace("SET ", "SET LOCAL "))
        cursor.execute(f"PREPARE read_plan (uuid[]) AS {sql.replace('%s', '$1')}")
        cursor.execute("EXPLAIN EXECUTE read_plan (%s)", [keys])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE read_plan")
    return plan


def test_the_prepared_read_of_events_planned_on_a_tiny_table_goes_by_primary_key():
    # given tables of a few rows: the worst case for a plan kept as they grow
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner")
    events = EventFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE deliveries_event")

    # when prepared as a worker's session prepares it
    plan = generic_plan(rows.by_key_sql(Event, "default", 2), [e.id for e in events[:2]])

    # then it is reached through its primary key
    scans = [line for line in plan.splitlines() if "Scan" in line]
    assert scans and all("_pkey on " in line for line in scans), plan


def test_the_prepared_read_of_webhooks_with_domains_on_tiny_tables_goes_by_primary_keys():
    # given tables of a few rows, each domain with several webhooks: planned
    # as a plain join, PostgreSQL went from the domains to their webhooks
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner")
    webhooks = [WebhookFactory(domain=domain) for domain in DomainFactory.create_batch(2)]
    webhooks += [WebhookFactory(domain=webhooks[0].domain) for _ in range(3)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE hooks_webhook")
        cursor.execute("ANALYZE hooks_domain")

    # when prepared as a worker's session prepares it
    plan = generic_plan(rows._joined_sql(Webhook, "domain", "default", 1), [webhooks[0].id])

    # then each webhook by its key, then its domain by the domain's key
    scans = [line.strip() for line in plan.splitlines() if "Scan" in line]
    assert len(scans) == 2 and all("_pkey on " in line for line in scans), plan
    assert "hooks_webhook" in scans[0] and "hooks_domain" in scans[1], plan
