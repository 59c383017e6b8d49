"""CloudStack's event description as the body."""

import datetime as dt

import pytest

from deliveries.formats import cloudstack
from tests.deliveries.formats.conftest import ACCOUNT_ID


def test_the_body_is_cloudstacks_event_description_then_data(make_event):
    event = make_event(type="VM.CREATE", resource_type="VirtualMachine", resource_id="vm-42")

    assert (
        cloudstack.body(event)
        == (
            '{"user":"0000aaaa-aaaa-0000-0000-0000aaaa0000",'
            f'"account":"{ACCOUNT_ID}","event":"VM.CREATE","status":"Completed",'
            '"entity":"VirtualMachine","entityuuid":"vm-42","description":"",'
            '"eventDateTime":"2022-01-01 22:00:00 +0000","data":{"z":1,"price":1.50}}'
        ).encode()
    )


@pytest.mark.parametrize(
    ("data", "status", "description"),
    [
        ({"status": "Started", "description": "starting vm-42"}, "Started", "starting vm-42"),
        ({"status": "running", "description": 7}, "Completed", ""),
    ],
)
def test_status_and_description_come_from_data_when_cloudstack_would_say_them(
    make_event, data, status, description
):
    event = make_event(data=data, data_json="")

    body = cloudstack.body(event).decode()

    assert f'"status":"{status}"' in body
    assert f'"description":"{description}"' in body


def test_no_actor_or_account_is_an_empty_string_as_in_cloudstacks_map_of_strings(make_event):
    event = make_event(account=None, domain=None, actor_id="", actor_name="")

    assert cloudstack.body(event).startswith(b'{"user":"","account":"","event":')


def test_the_date_is_in_utc():
    moment = dt.datetime(2024, 6, 10, 10, 40, 44, tzinfo=dt.timezone(dt.timedelta(hours=5.5)))

    assert cloudstack.event_date_time(moment) == "2024-06-10 05:10:44 +0000"
