"""Bulk jobs with real parts: the API starts one, a real worker runs it, a
SIGKILL mid-job loses nothing and applies nothing twice: the job resumes
after its last committed batch."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from deliveries.bulk import bulk_jobs_resume
from deliveries.models import BulkJob, BulkJobState, Delivery, DeliveryStatus, Event
from hooks.services import token_issue
from tests.factories import UserFactory, WebhookFactory
from tests.live import wait_until

pytestmark = pytest.mark.integration


def failed_deliveries(tenants, *, webhooks: int, events: int) -> None:
    hooks = [
        WebhookFactory(
            account=tenants["east_acct"], payload_url="http://127.0.0.1:9/hook", enabled=False
        )
        for _ in range(webhooks)
    ]
    made = Event.objects.bulk_create(
        [
            Event(type="VM.CREATE", account=tenants["east_acct"], occurred_at=timezone.now())
            for _ in range(events)
        ]
    )
    Delivery.objects.bulk_create(
        [Delivery(event=e, webhook=h, status=DeliveryStatus.FAILED) for h in hooks for e in made]
    )


def test_a_bulk_delete_killed_mid_job_resumes_and_deletes_each_row_once(worker, tenants, settings):
    settings.API_BULK_SYNC_MAX = 100
    failed_deliveries(tenants, webhooks=40, events=100)  # 4,000, in 80 batches of 50
    user = UserFactory(username="ops", is_superuser=True, is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)[1]}")

    # When the API is asked to delete them all
    response = client.delete("/api/v1/deliveries/bulk/?status=failed")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    assert response.json()["total"] == 4000

    # and the worker is killed with SIGKILL while the job runs
    def started():
        job = BulkJob.objects.get(pk=job_id)
        return job if job.done >= 200 else None

    at_kill = wait_until(started, timeout=30, every=0.02, message="the job to start")
    worker.kill()
    at_kill.refresh_from_db()
    assert 0 < at_kill.done < 4000, "the job ended before the kill: the test proves nothing"
    assert at_kill.state == BulkJobState.RUNNING
    # What the record says is done is exactly what is gone.
    assert Delivery.objects.count() == 4000 - at_kill.done

    # Then, the worker back and the sweeper finding the job's record still
    worker.start()
    later = timezone.now() + dt.timedelta(seconds=settings.WEBHOOK_BULK_STALE + 1)
    assert bulk_jobs_resume(now=later) == 1

    def finished():
        job = BulkJob.objects.get(pk=job_id)
        return job if job.is_finished else None

    job = wait_until(finished, timeout=60, every=0.2, message="the job to finish")
    assert (job.state, job.done, job.affected, job.skipped) == ("succeeded", 4000, 4000, 0)
    assert Delivery.objects.count() == 0
    polled = client.get(f"/api/v1/jobs/{job_id}/").json()
    assert (polled["state"], polled["done"], polled["total"]) == ("succeeded", 4000, 4000)
