"""The registry: every payload format has a builder; an unknown one gets ours."""

from deliveries.formats import BUILDERS, body_build, envelope
from hooks.models import PayloadFormat
from tests.deliveries.formats.conftest import DELIVERY_ID


def test_every_payload_format_has_a_builder():
    assert set(BUILDERS) == set(PayloadFormat.values)


def test_only_tencent_leaves_a_gap_for_the_delivery(make_event):
    event = make_event()

    gaps = {name: body_build(event, name).tail is not None for name in PayloadFormat.values}

    assert gaps == {name: name == PayloadFormat.TENCENT for name in PayloadFormat.values}


def test_an_unknown_format_is_sent_as_ours(make_event):
    event = make_event()

    assert body_build(event, "gone").for_delivery(DELIVERY_ID) == envelope.body(event)
