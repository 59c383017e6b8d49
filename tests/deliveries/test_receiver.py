"""The bundled receiver's Tencent Cloud answer (deliveries/receiver.py
`tencent`, `manage.py listen --tencent`): the session id echoed from the
body, else from the X-Webhook-Session-Id header."""

import json
import urllib.request

from deliveries.receiver import tencent


def post(url: str, body: bytes, headers: dict) -> dict:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_the_tencent_answer_echoes_the_session_id(receivers):
    r = receivers(responder=tencent())
    from_body = post(r.url, json.dumps({"sessionId": "s-1", "alarmStatus": 1}).encode(), {})
    assert from_body == {"sessionId": "s-1", "retCode": 0}
    from_header = post(r.url, b'{"id": "e"}', {"X-Webhook-Session-Id": "d-1"})
    assert from_header == {"sessionId": "d-1", "retCode": 0}
    refusing = receivers(responder=tencent(1))
    assert post(refusing.url, b"[]", {"X-Webhook-Session-Id": "d-2"})["retCode"] == 1
