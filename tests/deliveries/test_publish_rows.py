"""An event and its deliveries written in one statement (PostgreSQL) or through
the ORM (SQLite): the rows are those the ORM would write, field for field."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.ids import uuid7
from deliveries.models import Delivery, DeliveryStatus, Event
from deliveries.publish_rows import DeliveryRow, event_insert
from tests.factories import WebhookFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=3)


def an_event(tenants, **kwargs) -> Event:
    fields = {
        "id": uuid7(),
        "type": "VM.CREATE",
        "account": tenants["east_acct"],
        "domain": tenants["east"],
        "resource_id": "vm-1",
        "resource_type": "VirtualMachine",
        "actor_id": "u-1",
        "actor_name": "ann",
        "data": {"name": "vm-1", "n": 6.02e23, "nested": {"é": [1, None, True]}},
        "data_json": '{"name":"vm-1","n":6.02e23,"nested":{"é":[1,null,true]}}',
        "occurred_at": NOW - dt.timedelta(seconds=1),
        "incident_key": "k",
        "incident_state": "firing",
    }
    return Event(**{**fields, **kwargs})


def values(instance) -> dict:
    """Every column's value, as the instance holds it."""
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def stored(model, pk) -> dict:
    return values(model.objects.get(pk=pk))


@time_machine.travel(NOW, tick=False)  # the ORM's twin is created NOW, as auto_now_add says
def test_the_rows_are_those_the_orm_writes(tenants):
    # given two webhooks, one of them held by its circuit
    hooks = [WebhookFactory(account=tenants["east_acct"]) for _ in range(2)]
    event = an_event(tenants)
    rows = [
        DeliveryRow(uuid7(), hooks[0].id, NOW, NOW),
        DeliveryRow(uuid7(), hooks[1].id, LATER, None),
    ]

    # when
    assert event_insert(event, rows, now=NOW) is True

    # then the event is a saved instance, and stored as the ORM would store it
    assert event._state.adding is False and event._state.db == "default"
    twin = an_event(tenants, id=uuid7(), created_at=NOW)
    twin.save(force_insert=True)
    assert stored(Event, event.id) == {**stored(Event, twin.id), "id": event.id}
    # and each delivery has its field defaults, as Delivery() gives them
    for row in rows:
        expected = Delivery(
            id=row.id,
            event=event,
            webhook_id=row.webhook_id,
            next_attempt_at=row.next_attempt_at,
            message_due_at=row.message_due_at,
            created_at=NOW,
        )
        assert stored(Delivery, row.id) == values(expected)
        assert expected.status == DeliveryStatus.PENDING and expected.repeat == 0


def test_an_event_without_deliveries(tenants):
    event = an_event(tenants, account=None, domain=None, incident_key="", incident_state="")

    assert event_insert(event, [], now=NOW) is True

    assert Event.objects.get(id=event.id).account_id is None
    assert not Delivery.objects.exists()


def test_an_existing_id_writes_nothing(tenants):
    hook = WebhookFactory(account=tenants["east_acct"])
    first = an_event(tenants)
    assert event_insert(first, [], now=NOW)

    again = an_event(tenants, id=first.id, type="OTHER")
    assert event_insert(again, [DeliveryRow(uuid7(), hook.id, NOW, NOW)], now=NOW) is False

    assert Event.objects.get().type == "VM.CREATE"
    assert not Delivery.objects.exists()
    assert again._state.adding is True  # not a saved instance


def test_the_statements_are_logged_as_django_logs_its_own(tenants):
    with CaptureQueriesContext(connection) as queries:
        event_insert(an_event(tenants), [], now=NOW)

    assert any("INSERT" in q["sql"] for q in queries.captured_queries)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one statement is PostgreSQL's")
def test_postgresql_writes_it_all_in_one_statement(tenants):
    hook = WebhookFactory(account=tenants["east_acct"])

    with CaptureQueriesContext(connection) as queries:
        event_insert(an_event(tenants), [DeliveryRow(uuid7(), hook.id, NOW, NOW)], now=NOW)

    assert len(queries.captured_queries) == 1
    assert Delivery.objects.count() == 1


def test_a_row_for_no_webhook_is_refused_at_commit(tenants, django_db_blocker):
    # The foreign keys are checked as the ORM's rows are (deferred, at commit).
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        event_insert(an_event(tenants), [DeliveryRow(uuid7(), uuid.uuid4(), NOW, NOW)], now=NOW)
        connection.check_constraints()


def test_a_default_made_per_row_is_refused_when_the_statement_is_built(monkeypatch):
    # The statement's constants are computed once per process: a field whose
    # default is made per row would get one value for every delivery.
    from deliveries import publish_rows

    field = Delivery._meta.get_field("last_error")
    monkeypatch.setattr(field, "default", lambda: "made now")

    with pytest.raises(TypeError, match="last_error's default is made per row"):
        publish_rows._statement.__wrapped__(connection.alias)
