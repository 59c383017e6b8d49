"""Call hooks for producers in this Django project (Xen Orchestra's web-hooks).

    @call_hook("vm.start")
    def vm_start(vm_id, *, user): ...

    with call_hook("vm.start", params={"id": vm_id}, user=request.user) as call:
        call.result = start(vm_id)

A hooked call publishes a `call.pre` event when it starts and a `call.post`
event when it ends; each event's data is exactly the body an XO hook POSTs:
`type`, `callId`, `userId`, `userName`, `method`, `params`, `timestamp` (epoch
ms: the start for pre, the end for post), and for post `duration` (ms) and
`result` or `error` ({"class", "message"} of the exception, which propagates
unchanged). Events go through event_publish like any other, in the caller's
account and domain, so scopes and tenancy apply, and are queued after the
surrounding transaction commits (a caller's rollback takes them with it).

Hooking never breaks the call: a publish that fails is logged, not raised.
And it costs nearly nothing when nobody listens: hooks.callhooks.call_listeners
says, from memory, which phases anyone in scope wants; none, no event.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.ids import uuid7
from deliveries.callhooks.redact import call_value
from deliveries.publishing import event_publish
from hooks.callhooks import call_listeners
from hooks.callmatch import CALL_POST, CALL_PRE, METHOD_RE, CallPhase
from hooks.models import Account, Domain

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
MAX_ERROR_MESSAGE = 2000


@dataclass(frozen=True)
class Caller:
    """Who calls: the XO userId and userName, and the tenancy the call
    events belong to."""

    user_id: str | None
    user_name: str | None
    account: Account | None
    domain: Domain | None

    @classmethod
    def of(
        cls, user: Any = None, *, account: Account | None = None, domain: Domain | None = None
    ) -> Caller:
        """From a Django user (or None); account defaults to the user's own."""
        known = user is not None and getattr(user, "is_authenticated", False)
        if account is None and domain is None and known:
            membership = getattr(user, "membership", None)  # None: no membership
            account = membership.account if membership is not None else None
        return cls(
            user_id=str(user.pk) if known else None,
            user_name=user.get_username() if known else None,
            account=account,
            domain=account.domain if account is not None else domain,
        )


@dataclass
class Call:
    """One hooked call, between its pre and post events. Set `result` (or
    call set_result) to what the call returned: post carries it."""

    method: str
    params: Any
    caller: Caller
    phases: frozenset[str]
    started_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)
    started: float = field(default_factory=time.perf_counter)
    result: Any = None
    _id: str | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        """The callId, made on first use: a call nobody listens to needs none
        (a uuid7 is a third of what an unhooked call costs)."""
        if self._id is None:
            self._id = str(uuid7())
        return self._id

    def set_result(self, value: Any) -> None:
        self.result = value

    def body(self, phase: str, *, timestamp_ms: int) -> dict:
        """The XO hook body, up to the post-only fields."""
        return {
            "type": phase,
            "callId": self.id,
            "userId": self.caller.user_id,
            "userName": self.caller.user_name,
            "method": self.method,
            "params": self.params,
            "timestamp": timestamp_ms,
        }


NOBODY = Caller(user_id=None, user_name=None, account=None, domain=None)


def call_start(*, method: str, params: Any, caller: Caller | Callable[[], Caller]) -> Call:
    """Begin a hooked call: publish its pre event if anyone in scope wants it.
    `caller` may be a function, called here, where its failure cannot reach
    the call; `params` too, called only if someone listens. Never raises: a
    call that cannot be hooked goes on unhooked."""
    try:
        if call_listeners.none():  # before anything else: most calls end here
            return Call(method=method, params=None, caller=NOBODY, phases=frozenset())
        if callable(caller):
            caller = caller()
        phases = call_listeners.phases(
            method=method,
            account_id=caller.account.pk if caller.account is not None else None,
            domain=caller.domain,
        )
        call = Call(
            method=method,
            params=call_value(params() if callable(params) else params) if phases else None,
            caller=caller,
            phases=phases,
        )
    except Exception:
        log.exception("could not start hooking %s; it goes on unhooked", method)
        return Call(method=method, params=None, caller=NOBODY, phases=frozenset())
    if CallPhase.PRE in phases:
        _publish(call, CALL_PRE, lambda: call.body(CallPhase.PRE, timestamp_ms=call.started_ms))
    return call


