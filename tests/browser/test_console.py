"""The operations console in a real browser, as an operator uses it: log in,
create a webhook, watch an event reach a real receiver through a real worker,
make the receiver fail, redeliver from the console, see the second attempt
succeed; resume a webhook whose circuit is open. The screenshots it takes are
the ones docs/operations.md shows."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deliveries.models import Delivery, DeliveryStatus
from deliveries.receiver import always
from hooks.health import Circuit
from hooks.models import Role, Webhook
from tests.browser.console import assert_nothing_clipped, reload_until
from tests.factories import (
    AccountFactory,
    DeliveryFactory,
    DomainFactory,
    EventFactory,
    UserFactory,
    WebhookFactory,
)

pytestmark = pytest.mark.browser


def test_an_operator_creates_a_webhook_watches_a_failure_and_redelivers(
    page, login, screenshot, worker, destination, publish_event
):
    # Given an operator at the login form
    page.goto("/admin/")
    expect(page).to_have_url("/admin/login/?next=/admin/")
    screenshot("login")
    login(page)
    expect(page.locator("#user-tools")).to_contain_text("operator")
    screenshot("dashboard-empty")

    # When they add a webhook for VM events pointing at the receiver
    page.goto("/admin/hooks/webhook/add/")
    page.fill("#id_name", "orders receiver")
    page.select_option("#id_scope", "global")
    page.select_option("#id_account", label="operations (ROOT)")
    page.fill("#id_payload_url", f"{destination.url}/hook")
    page.fill("#id_event_types", "VM.*")
    screenshot("webhook-add-filled")
    page.click("input[name=_continue]")

    # Then its signing secret is shown, once
    secret = page.locator("code.new-secret").inner_text()
    assert secret.startswith("whsec_")
    webhook = Webhook.objects.get(name="orders receiver")
    assert webhook.secret == secret and webhook.event_types == ["VM.*"]
    screenshot("webhook-created")
    page.reload()
    expect(page.locator("code.new-secret")).to_have_count(0)
    # and the receiver checks signatures with the secret the page showed
    destination.secret = secret

    # When a producer publishes an event over the REST API
    first = publish_event(type="VM.CREATE", data={"name": "web-1", "zone": "zone-a"})

    # Then the receiver gets it, signed with that secret
    [received] = destination.wait_for(1)
    assert (received.json["id"], received.signature) == (first, "valid")

    # And the delivery list shows it succeeded, with the receiver's answer
    page.goto("/admin/deliveries/delivery/")
    rows = page.locator("#result_list tbody tr")
    reload_until(page, rows.locator("td.field-status_column"), "succeeded")
    expect(rows).to_have_count(1)
    expect(rows.locator("td.field-event_type")).to_have_text("VM.CREATE")
    expect(rows.locator("td.field-last_status_code")).to_have_text("200")

    # When the receiver starts failing and another event is published
    destination.responder = always(500)
    second = publish_event(type="VM.DESTROY", data={"name": "web-1"})
    destination.wait_for(2)

    # Then the console shows that delivery failed, its attempt answered 500
    page.goto(f"/admin/deliveries/delivery/?q={second}")
    reload_until(page, rows.locator("td.field-status_column"), "failed")
    expect(rows.locator("td.field-last_status_code")).to_have_text("500")
    page.goto("/admin/deliveries/delivery/")
    expect(rows).to_have_count(2)
    assert_nothing_clipped(page)
    screenshot("delivery-list-walkthrough")
    failed = Delivery.objects.get(event_id=second)
    page.goto(f"/admin/deliveries/delivery/{failed.pk}/change/")
    expect(page.locator("#attempt-1 .attempt-outcome")).to_have_text("HTTP 500")
    expect(page.locator("#attempt-1 .response-body")).to_contain_text('"status": 500')
    screenshot("delivery-failed")

    # And the webhook list says the webhook is degraded: one of two succeeded
    page.goto("/admin/hooks/webhook/")
    expect(page.locator("#result_list tbody tr")).to_contain_text("degraded")
    expect(page.locator("#result_list tbody tr")).to_contain_text("50 % ok · 2 deliveries")
    assert_nothing_clipped(page)
    screenshot("webhook-list-degraded")

    # When the receiver is fixed and the operator redelivers from the list
    destination.responder = always(200)
    page.goto("/admin/deliveries/delivery/?status__exact=failed")
    expect(rows).to_have_count(1)
    rows.locator("input.action-select").check()
    page.select_option("select[name=action]", "redeliver")
    page.click("button[name=index]")
    expect(page.locator("ul.messagelist")).to_contain_text("Queued 1 delivery")

    # Then the worker sends it again and the second attempt succeeds
    page.goto(f"/admin/deliveries/delivery/{failed.pk}/change/")
    reload_until(page, page.locator("#attempt-2 .attempt-outcome"), "HTTP 200")
    expect(page.locator("#attempt-1 .attempt-outcome")).to_have_text("HTTP 500")
    expect(page.locator("div.field-status")).to_contain_text("Succeeded")
    screenshot("delivery-redelivered")
    assert destination.wait_for(3)[-1].json["id"] == second
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (DeliveryStatus.SUCCEEDED, 2)

    # And the webhook page shows its activity, recent deliveries and a test send
    page.goto(f"/admin/hooks/webhook/{webhook.pk}/change/")
    expect(page.locator("#webhook-activity")).to_contain_text("healthy")
    # (a bar's title names its hour and counts: "17:00: 2 succeeded")
    expect(page.locator("svg.activity-chart")).to_contain_text(re.compile(r"\d\d:00: \d succeeded"))
    expect(page.locator("#recent-deliveries tbody tr")).to_have_count(2)
    page.click("#send-test")
    expect(page.locator("ul.messagelist")).to_contain_text(
        re.compile(r"Test delivery to “orders receiver”: HTTP 200 in \d+ ms")
    )
    assert destination.wait_for(4)[-1].json["type"] == "TEST"
    screenshot("webhook-page-activity")

    # And the event page shows the envelope as sent, and its delivery
    page.goto(f"/admin/deliveries/event/{first}/change/")
    expect(page.locator("#envelope")).to_contain_text('"zone": "zone-a"')
    expect(page.locator("#event-deliveries tbody tr")).to_contain_text("succeeded")
    screenshot("event-page")

    # And rotating the secret asks first, then shows the new one once
    page.goto(f"/admin/hooks/webhook/{webhook.pk}/change/")
    page.click("#rotate-secret")
    page.click("#confirm-rotate")
    rotated = page.locator("code.new-secret").inner_text()
    assert rotated != secret and rotated.startswith("whsec_")
    screenshot("secret-rotated")


def test_an_operator_resumes_a_webhook_whose_circuit_is_open(page, login, screenshot, webhook):
    # Given a webhook whose circuit a worker opened, with a delivery held for the probe
    now = timezone.now()
    retry_at = now + dt.timedelta(minutes=5)
    Webhook.objects.filter(pk=webhook.pk).update(
        consecutive_failures=10,
        failing_since=now - dt.timedelta(minutes=12),
        circuit=Circuit.OPEN,
        circuit_retry_at=retry_at,
        circuit_cooldown=300,
        state_reason="10+ failures in a row; last: HTTP 503",
        state_changed_at=now - dt.timedelta(minutes=2),
    )
    held = DeliveryFactory(
        webhook=webhook,
        event=EventFactory(account=webhook.account),
        status=DeliveryStatus.PENDING,
        next_attempt_at=retry_at,
    )

    # When the operator lists the unhealthy webhooks, it shows "circuit open" and why
    login(page)
    page.goto("/admin/hooks/webhook/?state=unhealthy")
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    state = row.locator("td.field-state")
    expect(state.locator("strong.state")).to_have_text("circuit open")
    expect(state.locator("strong.state")).to_have_attribute("title", re.compile(r"HTTP 503"))
    expect(state).to_contain_text("for 2 minutes")
    screenshot("webhook-circuit-open")

    # And its page shows the endpoint's health, with the held delivery
    row.locator("th a").click()
    health = page.locator("fieldset", has_text="Endpoint health")
    expect(health).to_contain_text("10+ failures in a row; last: HTTP 503")
    expect(health).to_contain_text("1 pending, waiting for this endpoint")
    screenshot("webhook-health")

    # When they resume it
    page.click("#resume")

    # Then it is healthy again and the held delivery is due now
    expect(page.locator("ul.messagelist")).to_contain_text(
        "Resumed 1 webhook; 1 held delivery released"
    )
    expect(health.locator("strong.state")).to_have_text("healthy")
    expect(page.locator("#resume")).to_have_count(0)
    page.goto("/admin/hooks/webhook/")
    expect(page.locator("#result_list td.field-state")).to_have_text("healthy")
    screenshot("webhook-resumed")
    held.refresh_from_db()
    assert held.next_attempt_at <= timezone.now()


def test_a_domain_admin_sees_only_their_subtree(page, login, operator, screenshot):
    # Given two domains under ROOT, each with a webhook, and a staff domain admin of one
    root = operator.membership.account.domain
    east = AccountFactory(name="east-ops", domain=DomainFactory(name="east", parent=root))
    west = AccountFactory(name="west-ops", domain=DomainFactory(name="west", parent=root))
    WebhookFactory(name="east billing", account=east)
    WebhookFactory(name="west billing", account=west)
    from hooks.services import user_create

    user = user_create(
        username="east-admin", account=east, role=Role.DOMAIN_ADMIN, password="pw-east-1"
    )
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    assert UserFactory._meta.model.objects.filter(username="east-admin", is_staff=True).exists()

    # When they log in, the console lists only their domain's webhooks
    login(page, "east-admin", "pw-east-1")
    page.goto("/admin/hooks/webhook/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("east billing")
    screenshot("domain-admin-webhooks")
    # and neither roles nor periodic tasks are theirs to see
    expect(page.get_by_role("link", name="Memberships")).to_have_count(0)
    expect(page.get_by_role("link", name="Periodic tasks")).to_have_count(0)


def test_the_sweeper_and_the_purge_are_periodic_tasks_an_operator_can_edit(
    page, login, screenshot, beat
):
    # Given beat has started and stored the schedule from settings
    from django_celery_beat.models import PeriodicTask

    from tests.live import wait_until

    wait_until(
        lambda: PeriodicTask.objects.filter(name="purge-deliveries").exists(),
        message="beat to store its schedule",
    )

    # When the operator opens the periodic tasks, both are listed
    login(page)
    page.goto("/admin/django_celery_beat/periodictask/")
    rows = page.locator("#result_list tbody tr")
    expect(rows.filter(has_text="sweep-deliveries")).to_have_count(1)
    expect(rows.filter(has_text="purge-deliveries")).to_have_count(1)
    assert_nothing_clipped(page)
    screenshot("periodic-tasks")

    # And the purge can be switched off there
    rows.filter(has_text="purge-deliveries").locator("a").first.click()
    page.uncheck("#id_enabled")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")
    assert not PeriodicTask.objects.get(name="purge-deliveries").enabled
