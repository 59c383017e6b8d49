"""The REST API's write operations as hooked calls: one mixin, no code in views.

Every POST, PUT, PATCH and DELETE of a view with CallHookMixin is a call of a
method named `<basename>.<verb>`: `webhook.create`, `webhook.update` (PUT and
PATCH), `webhook.delete`, `webhook.rotateSecret`, `event.publish`,
`delivery.redeliver`, `token.create`... (a view may name its verbs, or, for a
plain APIView, its method). The caller is the request's actor; its account and
domain are the events' tenancy. A call starts once authentication,
permissions and throttling have let the request in (a refused request calls
nothing); params are the URL's id, the query and the body; the result is the
answer's body, or for a 4xx or 5xx the error: the exception's class, its
message and the status.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from rest_framework.response import Response

from core import jsontext
from deliveries.callhooks.calls import Call, Caller, call_end, call_start, error_of
from deliveries.callhooks.redact import to_json
from hooks.callmatch import CallPhase
from hooks.permissions import request_actor

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
VERBS = {"create": "create", "update": "update", "partial_update": "update", "destroy": "delete"}


def camel(name: str) -> str:
    """rotate_secret -> rotateSecret: XO's method names are camelCase."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class CallHookMixin:
    # Publishes call.pre / call.post around a view's write operations
    # (deliveries/callhooks/calls.py). First in the bases: it wraps dispatch.
    # (Comments, not a docstring: drf-spectacular would take a docstring as
    # the description of the operations of views that have none.)

    # A viewset's action -> verb, where VERBS or camel(action) is not the name.
    call_hook_verbs: dict[str, str] = {}
    # A plain APIView's method name (a viewset's comes from its basename).
    call_hook_method: str | None = None

    _hooked: Call | None = None
    _hooked_error: BaseException | None = None

    def call_hook_method_name(self, request: Any) -> str | None:
        if request.method not in WRITES:
            return None
        if self.call_hook_method:
            return self.call_hook_method
        action, basename = getattr(self, "action", None), getattr(self, "basename", None)
        if not action or not basename:
            return None
        verb = self.call_hook_verbs.get(action) or VERBS.get(action) or camel(action)
        return f"{basename}.{verb}"

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self._hooked = self._hooked_error = None
        try:
            response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        except BaseException as exc:  # not answered by DRF: Django's 500
            if self._hooked is not None:
                call_end(self._hooked, error=error_of(exc) | {"status": 500})
            raise
        if self._hooked is not None:
            self._end(self._hooked, response)
        return response

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        method = self.call_hook_method_name(request)
        if method is None:
            return
        # Both made only if someone listens to calls (call_start).
        self._hooked = call_start(
            method=method,
            params=lambda: _params(kwargs, request.query_params, _body(request)),
            caller=lambda: _caller(request),
        )

    def handle_exception(self, exc: Exception) -> Any:
        self._hooked_error = exc
        return super().handle_exception(exc)  # type: ignore[misc]

    def _end(self, call: Call, response: Response) -> None:
        if CallPhase.POST not in call.phases:
            return  # nobody listens: not even the error's message is worth making
        data = getattr(response, "data", None)
        if response.status_code < 400:
            call.result = data
            call_end(call)
            return
        exc = self._hooked_error
        name = type(exc).__name__ if exc is not None else _reason(response.status_code)
        call_end(
            call, error={"class": name, "message": _message(data), "status": response.status_code}
        )


def _caller(request: Any) -> Caller:
    actor = request_actor(request)
    return Caller(
        user_id=str(actor.user.pk) if actor.user.is_authenticated else None,
        user_name=actor.user.get_username() or None,
        account=actor.account,
        domain=actor.account.domain if actor.account is not None else None,
    )


def _body(request: Any) -> Any:
    """The request's JSON body, parsed beside DRF, not through request.data:
    DRF's parse error would be raised here rather than where the view reads
    the body (or not at all, for a view that never does), and a failed parse
    leaves request.data empty. Django keeps the bytes, so DRF reads them too."""
    try:
        raw = request._request.body
    except Exception:  # too large, or already read: the view says what is wrong
        return "[unreadable]"
    if not raw:
        return None
    try:
        return jsontext.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "[not JSON]"


def _params(kwargs: dict, query: Any, body: Any) -> dict:
    params: dict[str, Any] = {"id": kwargs["pk"]} if "pk" in kwargs else {}
    params.update({name: query.get(name) for name in query})
    if isinstance(body, dict):
        params.update(body)
    elif body:
        params["body"] = body
    return params


def _message(data: Any) -> str:
    if isinstance(data, dict) and set(data) == {"detail"} and isinstance(data["detail"], str):
        return data["detail"]
    return jsontext.dumps(to_json(data))


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return "HTTPError"
