"""REST framework plumbing shared by the apps: body limits and error shapes."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.views import exception_handler as drf_exception_handler

MAX_JSON_DEPTH = 32


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "too_large"


class LimitedJSONParser(JSONParser):
    """JSON with a size cap (413) and a nesting cap (400), read once.

    DRF reads the request stream itself, bypassing Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE, so the cap is enforced here; and a deeply
    nested document would otherwise surface as a RecursionError (a 500).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.WEBHOOK_EVENT_MAX_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise exceptions.ParseError("Request body is not UTF-8.") from None
        except RecursionError:
            raise exceptions.ParseError("JSON is nested too deeply.") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from None
        if _depth(data) > MAX_JSON_DEPTH:
            raise exceptions.ParseError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
        return data


def _depth(value, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def exception_handler(exc, context):
    """DRF's handler, plus Django ValidationErrors from services as 400s."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    return drf_exception_handler(exc, context)
