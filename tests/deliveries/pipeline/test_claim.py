"""Claiming: the database decides who sends; a worker that claims nothing does nothing."""

import datetime as dt
import re
import uuid

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.plaincursor import PLAN_THROUGH_INDEXES
from deliveries.models import Delivery, DeliveryStatus
from deliveries.pipeline.claim import (
    CLAIM_COLUMNS,
    claim_sql,
    deliveries_claim,
    health_check_by_claim,
)
from hooks.domain_settings import domain_set_delivery
from hooks.models import Domain
from tests.deliveries.pipeline.conftest import NOW, due
from tests.factories import DeliveryFactory, DomainFactory, EventFactory, WebhookFactory
from tests.pgsessions import cut_while_idle, other_connection

pytestmark = pytest.mark.django_db


@time_machine.travel(NOW, tick=False)
def test_a_claim_takes_the_pending_due_rows_with_their_event_and_webhook():
    deliveries = due(3)

    with CaptureQueriesContext(connection) as queries:
        token, claimed = deliveries_claim([d.id for d in deliveries])
        # Given with the claim: reading them costs no further query.
        urls = {d.webhook.payload_url for d in claimed}
        types = {d.event.type for d in claimed}

    assert {d.id for d in claimed} == {d.id for d in deliveries}
    assert urls == {d.webhook.payload_url for d in deliveries} and types == {"VM.CREATE"}
    # One UPDATE … RETURNING, then the events and the webhooks by key.
    assert len(queries) == 3
    for d in claimed:
        assert (d.status, d.claim_token, d.attempts) == (DeliveryStatus.SENDING, token, 1)
        assert d.lease_expires_at == NOW + dt.timedelta(seconds=300)
        assert d.message_due_at is None
    stored = Delivery.objects.get(id=deliveries[0].id)
    assert (stored.status, stored.claim_token, stored.attempts) == ("sending", token, 1)


@time_machine.travel(NOW, tick=False)
def test_the_claim_brings_each_webhooks_domain_settings_without_a_query_per_delivery():
    # given deliveries to webhooks of a domain with delivery settings, one of
    # them in a subdomain, one with its own timeout
    parent = DomainFactory()
    domain_set_delivery(domain=parent, delivery_timeout=3, delivery_max_attempts=2)
    child = DomainFactory(parent=Domain.objects.get(pk=parent.pk))
    hooks = [
        WebhookFactory(account__domain=parent, domain=parent),
        WebhookFactory(account__domain=child, domain=child),
        WebhookFactory(account__domain=child, domain=child, timeout=1),
    ]
    event = EventFactory()
    deliveries = [DeliveryFactory(event=event, webhook=h, next_attempt_at=NOW) for h in hooks]

    with CaptureQueriesContext(connection) as queries:
        _, claimed = deliveries_claim([d.id for d in deliveries])
        by_hook = {
            d.webhook_id: (d.webhook.effective_timeout, d.webhook.effective_max_attempts)
            for d in claimed
        }

    # then: the same three queries, the domain rows joined to the webhooks'
    assert len(queries) == 3
    assert by_hook == {hooks[0].id: (3, 2), hooks[1].id: (3, 2), hooks[2].id: (1, 2)}


@time_machine.travel(NOW, tick=False)
def test_a_second_message_for_the_same_rows_claims_nothing():
    deliveries = due(2)
    ids = [d.id for d in deliveries]
    deliveries_claim(ids)

    _, claimed = deliveries_claim(ids)

    assert claimed == []
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


@time_machine.travel(NOW, tick=False)
def test_rows_not_yet_due_or_finished_are_not_claimed():
    later = due(1)[0]
    Delivery.objects.filter(id=later.id).update(next_attempt_at=NOW + dt.timedelta(seconds=5))
    done = due(1, status=DeliveryStatus.SUCCEEDED)[0]

    _, claimed = deliveries_claim([later.id, done.id])

    assert claimed == []
    assert Delivery.objects.get(id=later.id).status == DeliveryStatus.PENDING


@time_machine.travel(NOW, tick=False)
def test_a_claim_tops_up_with_other_due_rows_to_the_batch_size(settings):
    settings.WEBHOOK_BATCH_SIZE = 4
    mine = due(1)
    others = due(5)

    _, claimed = deliveries_claim([mine[0].id])

    assert len(claimed) == 4
    assert mine[0].id in {d.id for d in claimed}
    assert len({d.id for d in others} & {d.id for d in claimed}) == 3
    # What is left waits for its own message.
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2


@time_machine.travel(NOW, tick=False)
def test_an_unknown_id_claims_nothing_and_does_not_fail(settings):
    settings.WEBHOOK_BATCH_SIZE = 1

    assert deliveries_claim([str(uuid.uuid4())])[1] == []


