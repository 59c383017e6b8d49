"""Our envelope as a body: the actor member added before data, data as published."""

from deliveries.formats import envelope
from tests.deliveries.formats.conftest import ACCOUNT_ID, DOMAIN_ID, EVENT_ID


def test_the_envelope_names_the_actor_and_keeps_data_as_published(make_event):
    event = make_event()

    assert (
        envelope.body(event)
        == (
            f'{{"id":"{EVENT_ID}","type":"VM.ON","timestamp":"2022-01-01T22:00:00.211100Z",'
            f'"account":"{ACCOUNT_ID}","domain":"{DOMAIN_ID}",'
            '"resource":{"id":"63a942ac-d0ee-4dc8-b92e-8e009b703d84","type":"vm"},'
            '"actor":{"id":"0000aaaa-aaaa-0000-0000-0000aaaa0000","name":"alice@example.com"},'
            '"data":{"z":1,"price":1.50}}'
        ).encode()
    )


def test_no_actor_is_null(make_event):
    event = make_event(actor_id="", actor_name="")

    assert b'"actor":null,"data":' in envelope.body(event)
    assert event.envelope()["actor"] is None
