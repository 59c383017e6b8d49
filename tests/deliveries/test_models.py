"""The hot tables' indexes: each foreign key still leads an index (cascades
and lookups by it stay indexed) without one of its own to write on every
update, and rows being sent stay out of the console's status index."""

import pytest
from django.db import connection

from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus


@pytest.mark.parametrize(
    ("model", "field"), [(Delivery, "event"), (Delivery, "webhook"), (DeliveryAttempt, "delivery")]
)
def test_each_foreign_key_leads_an_index_and_has_none_of_its_own(model, field):
    fk = model._meta.get_field(field)
    leading = [i.fields[0] for i in model._meta.indexes if not i.condition]
    leading += [c.fields[0] for c in model._meta.constraints if getattr(c, "fields", None)]

    assert not fk.db_index
    assert field in leading


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partial indexes as PostgreSQL plans them"
)
def test_the_status_index_leaves_out_rows_being_sent_and_rows_waiting():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'delivery_status_recent'")
        (definition,) = cursor.fetchone()

    where = definition.split(" WHERE ", 1)[1]
    assert where.startswith("(NOT ((status)::text = ANY ")
    for status in (DeliveryStatus.SENDING, DeliveryStatus.PENDING):
        assert f"'{status.value}'::character varying" in where
