"""Issue 10, item 8: `data` reaches the receiver as the producer wrote it.

PostgreSQL's jsonb reorders keys and rewrites 6.02e23 as an integer; Python's
json rewrites it as 6.02e+23. Through the real API, the database, a real
worker and a real receiver, the bytes received must hold the producer's text.
"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook as StandardWebhook

from deliveries.models import Event
from deliveries.publishing import event_publish
from hooks.services import token_issue
from tests.factories import TEST_SECRET, WebhookFactory
from tests.live import wait_until

pytestmark = pytest.mark.integration

# Keys out of order (jsonb sorts them by length, then bytes), floats in
# exponent notation and with trailing zeros, an integer beyond 64 bits, -0.0,
# and characters outside the BMP.
DATA_TEXT = (
    '{"zeta":1,"alpha":{"y":6.02e23,"x":1.0,"w":1e-7,"v":1E5,"u":1.10},'
    '"big":12345678901234567890,"neg":-0.0,"ü":"é✓😀","list":[2.50,0,-1e-300]}'
)


def envelope_data_text(body: bytes) -> str:
    """The text of the envelope's data member: everything after '"data":'."""
    _, sep, rest = body.decode().partition(',"data":')
    assert sep and rest.endswith("}"), body
    return rest[:-1]


def test_data_published_over_the_api_arrives_byte_for_byte(worker, receivers, tenants):
    # Given a webhook and a producer with a token
    r = receivers(secret=TEST_SECRET)
    acct = tenants["east_acct"]
    WebhookFactory(payload_url=f"{r.url}/hook", account=acct)
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("producer", password="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=admin)[1]}")

    # When it publishes data written by hand (not by Python's json)
    body = f'{{"type":"VM.CREATE","account":"{acct.id}","data":{DATA_TEXT}}}'
    response = client.post("/api/v1/events/", body, content_type="application/json")

    # Then the receiver gets that very text as data, signed over the bytes it got
    assert response.status_code == 202, response.content
    (received,) = r.wait_for(1)
    assert envelope_data_text(received.body) == DATA_TEXT
    assert received.signature == "valid"
    envelope = StandardWebhook(TEST_SECRET).verify(received.body, received.headers)
    assert envelope["id"] == response.json()["id"]
    assert type(envelope["data"]["alpha"]["y"]) is float  # not an int, as jsonb made it
    assert list(envelope["data"]) == ["zeta", "alpha", "big", "neg", "ü", "list"]
    # and the stored event still answers filters on its data
    assert Event.objects.filter(data__big=12345678901234567890).count() == 1


def test_a_python_producers_dict_is_serialised_once_and_delivered_so(worker, receivers, tenants):
    r = receivers(secret=TEST_SECRET)
    acct = tenants["west_acct"]
    WebhookFactory(payload_url=f"{r.url}/hook", account=acct)
    data = {"zeta": 6.02e23, "alpha": 1.0, "big": 2**70, "ü": "😀"}

    event_publish(type="VM.CREATE", data=data, account=acct)

    (received,) = r.wait_for(1)
    assert envelope_data_text(received.body) == (
        '{"zeta":6.02e+23,"alpha":1.0,"big":1180591620717411303424,"ü":"😀"}'
    )
    assert json.loads(received.body)["data"] == data
    wait_until(
        lambda: Event.objects.get().deliveries.get().status == "succeeded",
        message="the delivery to be recorded",
    )
