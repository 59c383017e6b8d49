"""Writing a batch's attempt rows in one statement: the same rows as the ORM
writes, every column of the model, and a refusal left to the caller."""

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from deliveries.models import DeliveryAttempt
from deliveries.pipeline.attempt_rows import _copy_plan, attempts_write
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db

STARTED = dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)


def attempt(delivery, **overrides):
    values = {
        "delivery_id": delivery.id,
        "number": 3,
        "started_at": STARTED,
        "duration_ms": 17,
        "url": "https://example.com/hook?a=1&b=é",
        "request_headers": {"Content-Type": "application/json", "webhook-id": "x\ty\\z"},
        "response_status": 202,
        "response_headers": {"content-type": "text/plain", "x-odd": 'quote " and \\n'},
        "response_body": b"\x00\x1f\x8b binary \\ \t\n\r",
        "response_truncated": True,
        "error_class": "BodyTruncated",
        "error_message": "line one\nline two\ttab \\ backslash",
    }
    return DeliveryAttempt(**(values | overrides))


def stored(attempt_id):
    row = DeliveryAttempt.objects.get(id=attempt_id)
    values = {f.attname: getattr(row, f.attname) for f in DeliveryAttempt._meta.concrete_fields}
    values["response_body"] = bytes(values["response_body"])
    del values["id"]
    return values


def test_the_rows_written_are_those_the_orm_writes():
    delivery = DeliveryFactory()
    empty = {"response_status": None, "response_body": b"", "error_message": ""}
    for overrides in ({}, empty, {"request_headers": {}, "response_headers": {"ü": "ö"}}):
        mine, orms = attempt(delivery, **overrides), attempt(delivery, **overrides)

        attempts_write([mine])
        DeliveryAttempt.objects.bulk_create([orms])

        assert stored(mine.id) == stored(orms.id)
        assert not mine._state.adding


def test_a_batch_is_one_statement():
    delivery = DeliveryFactory()
    attempts = [attempt(delivery, number=n) for n in range(1, 6)]

    with CaptureQueriesContext(connection) as queries:
        attempts_write(attempts)

    assert len(queries) == 1
    assert sorted(DeliveryAttempt.objects.values_list("number", flat=True)) == [1, 2, 3, 4, 5]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_copy_names_every_column_of_the_model_in_order():
    sql, columns = _copy_plan(DeliveryAttempt.objects.db)

    fields = DeliveryAttempt._meta.concrete_fields
    assert [attname for attname, _ in columns] == [f.attname for f in fields]
    for field in fields:
        assert connection.ops.quote_name(field.column) in sql


def test_a_row_the_database_refuses_raises_for_the_caller_to_handle():
    delivery = DeliveryFactory()

    with pytest.raises(DatabaseError), transaction.atomic():
        attempts_write([attempt(delivery), attempt(delivery, number=-1)])

    assert not DeliveryAttempt.objects.exists()
