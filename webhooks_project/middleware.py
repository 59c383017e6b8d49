"""Keep a client's connection usable after an answer that did not read its body.

A request refused before its body is read (413 for a body over
WEBHOOK_EVENT_MAX_BYTES, 401, 404...) leaves that body on the connection.
gunicorn then drains at most 64 KB of it, and closes the connection after an
answer that said `Connection: keep-alive`: the client's next request on it
(what every HTTP library sends next) fails with "Remote end closed connection
without response". So what the view left unread is read here, up to
DRAIN_MAX_BYTES; a larger body gets `Connection: close` on its answer instead
(gunicorn_conf.pre_request).
"""

from __future__ import annotations

# Bigger bodies are not read, only refused; their connection closes.
DRAIN_MAX_BYTES = 16 * 1024 * 1024
CHUNK = 64 * 1024


class DrainRequestBody:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        drained = 0
        try:
            while drained < DRAIN_MAX_BYTES:
                chunk = request.read(CHUNK)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:  # the client went away mid-body: nothing left to keep
            pass
        return response
