"""/api/v1/events/ with an incident (alarm events): published, shown, in the
envelope; the bad input refused with what is wrong."""

from __future__ import annotations

import pytest

from deliveries.models import Delivery, Event
from tests.api_client import assert_field_error, event_item, nothing_written
from tests.conftest import BATCH, DELIVERIES, EVENTS
from tests.factories import WebhookFactory

pytestmark = pytest.mark.django_db


def test_an_alarm_event_is_published_and_shown_with_its_incident(admin, tenants):
    WebhookFactory(account=tenants["east_acct"], repeat_every=300)
    body = event_item(tenants, type="ALARM.CPU", incident_key="policy-1/ins-1")
    response = admin.post(EVENTS, body, format="json")
    assert response.status_code == 202, response.content
    event = Event.objects.get(id=response.json()["id"])
    assert (event.incident_key, event.incident_state) == ("policy-1/ins-1", "firing")
    shown = admin.get(f"{EVENTS}{event.id}/").json()
    assert (shown["incident_key"], shown["incident_state"]) == ("policy-1/ins-1", "firing")
    assert shown["envelope"]["incident"] == {"key": "policy-1/ins-1", "state": "firing"}
    delivery = admin.get(DELIVERIES).json()["results"][0]
    assert delivery["repeat"] == 0


def test_a_resolved_event_in_a_batch(admin, tenants):
    items = [
        event_item(tenants, incident_key="k", incident_state="firing"),
        event_item(tenants, incident_key="k", incident_state="resolved"),
    ]
    response = admin.post(BATCH, {"events": items}, format="json")
    assert response.status_code == 202, response.content
    assert sorted(Event.objects.values_list("incident_state", flat=True)) == ["firing", "resolved"]


def test_an_event_without_an_incident_shows_empty_fields(admin, tenants):
    response = admin.post(EVENTS, event_item(tenants), format="json")
    shown = admin.get(f"{EVENTS}{response.json()['id']}/").json()
    assert (shown["incident_key"], shown["incident_state"]) == ("", "")
    assert "incident" not in shown["envelope"]


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"incident_state": "resolved"}, "incident_state", "give incident_key too"),
        ({"incident_key": "k", "incident_state": "ok"}, "incident_state", "not a valid choice"),
        ({"incident_key": "k\n1"}, "incident_key", "no control characters"),
        ({"incident_key": "k\x00"}, "incident_key", "no control characters"),
        ({"incident_key": "k" * 256}, "incident_key", "no more than 255"),
        ({"incident_key": ["k"]}, "incident_key", "must be a string"),
    ],
)
def test_bad_incidents_are_refused(admin, tenants, fields, field, fragment):
    with nothing_written():
        response = admin.post(EVENTS, event_item(tenants, **fields), format="json")
    assert_field_error(response, field, fragment)
    assert not Delivery.objects.exists()


def test_listing_an_incidents_events(admin, tenants):
    for key, state in [("k1", "firing"), ("k1", "resolved"), ("k2", "firing"), ("", "")]:
        admin.post(
            EVENTS, event_item(tenants, incident_key=key, incident_state=state), format="json"
        )
    listed = admin.get(EVENTS, {"incident_key": "k1"}).json()["results"]
    assert sorted(e["incident_state"] for e in listed) == ["firing", "resolved"]
    firing = admin.get(EVENTS, {"incident_state": "firing"}).json()["results"]
    assert sorted(e["incident_key"] for e in firing) == ["k1", "k2"]
    bad = admin.get(EVENTS, {"incident_state": "burning"})
    assert_field_error(bad, "incident_state", "not one of the available choices")
