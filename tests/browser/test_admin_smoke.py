"""The console as an operator first meets it: log in, find the webhooks, watch
an event published over the API reach a real receiver through a real worker."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from deliveries.models import Delivery
from tests.browser.console import reload_until

pytestmark = pytest.mark.browser


def test_an_operator_logs_in_and_sees_a_published_event_delivered(
    page, login, screenshot, worker, destination, webhook, publish_event
):
    # Given an operator sent to the login form
    page.goto("/admin/")
    expect(page).to_have_url("/admin/login/?next=/admin/")
    screenshot("login")

    # When they sign in, they land on the index, with webhooks and deliveries
    login(page)
    expect(page.locator("#user-tools")).to_contain_text("operator")
    webhooks_link = page.get_by_role("link", name="Webhooks", exact=True)
    expect(webhooks_link).to_be_visible()
    expect(page.get_by_role("link", name="Deliveries", exact=True)).to_be_visible()
    screenshot("admin-index")

    # The webhook list shows the webhook and where it sends
    webhooks_link.click()
    expect(page).to_have_url("/admin/hooks/webhook/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("orders receiver")
    expect(rows).to_contain_text(f"{destination.url}/hook")
    screenshot("webhook-list")

    # When a producer publishes an event over the REST API
    event_id = publish_event(type="VM.CREATE", data={"name": "web-1", "zone": "zone-a"})

    # Then the receiver gets it, signed
    [received] = destination.wait_for(1)
    assert received.json["type"] == "VM.CREATE"
    assert received.signature == "valid"

    # And the delivery list shows it succeeded, with the receiver's answer
    page.goto(f"/admin/deliveries/delivery/?q={event_id}")
    reload_until(page, rows.locator("td.field-status"), "Succeeded")
    expect(rows).to_have_count(1)
    expect(rows.locator("td.field-attempts")).to_have_text("1")
    expect(rows.locator("td.field-last_status_code")).to_have_text("200")
    screenshot("delivery-list")

    # And the delivery's page lists its one attempt: number 1, status 200
    delivery = Delivery.objects.get(event_id=event_id)
    rows.locator("th.field-id a").click()
    expect(page).to_have_url(re.compile(rf"/admin/deliveries/delivery/{delivery.id}/change/"))
    attempts = page.locator(".inline-group tbody tr", has=page.locator("td.field-number"))
    expect(attempts).to_have_count(1)
    expect(attempts.locator("td.field-number")).to_have_text("1")
    expect(attempts.locator("td.field-response_status")).to_have_text("200")
    screenshot("delivery-detail")
