"""/api/v1/jobs/ and the bulk operations of /deliveries/: small selections
answer at once (200), large ones answer 202 with a job to poll, which a
worker's task then runs to the end."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from deliveries.models import BulkJob, Delivery, DeliveryStatus
from deliveries.tasks import bulk_job
from hooks.models import Role
from tests.api_client import client_for
from tests.conftest import API, DELIVERIES, RECOVER
from tests.factories import DeliveryFactory, MembershipFactory, WebhookFactory

pytestmark = pytest.mark.django_db
JOBS = f"{API}jobs/"


@pytest.fixture
def failed(tenants):
    hook = WebhookFactory(account=tenants["east_acct"])
    return hook, [DeliveryFactory(webhook=hook, status=DeliveryStatus.FAILED) for _ in range(5)]


@pytest.fixture
def small_sync(settings):
    settings.API_BULK_SYNC_MAX = 3
    settings.WEBHOOK_BULK_BATCH = 2


def run_queued(enqueue):
    """What a worker does with the job messages sent: run each task."""
    for call in enqueue.call_args_list:
        bulk_job(str(call.args[0]))


def test_a_small_bulk_delete_answers_at_once(admin, failed):
    hook, _ = failed

    response = admin.delete(f"{DELIVERIES}bulk/?webhook={hook.pk}")

    assert response.status_code == 200
    assert response.json() == {"deleted": 5}


def test_a_large_bulk_delete_answers_202_with_a_job_to_poll(
    admin, failed, small_sync, django_capture_on_commit_callbacks
):
    hook, _ = failed
    with (
        mock.patch("deliveries.queue.bulk_job_enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = admin.delete(f"{DELIVERIES}bulk/?webhook={hook.pk}&status=failed")

    assert response.status_code == 202
    job = response.json()
    assert (job["kind"], job["state"], job["total"], job["done"]) == ("delete", "queued", 5, 0)
    assert job["selection"] == {"webhook": str(hook.pk), "status": ["failed"]}
    assert response["Location"].endswith(f"{JOBS}{job['id']}/")
    assert Delivery.objects.count() == 5  # nothing yet: the workers do it

    run_queued(enqueue)

    polled = admin.get(f"{JOBS}{job['id']}/").json()
    assert (polled["state"], polled["done"], polled["affected"]) == ("succeeded", 5, 5)
    assert Delivery.objects.count() == 0


def test_a_task_that_runs_out_of_time_queues_the_job_again(
    admin, failed, small_sync, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_BULK_BUDGET = 0.1
    hook, _ = failed
    with (
        mock.patch("deliveries.queue.bulk_job_enqueue"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        job_id = admin.delete(f"{DELIVERIES}bulk/?webhook={hook.pk}").json()["id"]

    with (
        mock.patch("deliveries.bulk.time.monotonic", side_effect=[0, 1, 2, 3, 4, 5]),
        mock.patch("deliveries.queue.bulk_job_enqueue") as again,
    ):
        assert bulk_job(job_id) is True
    again.assert_called_once()
    assert BulkJob.objects.get(pk=job_id).done == 2


def test_a_large_recover_is_a_job_and_a_dry_run_still_counts(
    admin, failed, small_sync, django_capture_on_commit_callbacks
):
    hook, _ = failed
    since = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    body = {"webhook": str(hook.pk), "since": since}

    counted = admin.post(RECOVER, {**body, "dry_run": True}, format="json")
    assert counted.status_code == 200
    assert counted.json() == {"count": 5, "dry_run": True}

    with (
        mock.patch("deliveries.queue.bulk_job_enqueue") as enqueue,
        mock.patch("deliveries.queue.deliveries_enqueue") as wake,
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = admin.post(RECOVER, body, format="json")
        assert response.status_code == 202
        assert response.json()["kind"] == "recover"
        with django_capture_on_commit_callbacks(execute=True):
            run_queued(enqueue)

    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 5
    assert sum(len(call.args[0]) for call in wake.call_args_list) == 5


def test_requeue_queues_the_matching_deliveries(admin, failed, django_capture_on_commit_callbacks):
    hook, _rows = failed
    DeliveryFactory(webhook=hook, status=DeliveryStatus.SUCCEEDED)

    with (
        mock.patch("deliveries.queue.deliveries_enqueue"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = admin.post(f"{DELIVERIES}requeue/?webhook={hook.pk}&status=failed")

    assert response.status_code == 200
    assert response.json() == {"queued": 5}
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 5


@pytest.mark.parametrize("path", ["bulk/", "requeue/"])
def test_a_bulk_operation_without_a_filter_says_so_with_a_string_detail(admin, failed, path):
    verb = admin.delete if path == "bulk/" else admin.post

    response = verb(f"{DELIVERIES}{path}")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Name at least one filter (webhook, status, created_after, …)."
    }


def test_a_bad_filter_value_is_a_400_naming_it(admin, failed):
    response = admin.delete(f"{DELIVERIES}bulk/?webhook=nope")

    assert response.status_code == 400
    assert "webhook" in response.json()["detail"]


def test_jobs_are_their_creators_and_root_admins(
    admin, tenants, failed, small_sync, django_capture_on_commit_callbacks
):
    hook, _ = failed
    with (
        mock.patch("deliveries.queue.bulk_job_enqueue"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        job_id = admin.delete(f"{DELIVERIES}bulk/?webhook={hook.pk}").json()["id"]
    someone = client_for(MembershipFactory(account=tenants["east_acct"], role=Role.USER).user)

    assert someone.get(f"{JOBS}{job_id}/").status_code == 404
    assert someone.get(JOBS).json()["count"] == 0
    listed = admin.get(JOBS).json()
    assert [item["id"] for item in listed["results"]] == [job_id]
    assert listed["results"][0]["created_by"] == "root"
