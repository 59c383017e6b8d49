"""Event filter rules (CloudStack's webhook filters): include or exclude an
event type matched exactly, by prefix, by suffix or by substring.

Rules live on the webhook as validated JSON (`Webhook.event_filters`), not in
a table of their own: matching an event reads the candidate webhooks in one
query and decides in Python, with no query per webhook. A rule is
{"id", "mode", "match", "value"}; the id lets the API delete one.

The decision, in `filters_allow`: an exclude rule that matches refuses the
event whatever else matches; then, if there is any include rule (an
`event_types` pattern counts as one), at least one must match.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import models

from hooks.patterns import patterns_match

MAX_FILTERS = 100
# The characters of an event type (hooks.patterns.EVENT_TYPE_RE); no '*': a
# rule says how it matches in `match` instead.
FILTER_VALUE_RE = re.compile(r"\A[A-Za-z0-9._-]{1,128}\Z")


class FilterMode(models.TextChoices):
    INCLUDE = "include", "Include"
    EXCLUDE = "exclude", "Exclude"


class FilterMatch(models.TextChoices):
    EXACT = "exact", "Exactly"
    PREFIX = "prefix", "Starts with"
    SUFFIX = "suffix", "Ends with"
    CONTAINS = "contains", "Contains"


RULE_KEYS = frozenset({"id", "mode", "match", "value"})


def rule_matches(rule: dict, event_type: str) -> bool:
    value, match = rule["value"], rule["match"]
    if match == FilterMatch.EXACT:
        return event_type == value
    if match == FilterMatch.PREFIX:
        return event_type.startswith(value)
    if match == FilterMatch.SUFFIX:
        return event_type.endswith(value)
    return value in event_type


def filters_allow(patterns: list[str], rules: Iterable[dict], event_type: str) -> bool:
    """Whether a webhook with these `event_types` patterns and filter rules
    receives `event_type`: no exclude rule matches, and when includes exist
    (patterns or include rules), one of them matches. Case-sensitive, as the
    patterns always were."""
    includes = []
    for rule in rules:
        if rule["mode"] == FilterMode.EXCLUDE:
            if rule_matches(rule, event_type):
                return False
        else:
            includes.append(rule)
    if not patterns and not includes:
        return True
    if patterns and patterns_match(patterns, event_type):
        return True
    return any(rule_matches(rule, event_type) for rule in includes)


def filter_rule_error(rule: object) -> str | None:
    """What is wrong with one rule, in words for a 400; None when it is fine."""
    if not isinstance(rule, dict):
        return "A filter rule must be an object with mode, match and value."
    unknown = set(rule) - RULE_KEYS
    if unknown:
        return f"Unknown filter rule fields: {', '.join(sorted(map(str, unknown)))}."
    if rule.get("mode") not in FilterMode.values:
        return f"mode must be one of {', '.join(FilterMode.values)}; got {rule.get('mode')!r}."
    if rule.get("match") not in FilterMatch.values:
        return f"match must be one of {', '.join(FilterMatch.values)}; got {rule.get('match')!r}."
    value = rule.get("value")
    if not isinstance(value, str) or not FILTER_VALUE_RE.match(value):
        return (
            f"value {value!r} is not valid: 1-128 letters, digits, '.', '_' or '-' "
            "(no '*': choose match prefix, suffix or contains instead)."
        )
    try:
        uuid.UUID(str(rule.get("id")))
    except ValueError:
        return f"id {rule.get('id')!r} is not a UUID."
    return None


def validate_event_filters(value: object) -> None:
    """The model's validator for `Webhook.event_filters`."""
    if not isinstance(value, list):
        raise ValidationError("Must be a list of filter rules.")
    if len(value) > MAX_FILTERS:
        raise ValidationError(f"At most {MAX_FILTERS} filter rules per webhook.")
    seen = set()
    for rule in value:
        error = filter_rule_error(rule)
        if error:
            raise ValidationError(error)
        key = (rule["mode"], rule["match"], rule["value"])
        if key in seen:
            raise ValidationError(
                f"The rule {rule['mode']} {rule['match']} {rule['value']!r} is there twice."
            )
        seen.add(key)


def filter_rule(*, mode: str, match: str, value: str, id: str | None = None) -> dict:
    """A rule as stored, with a new id unless one is given."""
    return {"id": id or str(uuid.uuid4()), "mode": mode, "match": match, "value": value}
