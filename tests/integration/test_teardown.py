"""Issue 10, item 7: deleting a webhook (or its account, or domain) succeeds
whatever the workers are doing, and never loads all its deliveries.

On PostgreSQL a second connection plays a worker caught mid-record (its
delivery row locked, its attempt inserted, not yet committed) while the API
deletes the webhook: Django's cascade failed there with an IntegrityError
(a 500). A real worker sending to a slow receiver is the same drill whole.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from deliveries import teardown
from deliveries.models import Delivery, DeliveryAttempt, Event
from deliveries.publishing import event_publish
from hooks.models import Account, Webhook
from hooks.services import token_issue
from tests.factories import DeliveryAttemptFactory, DeliveryFactory, WebhookFactory
from tests.live import wait_until
from tests.pgsessions import other_connection


def api_client(django_user_model) -> APIClient:
    admin = django_user_model.objects.create_superuser(f"ops-{uuid.uuid4().hex[:6]}", password="x")
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=admin)[1]}")
    return client


@pytest.mark.django_db(transaction=True)
def test_a_delete_racing_a_workers_record_succeeds(django_user_model, tenants):
    if connection.vendor != "postgresql":
        pytest.skip("needs row locks held by another connection")
    webhook = WebhookFactory(account=tenants["east_acct"])
    now = timezone.now()
    deliveries = DeliveryFactory.create_batch(3, webhook=webhook, next_attempt_at=now)
    client = api_client(django_user_model)

    # Given a "worker" that has locked a delivery and inserted its attempt
    worker = other_connection()
    worker.execute("UPDATE deliveries_delivery SET attempts = 1 WHERE id = %s", [deliveries[0].id])
    worker.execute(
        "INSERT INTO deliveries_deliveryattempt (id, delivery_id, number, started_at,"
        " duration_ms, url, request_headers, response_status, response_headers,"
        " response_body, response_truncated, error_class, error_message, worker)"
        " VALUES (%s, %s, 1, now(), 5, 'http://x/', '{}', 200, '{}', '', false, '', '', 'w:1')",
        [uuid.uuid4(), deliveries[0].id],
    )

    # When the API deletes the webhook meanwhile (it waits on the worker's lock)
    answers = []
    deleting = threading.Thread(
        target=lambda: answers.append(client.delete(f"/api/v1/webhooks/{webhook.id}/"))
    )
    deleting.start()
    watcher = other_connection(autocommit=True)  # a fresh view of pg_stat_activity each time

    def waiting_on_a_lock():
        query = (
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        return watcher.execute(query).fetchone()

    try:
        wait_until(waiting_on_a_lock, timeout=10, message="the delete to wait on the worker")
        worker.commit()  # and the worker's record lands
    finally:
        worker.close()  # (rolls back if the wait failed: the delete must not hang)
        watcher.close()
        deleting.join(timeout=30)

    # Then the delete succeeded and took everything with it
    assert answers and answers[0].status_code == 204, answers and answers[0].content
    assert not Webhook.objects.filter(id=webhook.id).exists()
    assert not Delivery.objects.exists() and not DeliveryAttempt.objects.exists()
    connection.close()  # the thread's connection is its own; ours is untouched


@pytest.mark.integration
def test_deleting_a_webhook_while_a_worker_sends_to_it(
    worker, receivers, tenants, django_user_model
):
    # Given a slow receiver and a worker busy sending it a burst
    release = threading.Event()
    slow = receivers(responder=lambda r: (release.wait(1.5), (200, b"{}"))[1])
    acct = tenants["east_acct"]
    webhook = WebhookFactory(payload_url=f"{slow.url}/h", account=acct)
    for n in range(20):
        event_publish(type="VM.CREATE", data={"n": n}, account=acct)
    slow.wait_for(1, timeout=15)

    # When the webhook is deleted through the API mid-send
    response = api_client(django_user_model).delete(f"/api/v1/webhooks/{webhook.id}/")
    release.set()

    # Then it is gone with all its deliveries, and the worker carries on
    assert response.status_code == 204, response.content
    assert not Webhook.objects.filter(id=webhook.id).exists()
    time.sleep(2)  # the worker's in-flight requests finish and record nothing
    assert not Delivery.objects.exists() and not DeliveryAttempt.objects.exists()
    assert Event.objects.count() == 20
    assert worker.running
    assert "IntegrityError" not in worker.log_path.read_text()


@pytest.mark.django_db
def test_a_delete_works_in_bounded_batches(settings, tenants):
    # Given a webhook with 25 deliveries, each with an attempt
    settings.WEBHOOK_DELETE_BATCH = 10
    webhook = WebhookFactory(account=tenants["east_acct"])
    for delivery in DeliveryFactory.create_batch(25, webhook=webhook):
        DeliveryAttemptFactory(delivery=delivery, number=1)
    loaded: list[int] = []  # one item per Delivery instance made from a row
    marks: list[int] = []  # how many were made when each query started
    original = Delivery.from_db.__func__

    def counting_from_db(cls, *args, **kwargs):
        loaded.append(1)
        return original(cls, *args, **kwargs)

    def mark(execute, sql, params, many, context):
        marks.append(len(loaded))
        return execute(sql, params, many, context)

    # When it is deleted
    Delivery.from_db = classmethod(counting_from_db)
    try:
        with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(mark):
            teardown.webhook_delete(webhook=webhook)
    finally:
        del Delivery.from_db
    marks.append(len(loaded))

    # Then everything is gone, never more than a batch of rows loaded by one
    # query (Django's cascade loads all 25 at once), in a few queries a batch
    assert not Webhook.objects.exists() and not Delivery.objects.exists()
    assert not DeliveryAttempt.objects.exists()
    assert max(b - a for a, b in itertools.pairwise(marks)) <= 10
    batches = 25 // 10 + 2  # three full or partial, one empty, the final one
    assert len(queries.captured_queries) <= 10 * batches


@pytest.mark.django_db
def test_an_account_with_users_is_refused_before_anything_is_deleted(tenants, django_user_model):
    from django.db.models import ProtectedError

    from hooks.models import Membership, Role

    acct = tenants["west_acct"]
    user = django_user_model.objects.create_user("member")
    Membership.objects.create(user=user, account=acct, role=Role.USER)
    DeliveryFactory(webhook=WebhookFactory(account=acct))

    with pytest.raises(ProtectedError):
        teardown.account_delete(account=acct)

    assert Account.objects.filter(id=acct.id).exists() and Delivery.objects.count() == 1
