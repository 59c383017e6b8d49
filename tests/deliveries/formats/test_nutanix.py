"""Nutanix v3 notifications."""

import pytest

from deliveries.formats import nutanix


def test_a_notification_has_version_data_event_type_and_entity_reference(make_event):
    event = make_event(data={"metadata": {"kind": "vm"}}, data_json='{"metadata":{"kind":"vm"}}')

    assert nutanix.body(event) == (
        b'{"version":"1.0","data":{"metadata":{"kind":"vm"}},"event_type":"VM.ON",'
        b'"entity_reference":{"kind":"vm","uuid":"63a942ac-d0ee-4dc8-b92e-8e009b703d84"}}'
    )


@pytest.mark.parametrize("event_type", ["VM.DELETE", "SUBNET.DELETE", "vm.delete"])
def test_a_delete_carries_the_uuid_without_the_metadata(make_event, event_type):
    event = make_event(type=event_type, resource_id="uuid-1")

    body = nutanix.body(event)

    kind = event_type.split(".")[0].lower()
    assert (
        body
        == (
            f'{{"version":"1.0","event_type":"{event_type}",'
            f'"entity_reference":{{"kind":"{kind}","uuid":"uuid-1"}}}}'
        ).encode()
    )


@pytest.mark.parametrize(
    ("event_type", "resource_type", "kind"),
    [("VM.ON", "VirtualMachine", "vm"), ("SUBNET.CREATE", "", "subnet"), ("reboot", "VM", "vm")],
)
def test_the_kind_is_the_event_types_first_part(make_event, event_type, resource_type, kind):
    event = make_event(type=event_type, resource_type=resource_type)

    assert nutanix.entity_kind(event) == kind
