"""Every console page an operator opens first, at 1366 px: the dashboard, the
webhook, event and delivery lists and pages, the add-webhook form. Each is
checked for what a newcomer tripped on (clipped columns, ids over four lines,
three date formats, a title of two UUIDs, a form that will not default its
account...), and photographed for docs/operations.md."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deliveries import liveness
from deliveries.models import Delivery, DeliveryStatus
from hooks.health import Circuit
from hooks.models import Scope, Webhook
from tests.browser.console import assert_nothing_clipped, boxes_overlap
from tests.factories import DeliveryAttemptFactory, DeliveryFactory, EventFactory, WebhookFactory
from tests.live import wait_until

pytestmark = pytest.mark.browser

# What the console shows for a time: "1 Dec 2026 14:13:37" (console.dates),
# the full ISO time on hover.
COMPACT = re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def platform(operator):
    """A platform with something wrong: one webhook's circuit open, one failing,
    one disabled, one healthy; deliveries of each outcome over the last hours,
    and one pending delivery 7 minutes late."""
    now = timezone.now()
    account = operator.membership.account
    healthy = WebhookFactory(name="local receiver", account=account, scope=Scope.GLOBAL)
    circuit = WebhookFactory(name="billing", account=account)
    failing = WebhookFactory(name="crm sync", account=account)
    disabled = WebhookFactory(name="legacy", account=account)
    Webhook.objects.filter(pk=circuit.pk).update(
        consecutive_failures=12,
        failing_since=now - dt.timedelta(minutes=20),
        circuit=Circuit.OPEN,
        circuit_retry_at=now + dt.timedelta(minutes=4),
        circuit_cooldown=300,
        state_reason="10+ failures in a row; last: HTTP 503",
        state_changed_at=now - dt.timedelta(minutes=9),
    )
    Webhook.objects.filter(pk=failing.pk).update(
        consecutive_failures=3, failing_since=now - dt.timedelta(minutes=5)
    )
    Webhook.objects.filter(pk=disabled.pk).update(
        enabled=False,
        state_reason="the receiver answered 410 Gone",
        state_changed_at=now - dt.timedelta(hours=2),
    )
    made = []
    for hours_ago, hook, status, code, ms in [
        (5, healthy, DeliveryStatus.SUCCEEDED, 200, 35),
        (3, healthy, DeliveryStatus.SUCCEEDED, 200, 41),
        (3, circuit, DeliveryStatus.FAILED, 503, 1200),
        (2, failing, DeliveryStatus.FAILED, 500, 88),
        (1, healthy, DeliveryStatus.SUCCEEDED, 200, 29),
        (0, healthy, DeliveryStatus.SUCCEEDED, 200, 52),
        (0, circuit, DeliveryStatus.PENDING, None, None),
    ]:
        created = now - dt.timedelta(hours=hours_ago, minutes=1)
        finished = status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED)
        delivery = DeliveryFactory(
            webhook=hook,
            event=EventFactory(account=account, type="VM.CREATE", resource_id="vm-42"),
            status=status,
            attempts=1 if code else 0,
            last_status_code=code,
            finished_at=created + dt.timedelta(seconds=1) if finished else None,
            next_attempt_at=None if finished else now - dt.timedelta(minutes=7),
        )
        if code:
            DeliveryAttemptFactory(
                delivery=delivery,
                number=1,
                started_at=created,
                response_status=code,
                duration_ms=ms,
            )
        Delivery.objects.filter(pk=delivery.pk).update(created_at=created)
        made.append(delivery)
    liveness.purge_record(rows_deleted=1500, now=now - dt.timedelta(minutes=20))
    return {"healthy": healthy, "circuit": circuit, "deliveries": made}


def test_the_dashboard_opens_on_what_is_wrong(page, login, screenshot, platform):
    # Given a platform with a circuit open, a failing and a disabled webhook
    # When the operator logs in
    login(page)

    # Then the index is the dashboard: the unhealthy webhooks first, worst first, each linked
    rows = page.locator("#attention tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("billing")
    expect(rows.nth(0).locator("strong.state")).to_have_text("circuit open")
    expect(rows.nth(0)).to_contain_text("10+ failures in a row; last: HTTP 503")
    expect(rows.nth(1)).to_contain_text("crm sync")
    expect(rows.nth(1)).to_contain_text("3 failures in a row")
    expect(rows.nth(2)).to_contain_text("legacy")
    expect(page.locator("#attention")).not_to_contain_text("local receiver")
    # and the backlog: one delivery due, 7 minutes late
    expect(page.locator("#backlog .dash-figure")).to_have_text("1")
    expect(page.locator("#backlog .oldest-due")).to_have_text(re.compile(r"^7\sminutes"))
    # and the last 24 h: 4 of 6 finished succeeded, in a chart by hour
    expect(page.locator("#success-rate .dash-figure")).to_have_text("66.7 %")
    expect(page.locator("#success-rate")).to_contain_text("7 in all: 4 succeeded, 2 failed")
    chart = page.locator("#traffic svg.traffic-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("rect title").first).to_contain_text(re.compile(r"\d\d:00 UTC: 1 "))
    # and the menu, on every page: webhooks, events and deliveries first; the
    # schedule tables under one "Schedules" entry
    menu = page.locator("#console-menu")
    expect(menu.locator("a").first).to_have_text("Dashboard")
    expect(menu.locator(".menu-section").first.locator("a")).to_have_text(
        ["Webhooks", "Events", "Deliveries"]
    )
    schedules = menu.locator(".menu-django_celery_beat")
    expect(schedules.locator(".menu-name")).to_have_text("Schedules:")
    expect(schedules.get_by_role("link", name="Periodic tasks")).to_have_count(1)
    for table in ("Clocked", "Crontabs", "Intervals", "Solar events"):
        expect(menu.get_by_role("link", name=table)).to_have_count(0)
    # and no "View site" (there is no site): the API's docs instead
    expect(page.get_by_role("link", name="View site")).to_have_count(0)
    expect(page.locator("#api-docs-link")).to_have_attribute("href", "/api/docs/")
    # and the last purge (stamped here: beat sends it only hourly)
    expect(page.locator("#purge")).to_contain_text("1500 rows deleted")
    assert_nothing_clipped(page, "#attention table")
    screenshot("dashboard-attention")

    # When they follow the first webhook's link, they are on its page
    rows.nth(0).locator("a").click()
    expect(page.locator("#content h2").first).to_have_text("billing")
    expect(page.locator("fieldset", has_text="Endpoint health")).to_contain_text("circuit open")

    # And the Schedules page still lists the periodic tasks and their tables
    page.goto("/admin/django_celery_beat/")
    expect(page.locator("#content h1")).to_have_text("Schedules administration")
    expect(page.locator("#content-main").get_by_role("link", name="Crontabs")).to_have_count(1)
    expect(page.locator("#content-main").get_by_role("link", name="Periodic tasks")).to_have_count(
        1
    )


def test_the_delivery_list_fits_1366_px_with_one_date_format(page, login, screenshot, platform):
    login(page)
    page.goto("/admin/deliveries/delivery/")
    expect(page.locator("#result_list tbody tr")).to_have_count(7)

    # Every column is on screen, duration, next attempt and finished included
    headers = assert_nothing_clipped(page)
    for name in ("DURATION", "NEXT ATTEMPT", "FINISHED"):
        assert name in [h.upper() for h in headers], headers

    # and every time is compact, on one line, with the full ISO time on hover
    times = page.locator("#result_list time")
    assert times.count() >= 7 + 6 + 1  # created, finished, the pending one's next attempt
    for i in range(times.count()):
        shown = times.nth(i)
        assert COMPACT.match(shown.inner_text()), shown.inner_text()
        assert ISO.match(shown.get_attribute("title") or ""), shown.get_attribute("title")
        box = shown.bounding_box()
        assert box is not None and box["height"] < 24  # one line
    screenshot("delivery-list")


def test_an_empty_filtered_list_says_how_to_clear_the_filters(page, login, screenshot, platform):
    login(page)
    page.goto("/admin/deliveries/delivery/?status__exact=sending")
    empty = page.locator("p.empty-filtered")
    expect(empty).to_contain_text("No deliveries match these filters.")
    expect(page.locator("p.paginator")).to_contain_text("0 deliveries")
    screenshot("delivery-list-empty")
    empty.locator("a.clear-filters").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(7)
    # and one of something is singular
    page.goto("/admin/deliveries/delivery/?status__exact=pending")
    expect(page.locator("p.paginator")).to_contain_text(re.compile(r"1\s+delivery\b"))


def test_the_event_list_shows_short_ids_on_one_line(page, login, screenshot, platform):
    login(page)
    page.goto("/admin/deliveries/event/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(7)
    assert_nothing_clipped(page)
    ids = page.locator("#result_list td.field-event_id .short-id")
    for i in range(ids.count()):
        cell = ids.nth(i)
        full = cell.get_attribute("title") or ""
        assert re.fullmatch(r"[0-9a-f-]{36}", full), full
        # shown: the first 8 characters and "…"; the whole id in the page, so it copies whole
        assert cell.evaluate("e => e.textContent") == full
        box = cell.bounding_box()
        assert box is not None and box["height"] < 24 and box["width"] < 110
    screenshot("event-list")


def test_the_event_page_shows_its_times_in_the_one_format(page, login, screenshot, platform):
    delivery = platform["deliveries"][2]  # failed, to "billing"
    login(page)
    page.goto(f"/admin/deliveries/event/{delivery.event_id}/change/")
    for shown in page.locator("div.field-created time, #event-deliveries time").all():
        assert COMPACT.match(shown.inner_text()) and ISO.match(shown.get_attribute("title") or "")
    assert_nothing_clipped(page, "#event-deliveries table")
    screenshot("event-page-failed")


def test_the_delivery_page_title_says_what_was_sent_where(page, login, screenshot, platform):
    delivery = platform["deliveries"][0]  # VM.CREATE to "local receiver", succeeded
    login(page)
    page.goto(f"/admin/deliveries/delivery/{delivery.pk}/change/")
    title = page.locator("#content > h2").first
    expect(title).to_have_text("VM.CREATE → local receiver (succeeded)")
    expect(page.locator(".breadcrumbs")).to_contain_text("VM.CREATE → local receiver (succeeded)")
    assert str(delivery.pk) not in title.inner_text()
    # and it does not run under the object tools
    assert not boxes_overlap(page, "#content > h2", "ul.object-tools")
    # and its times are in the one format
    for shown in page.locator("div.field-created time, #attempt-1 h3 time").all():
        assert COMPACT.match(shown.inner_text()) and ISO.match(shown.get_attribute("title") or "")
    screenshot("delivery-page")


def test_the_add_webhook_form_defaults_its_account_and_tells_the_truth(
    page, login, screenshot, operator
):
    login(page)
    page.goto("/admin/hooks/webhook/add/")
    # The account is the operator's, as the API would default it
    expect(page.locator("#id_account option:checked")).to_have_text("operations (ROOT)")
    # a secret will be generated: the form says so, not "None: requests are not signed"
    secret = page.locator("div.field-secret_status")
    expect(secret).to_contain_text("Generated when the webhook is saved, and shown once.")
    expect(secret).not_to_contain_text("not signed")
    # and there is no current password to keep on a new webhook
    help_text = page.locator("div.field-new_auth_password .help")
    expect(help_text).to_contain_text("Never shown back.")
    expect(help_text).not_to_contain_text("keep the current one")
    screenshot("webhook-add")

    # Saving with the account left as it is creates the webhook for that account
    page.fill("#id_name", "defaults")
    page.fill("#id_payload_url", "https://receiver.example.com/hook")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist")).to_contain_text("Signing secret")
    assert Webhook.objects.get(name="defaults").account == operator.membership.account


def test_the_webhook_list_and_page_fit_1366_px(page, login, screenshot, platform):
    login(page)
    page.goto("/admin/hooks/webhook/")
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
    assert_nothing_clipped(page)
    healthy = page.locator("#result_list tbody tr", has_text="local receiver")
    expect(healthy).to_contain_text("100 % ok · 4 deliveries")
    last = healthy.locator("td.field-last_outcome time")
    assert COMPACT.match(last.inner_text()) and ISO.match(last.get_attribute("title") or "")
    screenshot("webhook-list")

    page.goto(f"/admin/hooks/webhook/{platform['circuit'].pk}/change/")
    assert not boxes_overlap(page, "#content > h2", "ul.object-tools")
    assert_nothing_clipped(page, "#recent-deliveries table")
    since = page.locator("div.field-state_since time")
    assert COMPACT.match(since.inner_text()) and ISO.match(since.get_attribute("title") or "")
    screenshot("webhook-page")


def test_the_dashboard_shows_workers_and_beat_alive(
    page, login, screenshot, platform, worker, beat
):
    # Given a real worker and a real beat, the worker's heartbeat and beat's sweep recorded
    wait_until(lambda: liveness.workers_alive(), message="a worker heartbeat")
    wait_until(lambda: liveness.beat_last_sweep() is not None, timeout=30, message="a sweep")

    # When the operator opens the dashboard, both are alive
    login(page)
    expect(page.locator("#workers .dash-figure")).to_have_text(re.compile(r"^\d+ alive$"))
    expect(page.locator("#workers .worker").first).to_contain_text(re.compile(r"\(pid \d+\)"))
    expect(page.locator("#beat .dash-figure")).to_have_text("alive")
    expect(page.locator("#beat .beat-tick time")).to_have_attribute("title", ISO)
    expect(page.locator("#beat")).not_to_have_class(re.compile("dash-warn"))
    assert_nothing_clipped(page, "#attention table")
    screenshot("dashboard")

    # When the worker stops, the next load says so
    worker.stop()
    page.goto("/admin/")
    expect(page.locator("#workers .dash-figure")).to_have_text("none alive")
    expect(page.locator("#workers")).to_have_class(re.compile("dash-warn"))
