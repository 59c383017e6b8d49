"""deliveries/bulk.py: bulk jobs run in batches, resume after a crash from
their record, and never act twice on one delivery."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from deliveries import bulk
from deliveries.models import BulkJob, BulkJobKind, BulkJobState, Delivery, DeliveryStatus
from hooks.models import Role, Scope
from hooks.permissions import actor_for
from tests.factories import DeliveryFactory, MembershipFactory, UserFactory, WebhookFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_actor(db):
    return actor_for(UserFactory(username="root", is_superuser=True, is_staff=True))


@pytest.fixture
def failed(tenants):
    hook = WebhookFactory(account=tenants["east_acct"])
    rows = [DeliveryFactory(webhook=hook, status=DeliveryStatus.FAILED) for _ in range(7)]
    return hook, rows


def start(actor, kind, selection, django_capture_on_commit_callbacks):
    with (
        mock.patch("deliveries.queue.bulk_job_enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        job = bulk.bulk_job_start(kind=kind, actor=actor, selection=selection)
    enqueue.assert_called_once_with(job.pk)
    return job


def test_a_job_counts_what_it_will_do_and_is_queued_after_commit(
    root_actor, failed, django_capture_on_commit_callbacks
):
    hook, _rows = failed

    job = start(
        root_actor,
        BulkJobKind.DELETE,
        {"webhook": str(hook.pk)},
        django_capture_on_commit_callbacks,
    )

    assert (job.state, job.total, job.done) == (BulkJobState.QUEUED, 7, 0)


def test_a_job_runs_in_batches_moving_its_cursor(
    root_actor, failed, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_BULK_BATCH = 3
    hook, rows = failed
    job = start(
        root_actor,
        BulkJobKind.DELETE,
        {"webhook": str(hook.pk)},
        django_capture_on_commit_callbacks,
    )

    assert bulk.bulk_job_step(job.pk) is True
    job.refresh_from_db()
    assert (job.state, job.done, job.affected) == (BulkJobState.RUNNING, 3, 3)
    assert job.last_id == sorted(r.pk for r in rows)[2]
    assert Delivery.objects.count() == 4

    assert bulk.bulk_job_run(job.pk) is False
    job.refresh_from_db()
    assert (job.state, job.done, job.affected, job.skipped) == (BulkJobState.SUCCEEDED, 7, 7, 0)
    assert job.finished_at is not None
    assert Delivery.objects.count() == 0


def test_a_batch_killed_midway_is_undone_whole_and_the_job_resumes_after_the_last_one(
    root_actor, failed, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_BULK_BATCH = 3
    hook, _rows = failed
    job = start(
        root_actor,
        BulkJobKind.RECOVER,
        bulk.recover_selection(
            webhook_id=hook.pk,
            since=timezone.now() - dt.timedelta(hours=1),
            until=timezone.now() + dt.timedelta(seconds=1),
        ),
        django_capture_on_commit_callbacks,
    )
    with django_capture_on_commit_callbacks(execute=False):
        bulk.bulk_job_step(job.pk)  # batch 1 committed

    # Batch 2 dies after its work, before it commits (a worker killed).
    def die(*args, **kwargs):
        raise SystemExit("killed")

    with mock.patch.object(BulkJob, "save", die), pytest.raises(SystemExit):
        bulk.bulk_job_step(job.pk)

    job.refresh_from_db()
    assert (job.done, job.affected) == (3, 3)
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 3

    with django_capture_on_commit_callbacks(execute=False):
        assert bulk.bulk_job_run(job.pk) is False
    job.refresh_from_db()
    assert (job.state, job.done, job.affected, job.skipped) == (BulkJobState.SUCCEEDED, 7, 7, 0)
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 7


def test_deliveries_being_sent_are_skipped_and_counted(
    root_actor, failed, django_capture_on_commit_callbacks
):
    hook, rows = failed
    Delivery.objects.filter(pk=rows[0].pk).update(status=DeliveryStatus.SENDING)
    job = start(
        root_actor,
        BulkJobKind.REQUEUE,
        {"webhook": str(hook.pk)},
        django_capture_on_commit_callbacks,
    )

    with (
        mock.patch("deliveries.queue.deliveries_enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        bulk.bulk_job_run(job.pk)

    job.refresh_from_db()
    assert (job.done, job.affected, job.skipped) == (7, 6, 1)
    assert sorted(str(i) for i in enqueue.call_args.args[0]) == sorted(str(r.pk) for r in rows[1:])


def test_deliveries_published_after_the_start_are_not_the_jobs(
    root_actor, failed, django_capture_on_commit_callbacks
):
    hook, _rows = failed
    job = start(
        root_actor,
        BulkJobKind.DELETE,
        {"webhook": str(hook.pk)},
        django_capture_on_commit_callbacks,
    )
    later = DeliveryFactory(webhook=hook)
    Delivery.objects.filter(pk=later.pk).update(created_at=timezone.now() + dt.timedelta(seconds=1))

    bulk.bulk_job_run(job.pk)

    assert list(Delivery.objects.values_list("pk", flat=True)) == [later.pk]


def test_a_job_acts_as_its_user_sees(tenants, django_capture_on_commit_callbacks):
    east_admin = MembershipFactory(account=tenants["east_acct"], role=Role.DOMAIN_ADMIN).user
    mine = DeliveryFactory(webhook=WebhookFactory(account=tenants["east_acct"]), status="failed")
    theirs = DeliveryFactory(webhook=WebhookFactory(account=tenants["west_acct"]), status="failed")
    global_hook = WebhookFactory(
        account=tenants["east_acct"], domain=tenants["east"], scope=Scope.GLOBAL
    )
    beyond = DeliveryFactory(webhook=global_hook, status="failed")

    job = start(
        actor_for(east_admin),
        BulkJobKind.DELETE,
        {"status": ["failed"]},
        django_capture_on_commit_callbacks,
    )
    bulk.bulk_job_run(job.pk)

    assert job.total == 1
    assert set(Delivery.objects.values_list("pk", flat=True)) == {theirs.pk, beyond.pk}
    assert not Delivery.objects.filter(pk=mine.pk).exists()


def test_a_job_whose_user_is_gone_fails_saying_so(
    root_actor, failed, django_capture_on_commit_callbacks
):
    hook, _ = failed
    job = start(
        root_actor,
        BulkJobKind.DELETE,
        {"webhook": str(hook.pk)},
        django_capture_on_commit_callbacks,
    )
    root_actor.user.delete()

    assert bulk.bulk_job_step(job.pk) is False

    job.refresh_from_db()
    assert job.state == BulkJobState.FAILED
    assert "user" in job.error
    assert Delivery.objects.count() == 7


def test_stale_jobs_are_queued_again_and_moving_ones_are_not(root_actor, settings):
    settings.WEBHOOK_BULK_STALE = 60
    now = timezone.now()
    stale = BulkJob.objects.create(kind=BulkJobKind.DELETE, state=BulkJobState.RUNNING)
    BulkJob.objects.create(kind=BulkJobKind.DELETE, state=BulkJobState.RUNNING)
    finished = BulkJob.objects.create(kind=BulkJobKind.DELETE, state=BulkJobState.SUCCEEDED)
    BulkJob.objects.filter(pk__in=[stale.pk, finished.pk]).update(
        updated_at=now - dt.timedelta(seconds=61)
    )

    with mock.patch("deliveries.queue.bulk_job_enqueue") as enqueue:
        assert bulk.bulk_jobs_resume(now=now) == 1
        assert bulk.bulk_jobs_resume(now=now) == 0  # touched: not again at once

    enqueue.assert_called_once_with(stale.pk)


def test_two_runs_of_one_job_take_turns(
    root_actor, failed, settings, django_capture_on_commit_callbacks
):
    # A duplicated message: the second run starts after the first's cursor.
    settings.WEBHOOK_BULK_BATCH = 4
    hook, _ = failed
    job = start(
        root_actor,
        BulkJobKind.DELETE,
        {"webhook": str(hook.pk)},
        django_capture_on_commit_callbacks,
    )
    with transaction.atomic():
        bulk.bulk_job_step(job.pk)
    bulk.bulk_job_step(job.pk)
    bulk.bulk_job_step(job.pk)

    job.refresh_from_db()
    assert (job.state, job.done, job.affected) == (BulkJobState.SUCCEEDED, 7, 7)


@pytest.mark.parametrize(
    "params, message",
    [({}, "at least one filter"), ({"search": "VM"}, "at least one filter")],
)
def test_a_selection_needs_a_filter(params, message):
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.update(params)
    with pytest.raises(bulk.InvalidSelection, match=message):
        bulk.selection_from_params(query)


def test_a_selection_with_a_bad_value_is_refused(root_actor):
    with pytest.raises(bulk.InvalidSelection, match="webhook"):
        bulk.selection_deliveries(actor=root_actor, selection={"webhook": "nope"})
    with pytest.raises(bulk.InvalidSelection, match="Unknown"):
        bulk.selection_deliveries(actor=root_actor, selection={"colour": "red"})
