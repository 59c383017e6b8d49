"""REST framework plumbing shared by the apps: body limits and error shapes."""

from __future__ import annotations

import logging
import sys
from typing import IO, TYPE_CHECKING, Any, NoReturn

import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.filters import OrderingFilter
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser

from core import jsontext

log = logging.getLogger(__name__)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from django.db.models import Model, QuerySet
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

MAX_JSON_DEPTH = 32

# What makes a request fail for a moment, not for good: the database (a
# restart, a failover, a backend terminated) or the broker is unreachable.
# The client gets a 503 and Retry-After, and may send the same request again
# (publishing is idempotent with an event id).
TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)
RETRY_AFTER_SECONDS = 5


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is briefly unavailable (database or broker); retry shortly."
    default_code = "unavailable"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "too_large"


class LimitedJSONParser(JSONParser):
    """JSON with a size cap (413) and a nesting cap (400).

    Django's DATA_UPLOAD_MAX_MEMORY_SIZE (the same limit) usually trips first,
    when DRF reads the body; exception_handler turns that into the same 413.
    This cap covers bodies sent without a Content-Length. A deeply nested
    document would otherwise surface as a RecursionError (a 500), and
    PostgreSQL's jsonb refuses \u0000 (a 500 there, stored on SQLite).
    Numbers with a fraction or exponent keep their text (core.jsontext), so
    an event's data is delivered as written.
    """

    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.WEBHOOK_EVENT_MAX_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
        try:
            data = jsontext.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError:
            raise exceptions.ParseError("Request body is not UTF-8.") from None
        except RecursionError:
            raise exceptions.ParseError("JSON is nested too deeply.") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from None
        _check_depth(data)
        return data


def _refuse_constant(name: str) -> NoReturn:
    # Python's json accepts NaN and Infinity; JSON (and PostgreSQL's jsonb,
    # and receivers) do not.
    raise ValueError(f"{name} is not valid JSON")


def _check_depth(value: Any, level: int = 1) -> None:
    if level > MAX_JSON_DEPTH:
        raise exceptions.ParseError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    for item in children:
        _check_depth(item, level + 1)


def contains_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character anywhere (keys included).

    PostgreSQL's jsonb refuses \\u0000 (a 500 there, while SQLite stores it):
    serializers refuse it up front, naming the field.
    """
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Django ValidationErrors from services as 400s,
    Django's request-size refusal as a JSON 413, and a database or broker
    outage as a JSON 503 with Retry-After."""
    # Imported here: rest_framework.views reads this module's classes from the
    # REST_FRAMEWORK settings when it loads, so a top-level import is circular.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(
            f"Request body is larger than {settings.WEBHOOK_EVENT_MAX_BYTES} bytes."
        )
    elif isinstance(exc, DjangoValidationError):
        detail: Any = exc.message_dict if hasattr(exc, "error_dict") else None
        if detail is None:
            detail = {"detail": " ".join(exc.messages)}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, TRANSIENT_ERRORS):
        log.warning("503 for a transient outage: %s: %s", type(exc).__name__, exc)
        exc = ServiceUnavailable()
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = one_shape(response.data)
    if response is not None and response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def one_shape(data: Any) -> Any:
    """Error bodies have one shape: `{"detail": "a string"}`, or field errors
    `{"field": ["message", …]}`. A ValidationError raised with a message
    alone (DRF answers a bare list) or with a list as its detail is joined."""
    if isinstance(data, list) and all(isinstance(item, str) for item in data):
        return {"detail": " ".join(data)}
    if isinstance(data, dict) and isinstance(data.get("detail"), list):
        return {**data, "detail": " ".join(str(item) for item in data["detail"])}
    return data


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """handler500: what escaped every view and middleware. Under /api/ it is
    JSON, never Django's HTML page (a 503 with Retry-After when the database
    or broker is away); elsewhere Django's page."""
    if not request.path.startswith("/api/"):
        return defaults.server_error(request, *args, **kwargs)
    if isinstance(sys.exc_info()[1], TRANSIENT_ERRORS):
        return JsonResponse(
            {"detail": ServiceUnavailable.default_detail},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return JsonResponse({"detail": "Server error."}, status=500)


class ConsoleContentNegotiation(DefaultContentNegotiation):
    """DRF's browsable API (HTML) for users logged in to the console (staff,
    by session) only;
    everyone else, API clients included, gets JSON. The user is looked at
    only when HTML would be chosen, so a JSON request costs nothing more."""

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        if renderers and renderers[0].media_type == JSON and _any_or_json(request, format_suffix):
            # DRF's own answer to these (its first renderer, JSON), without
            # parsing the header: what every API client sends, on every call.
            return renderers[0], JSON
        chosen = super().select_renderer(request, renderers, format_suffix)
        if chosen[0].format != "api" or _console_user(request):
            return chosen
        others = [r for r in renderers if r.format != "api"]
        return super().select_renderer(request, others, format_suffix)


JSON = "application/json"


def _any_or_json(request: Request, format_suffix: Any) -> bool:
    """No format asked for (a suffix or ?format=: no query at all), and an
    Accept header that takes JSON as it is (none, */* or application/json)."""
    meta = request.META
    return (
        format_suffix is None
        and not meta.get("QUERY_STRING")
        and meta.get("HTTP_ACCEPT", "*/*") in ("*/*", JSON)
    )


def _console_user(request: Request) -> bool:
    try:
        user = request.user
    except exceptions.APIException:  # bad credentials: the view will say so, in JSON
        return False
    # Logged in to the console (a session), not a token: a script that sends
    # Accept: text/html with its token still gets JSON.
    by_session = isinstance(request.successful_authenticator, SessionAuthentication)
    return bool(by_session and user.is_authenticated and user.is_staff)


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """?limit= and ?offset= that refuse nonsense instead of quietly fixing it.

    DRF's own falls back to the default page for limit=0, -5 or "abc", and cuts
    limit=10**9 down without a word; a client should learn its request was off.
    """

    default_limit = 50

    # A property, so override_settings reaches it; DRF declares a plain attribute.
    @property
    def max_limit(self) -> int:  # type: ignore[override]
        return settings.API_MAX_PAGE_SIZE

    def get_limit(self, request: Request) -> int:
        return self._number(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return self._number(request, self.offset_query_param, 0, 0, None)

    def _number(self, request: Request, name: str, default: int, low: int, high: int | None) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise exceptions.ValidationError({name: [f"{raw!r} is not a whole number."]}) from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise exceptions.ValidationError({name: [f"Must be {bound}."]})
        return value


class StrictOrderingFilter(OrderingFilter):
    """?ordering= on a field the view does not offer is a 400, not ignored."""

    def get_ordering(
        self, request: Request, queryset: QuerySet[Model], view: APIView
    ) -> Sequence[str] | None:
        params = request.query_params.get(self.ordering_param)
        if params:
            fields = [p.strip() for p in params.split(",") if p.strip()]
            valid = {
                name for name, _ in self.get_valid_fields(queryset, view, {"request": request})
            }
            unknown = [f for f in fields if f.lstrip("-") not in valid]
            if unknown:
                raise exceptions.ValidationError(
                    {
                        self.ordering_param: [
                            f"Cannot order by {', '.join(unknown)}; "
                            f"choose from {', '.join(sorted(valid))}."
                        ]
                    }
                )
        return super().get_ordering(request, queryset, view)
