"""console/jobs.py: the delivery list's actions over all matching rows start
a background job past API_BULK_SYNC_MAX, and the job's page shows its
progress; small selections are still acted on at once."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.http import QueryDict
from django.urls import reverse

from console.jobs import selection_from_list
from deliveries.bulk import InvalidSelection
from deliveries.models import BulkJob, Delivery, DeliveryStatus
from deliveries.tasks import bulk_job
from tests.console.kit import DELIVERIES, deliveries, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_sync(settings):
    settings.API_BULK_SYNC_MAX = 2
    settings.WEBHOOK_BULK_BATCH = 2


def shown(response) -> str:
    return re.sub(r"<[^>]+>", "", text(response))


def across(action, **extra):
    # As the page posts it: the rows checked on this page, and "all matching".
    first = Delivery.objects.order_by("-created_at").first()
    return {
        "action": action,
        "select_across": "1",
        "index": "0",
        "_selected_action": [first.pk],
        **extra,
    }


def test_redelivering_all_matching_past_the_limit_starts_a_job_with_a_progress_page(
    root, hooks, small_sync, django_capture_on_commit_callbacks
):
    deliveries(hooks["east"], failed=5)
    deliveries(hooks["west"], failed=1)
    with (
        mock.patch("deliveries.queue.bulk_job_enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = root.post(
            f"{DELIVERIES}?status__exact=failed&webhook={hooks['east'].pk}",
            across("redeliver"),
        )

    job = BulkJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:deliveries_bulkjob_change", args=[job.pk])
    assert job.selection == {"status": ["failed"], "webhook": str(hooks["east"].pk)}
    page = shown(root.get(response["Location"]))
    assert "0 of 5 deliveries done" in page and "reloads every 2 s" in page

    with mock.patch("deliveries.queue.deliveries_enqueue"):
        bulk_job(str(enqueue.call_args.args[0]))

    page = shown(root.get(response["Location"]))
    assert "5 of 5 deliveries done (5 queued, 0 left alone" in page
    assert "reloads" not in page
    assert Delivery.objects.filter(status=DeliveryStatus.FAILED).count() == 1  # west's


def test_deleting_all_matching_asks_first_then_runs_in_the_background(
    root, hooks, small_sync, django_capture_on_commit_callbacks
):
    deliveries(hooks["east"], failed=4)
    url = f"{DELIVERIES}?webhook={hooks['east'].pk}"

    asked = text(root.post(url, across("delete_in_background")))
    assert "Delete more than 2 deliveries" in asked
    assert Delivery.objects.count() == 4

    with (
        mock.patch("deliveries.queue.bulk_job_enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = root.post(url, across("delete_in_background", confirmed="yes"))
    assert response.status_code == 302
    bulk_job(str(enqueue.call_args.args[0]))

    assert Delivery.objects.count() == 0
    assert BulkJob.objects.get().affected == 4


def test_a_small_selection_is_deleted_at_once(root, hooks):
    one, two, kept = deliveries(hooks["east"], failed=3)

    response = root.post(
        DELIVERIES,
        {
            "action": "delete_in_background",
            "_selected_action": [one.pk, two.pk],
            "confirmed": "yes",
        },
        follow=True,
    )

    assert "Deleted 2 deliveries." in text(response)
    assert list(Delivery.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not BulkJob.objects.exists()


def test_the_list_filters_become_the_jobs_selection():
    query = QueryDict(
        "status__exact=failed&event_type=VM.CREATE&created_at__gte=2026-12-01"
        "&created_at__lt=2026-12-02&o=1&p=2"
    )

    selection = selection_from_list(query)

    assert selection["status"] == ["failed"]
    assert selection["event_type"] == "VM.CREATE"
    assert selection["created_after"].startswith("2026-12-01T00:00:00")
    assert selection["created_before"].startswith("2026-12-02T00:00:00")
    with pytest.raises(InvalidSelection, match="'q'"):
        selection_from_list(QueryDict("q=abc"))


def test_someone_elses_job_is_not_found(east_admin, db):
    job = BulkJob.objects.create(kind="delete")

    response = east_admin.get(reverse("admin:deliveries_bulkjob_change", args=[job.pk]))

    assert response.status_code == 302  # the admin's "does not exist" redirect
