"""Xen Orchestra hook bodies."""

import pytest

from core import jsontext
from deliveries.formats import xo
from tests.deliveries.formats.conftest import EVENT_ID

CALL = (
    '{"type":"post","callId":"c-1","userId":"u-1","userName":"admin@admin.net",'
    '"method":"vm.start","params":{"id":"vm-1"},"timestamp":1641074400211,'
    '"duration":12,"result":true}'
)


def test_a_call_hook_events_data_is_the_body_as_published(make_event):
    event = make_event(data=jsontext.loads(CALL), data_json=CALL)

    assert xo.body(event) == CALL.encode()


def test_any_other_event_is_told_as_a_post_hook_of_its_type(make_event):
    event = make_event()

    assert (
        xo.body(event)
        == (
            f'{{"type":"post","callId":"{EVENT_ID}","userId":"0000aaaa-aaaa-0000-0000-0000aaaa0000",'
            '"userName":"alice@example.com","method":"VM.ON","params":{"z":1,"price":1.50},'
            '"timestamp":1641074400211,"duration":0,"result":null}'
        ).encode()
    )


@pytest.mark.parametrize(
    "data",
    [
        {"type": "pre", "callId": "c", "method": "vm.start"},
        {"type": "post", "callId": "c", "method": "vm.start", "error": {}},
    ],
)
def test_call_hook_data_is_recognised(data):
    assert xo.is_call_hook(data)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"type": "create", "callId": "c", "method": "m"},
        {"type": "pre", "callId": 1, "method": "m"},
        {"type": "pre", "callId": "c"},
        [1],
    ],
)
def test_other_data_is_not_a_call_hook(data):
    assert not xo.is_call_hook(data)
