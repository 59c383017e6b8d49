"""Tencent Cloud alarm callbacks: built once, the delivery id spliced in."""

import uuid

from deliveries.formats import tencent
from tests.deliveries.formats.conftest import DELIVERY_ID, EVENT_ID

ALARM = (
    '{"note":"dropped","alarmPolicyInfo":{"policyId":"policy-n4exeh88","conditions":'
    '{"calcValue":"90","alarmNotifyPeriod":300}},"alarmStatus":1,'
    '"alarmObjInfo":{"region":"gz","namespace":"qce/cvm","dimensions":{"objId":"x"}},'
    '"sessionId":"from-the-producer"}'
)


def test_an_alarm_event_sends_its_alarm_members_after_the_session_id(make_event):
    event = make_event(type="ALARM.FIRING", data={}, data_json=ALARM)

    body = tencent.body(event).for_delivery(DELIVERY_ID)

    assert (
        body
        == (
            f'{{"sessionId":"{DELIVERY_ID}","alarmStatus":1,'
            '"alarmObjInfo":{"region":"gz","namespace":"qce/cvm","dimensions":{"objId":"x"}},'
            '"alarmPolicyInfo":{"policyId":"policy-n4exeh88","conditions":'
            '{"calcValue":"90","alarmNotifyPeriod":300}}}'
        ).encode()
    )


def test_each_delivery_gets_its_own_session_id_in_the_same_built_body(make_event):
    built = tencent.body(make_event(data={}, data_json='{"alarmStatus":0}'))
    other = uuid.UUID("01890a5d-ac96-7000-8000-00000000beef")

    assert built.for_delivery(DELIVERY_ID) == (
        f'{{"sessionId":"{DELIVERY_ID}","alarmStatus":0}}'.encode()
    )
    assert built.for_delivery(other) == f'{{"sessionId":"{other}","alarmStatus":0}}'.encode()


def test_an_event_without_alarm_members_sends_our_envelope_after_the_session_id(make_event):
    event = make_event()

    body = tencent.body(event).for_delivery(DELIVERY_ID)

    assert body.startswith(
        f'{{"sessionId":"{DELIVERY_ID}","id":"{EVENT_ID}","type":"VM.ON",'.encode()
    )
    assert body.endswith(b'"data":{"z":1,"price":1.50}}')
