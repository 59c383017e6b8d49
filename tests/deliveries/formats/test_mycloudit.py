"""MyCloudIT notifications."""

import datetime as dt

from deliveries.formats import mycloudit
from tests.deliveries.formats.conftest import ACCOUNT_ID, EVENT_ID


def test_the_notification_in_mycloudits_member_order(make_event):
    event = make_event(
        type="Conexlink.CloudManager.Data.Context.Models.VmPowerStateAuditData",
        resource_id="/subscriptions/1111/virtualMachines/office-VDSH-1",
        data={"powerState": "Start", "reason": "AutoScale"},
        data_json='{"powerState":"Start","reason":"AutoScale"}',
    )

    assert (
        mycloudit.body(event)
        == (
            f'{{"Id":"{EVENT_ID}","UserId":"0000aaaa-aaaa-0000-0000-0000aaaa0000",'
            f'"CustomerId":"{ACCOUNT_ID}",'
            '"Type":"Conexlink.CloudManager.Data.Context.Models.VmPowerStateAuditData",'
            '"ResourceId":"/subscriptions/1111/virtualMachines/office-VDSH-1",'
            '"Timestamp":"2022-01-01T22:00:00.2111000Z",'
            '"ActionData":{"powerState":"Start","reason":"AutoScale"}}'
        ).encode()
    )


def test_what_is_not_known_is_null(make_event):
    event = make_event(account=None, domain=None, actor_id="", resource_id="")

    body = mycloudit.body(event)

    assert b'"UserId":null,"CustomerId":null,' in body
    assert b'"ResourceId":null,' in body


def test_the_timestamp_has_seven_fractional_digits_in_utc():
    moment = dt.datetime(2022, 1, 2, 0, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    assert mycloudit.timestamp(moment) == "2022-01-01T22:00:00.0000050Z"
