"""Include/exclude rules (hooks.event_filters): every match mode, exclude
wins, includes (rules or event_types patterns) must match one."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from hooks.event_filters import filter_rule, filters_allow, validate_event_filters


def rule(mode: str, match: str, value: str) -> dict:
    return filter_rule(mode=mode, match=match, value=value)


@pytest.mark.parametrize(
    ("match", "value", "event_type", "expected"),
    [
        ("exact", "VM.CREATE", "VM.CREATE", True),
        ("exact", "VM.CREATE", "VM.CREATED", False),
        ("exact", "VM.CREATE", "vm.create", False),  # case-sensitive, as patterns are
        ("prefix", "VM.", "VM.DESTROY", True),
        ("prefix", "VM.", "NET.VM.CREATE", False),
        ("suffix", ".DELETE", "VOLUME.DELETE", True),
        ("suffix", ".DELETE", "VOLUME.DELETED", False),
        ("contains", "SNAPSHOT", "VM.SNAPSHOT.CREATE", True),
        ("contains", "SNAPSHOT", "VM.CREATE", False),
    ],
)
def test_each_match_mode_as_an_include_rule(match, value, event_type, expected):
    assert filters_allow([], [rule("include", match, value)], event_type) is expected


@pytest.mark.parametrize(
    ("match", "value", "event_type"),
    [
        ("exact", "VM.DESTROY", "VM.DESTROY"),
        ("prefix", "VM.DES", "VM.DESTROY"),
        ("suffix", "TROY", "VM.DESTROY"),
        ("contains", "EST", "VM.DESTROY"),
    ],
)
def test_each_match_mode_as_an_exclude_rule_wins_over_includes(match, value, event_type):
    rules = [rule("include", "prefix", "VM."), rule("exclude", match, value)]

    assert filters_allow(["VM.*"], rules, event_type) is False
    assert filters_allow(["VM.*"], rules, "VM.CREATE") is True


def test_no_rules_and_no_patterns_let_everything_through():
    assert filters_allow([], [], "ANYTHING.AT.ALL") is True


def test_only_exclude_rules_let_everything_else_through():
    rules = [rule("exclude", "suffix", ".DELETE")]

    assert filters_allow([], rules, "VM.CREATE") is True
    assert filters_allow([], rules, "VM.DELETE") is False


def test_event_types_patterns_are_include_rules_beside_the_new_ones():
    rules = [rule("include", "exact", "NET.CREATE")]

    assert filters_allow(["VM.*"], rules, "VM.START") is True  # the pattern
    assert filters_allow(["VM.*"], rules, "NET.CREATE") is True  # the rule
    assert filters_allow(["VM.*"], rules, "NET.DELETE") is False  # neither


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("nope", "Must be a list"),
        ([{"mode": "include", "match": "exact"}], "value None is not valid"),
        ([{**rule("include", "exact", "A"), "mode": "maybe"}], "mode must be one of"),
        ([{**rule("include", "exact", "A"), "match": "regex"}], "match must be one of"),
        ([rule("include", "prefix", "VM.*")], "no '*'"),
        ([{**rule("include", "exact", "A"), "colour": "red"}], "Unknown filter rule fields"),
        ([{**rule("include", "exact", "A"), "id": "x"}], "is not a UUID"),
        ([rule("include", "exact", "A"), rule("include", "exact", "A")], "is there twice"),
        ([rule("include", "exact", f"A{i}") for i in range(101)], "At most 100"),
    ],
)
def test_invalid_rules_are_refused_saying_why(rules, message):
    with pytest.raises(ValidationError, match=message):
        validate_event_filters(rules)