@pytest.mark.django_db(transaction=True)
def test_a_claim_never_waits_for_rows_another_claimant_holds():
    """Two claims whose top-ups take each other's rows would deadlock if either
    waited (PostgreSQL breaks it after a second, failing a task): a row held
    elsewhere is skipped, and whoever holds it claims it."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks that another connection holds need PostgreSQL")
    held, free = due(2)
    Delivery.objects.update(next_attempt_at=timezone.now())
    other = other_connection()
    try:
        # Another claimant holds one of our message's rows, mid-claim.
        other.execute(
            "SELECT 1 FROM deliveries_delivery WHERE id = %s FOR UPDATE", [held.id]
        ).fetchall()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # waiting would fail the test
        try:
            _, claimed = deliveries_claim([held.id, free.id])
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
    finally:
        other.rollback()
        other.close()

    assert [d.id for d in claimed] == [free.id]
    assert Delivery.objects.get(id=held.id).status == DeliveryStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_claim_on_a_connection_cut_while_idle_runs_again_on_a_new_one():
    """A deliver task skips Django's health check before its first query
    (webhooks_project/celery.py): its claim finds a dead connection by using it."""
    if connection.vendor != "postgresql":
        pytest.skip("cutting a server-side connection needs PostgreSQL")
    deliveries = due(2)
    Delivery.objects.update(next_attempt_at=timezone.now())
    # given the worker's connection is cut between two tasks, as a database restart would
    pid = cut_while_idle()  # close_old_connections, as every task starts, keeps it
    health_check_by_claim()
    assert connection.connection is not None and connection.health_check_done

    # when the next task claims
    _, claimed = deliveries_claim([d.id for d in deliveries])

    # then it did, on a new connection
    assert {d.id for d in claimed} == {d.id for d in deliveries}
    assert connection.connection.info.backend_pid != pid


# --- the claim statement ------------------------------------------------------------------


def test_the_claim_sql_names_only_columns_the_model_has():
    columns = {f.column for f in Delivery._meta.concrete_fields}
    assert {Delivery._meta.get_field(name).column for name in CLAIM_COLUMNS} <= columns
    sql = claim_sql(own_count=2, room=3, vendor_skips_locked=True)
    # every placeholder was filled, and the parameters are the ones the claim passes
    assert "{" not in sql and "%s" not in sql
    own = {"own"} if connection.vendor == "postgresql" else {"own0", "own1"}
    passed = {"now", "max_in_flight", "room", "token", "lease"} | own
    assert set(re.findall(r"%\((\w+)\)s", sql)) == passed
    assert sql.count("FOR UPDATE SKIP LOCKED") == 2


def test_on_postgresql_a_claim_is_one_statement_for_any_number_of_ids():
    # an array of ids: one prepared statement (planned once) for every message size
    if connection.vendor != "postgresql":
        pytest.skip("SQLite takes a parameter an id")
    shapes = {claim_sql(own_count=n, room=50 - n, vendor_skips_locked=True) for n in (1, 7, 49)}
    assert len(shapes) == 1


@time_machine.travel(NOW, tick=False)
def test_the_claim_reads_only_what_it_takes_on_statistics_that_saw_nothing_due():
    # given statistics taken while nothing was due (as after a quiet spell:
    # ANALYZE then counted every delivery finished), then a backlog
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner")
    DeliveryFactory.create_batch(30, status=DeliveryStatus.SUCCEEDED, next_attempt_at=None)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Delivery._meta.db_table}")
    waiting = due(60)
    sql = claim_sql(own_count=1, room=10, vendor_skips_locked=True)
    params = {"now": NOW, "max_in_flight": 25, "room": 10, "token": uuid.uuid4(),
              "lease": NOW, "own": [waiting[0].id]}  # fmt: skip
    # when the claim is planned as a worker's session plans it (webhooks_project/celery.py)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(PLAN_THROUGH_INDEXES.replace("SET ", "SET LOCAL "))
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # then the top-up reads the due index in its order and stops at its room,
    # rather than reading every due row (into a bitmap, or from another
    # index) and sorting them all
    top_up = plan[plan.index("part1") :].split("CTE gate")[0]
    assert "Index Scan using delivery_pending_due" in top_up
    assert "Sort" not in top_up and "Bitmap" not in top_up
    # and the UPDATE finds the claimed rows by key, not through the due index
    update = plan[plan.rindex("CTE Scan on touched t") - 200 :]
    assert "deliveries_delivery_pkey" in update and "delivery_pending_due" not in update
