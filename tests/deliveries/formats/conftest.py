import datetime as dt
import uuid

import pytest

from tests.factories import AccountFactory, EventFactory

EVENT_ID = uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
ACCOUNT_ID = uuid.UUID("01890a5d-ac96-7c00-8000-000000000001")
DOMAIN_ID = uuid.UUID("01890a5d-ac96-7c00-8000-0000000000d0")
DELIVERY_ID = uuid.UUID("01890a5d-ac96-7000-8000-00000000de11")
WHEN = dt.datetime(2022, 1, 1, 22, 0, 0, 211100, tzinfo=dt.UTC)


@pytest.fixture
def make_event():
    """An unsaved event with fixed ids and time; `data_json` is the text as
    published (the number 1.50 and the key order are the producer's)."""

    def make(**kwargs):
        account = AccountFactory.build(id=ACCOUNT_ID)
        account.domain.id = DOMAIN_ID
        defaults = {
            "id": EVENT_ID,
            "account": account,
            "domain": account.domain,
            "type": "VM.ON",
            "resource_id": "63a942ac-d0ee-4dc8-b92e-8e009b703d84",
            "resource_type": "vm",
            "actor_id": "0000aaaa-aaaa-0000-0000-0000aaaa0000",
            "actor_name": "alice@example.com",
            "data": {"z": 1, "price": 1.5},
            "data_json": '{"z":1,"price":1.50}',
            "occurred_at": WHEN,
        }
        return EventFactory.build(**{**defaults, **kwargs})

    return make