def call_end(call: Call, *, error: dict | None = None) -> None:
    """End a hooked call: publish its post event (with call.result, or
    `error`) if anyone wanted it when the call began. Never raises."""
    if CallPhase.POST not in call.phases:
        return
    duration = round((time.perf_counter() - call.started) * 1000)
    ended_ms = time.time_ns() // 1_000_000

    def body() -> dict:
        post = call.body(CallPhase.POST, timestamp_ms=ended_ms) | {"duration": duration}
        if error is None:
            post["result"] = call_value(call.result)
        else:
            post["error"] = call_value(error)
        return post

    _publish(call, CALL_POST, body)


def error_of(exc: BaseException) -> dict:
    """The XO `error` of a call that raised: the exception's class and message."""
    try:
        message = str(exc)[:MAX_ERROR_MESSAGE]
    except Exception:  # an exception that cannot say what it is must not hide itself
        message = f"<{type(exc).__name__} with an unprintable message>"
    return {"class": type(exc).__name__, "message": message}


def _publish(call: Call, type: str, make_body: Callable[[], dict]) -> None:
    try:
        body = make_body()
        event_publish(
            type=type,
            data=body,
            account=call.caller.account,
            domain=call.caller.domain if call.caller.account is None else None,
            resource_id=call.id,
            resource_type="call",
            occurred_at=dt.datetime.fromtimestamp(body["timestamp"] / 1000, tz=dt.UTC),
        )
    except Exception:
        # The call goes on: an audit event lost is logged, never the caller's error.
        log.exception("could not publish %s of %s (call %s)", type, call.method, call.id)


# Lower case: used as a decorator and with `with`, as contextlib's are.
class call_hook:
    """Hook a call of `method`: as a decorator, or as a context manager that
    gives the Call (set its result). The decorator's params are the
    arguments the function was called with; the one named `user_param`
    ("user") is the caller, not a param. An exception in the call ends it
    with `error` and propagates unchanged."""

    def __init__(
        self,
        method: str,
        *,
        params: Any = None,
        user: Any = None,
        account: Account | None = None,
        domain: Domain | None = None,
        user_param: str = "user",
    ) -> None:
        if not METHOD_RE.match(method):
            raise ValueError(
                f"{method!r} is not a method name: use letters, digits, '.', '_' and '-'."
            )
        self.method, self.params, self.user = method, params, user
        self.account, self.domain, self.user_param = account, domain, user_param
        # Per thread: one call_hook object may be entered by several threads at once.
        self._local = threading.local()

    @property
    def _calls(self) -> list[Call]:
        calls = getattr(self._local, "calls", None)
        if calls is None:
            calls = self._local.calls = []
        return calls

    def __enter__(self) -> Call:
        call = call_start(
            method=self.method,
            params=self.params or {},
            caller=lambda: Caller.of(self.user, account=self.account, domain=self.domain),
        )
        self._calls.append(call)
        return call

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        # Returns None: the exception, if any, goes on as it was.
        call = self._calls.pop()
        call_end(call, error=error_of(exc) if exc is not None else None)

    def __call__(self, func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def hooked(*args: Any, **kwargs: Any) -> Any:
            try:
                arguments = signature.bind(*args, **kwargs).arguments
            except TypeError:
                return func(*args, **kwargs)  # the call's own TypeError, unhooked
            params = _params_of(arguments, signature)
            user = params.pop(self.user_param, self.user)
            with call_hook(
                self.method,
                params=params if self.params is None else self.params,
                user=user,
                account=self.account,
                domain=self.domain,
            ) as call:
                call.result = func(*args, **kwargs)
                return call.result

        return hooked  # type: ignore[return-value]


def _params_of(arguments: dict[str, Any], signature: inspect.Signature) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in arguments.items():
        kind = signature.parameters[name].kind
        if name in ("self", "cls"):
            continue
        if kind is inspect.Parameter.VAR_KEYWORD:
            params.update(value)
        else:
            params[name] = value
    return params
