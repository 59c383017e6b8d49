"""Which calls a webhook asks for (hooks/callmatch.py): pure rules."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from hooks.callmatch import call_wanted, gets_ordinary_events, validate_call_methods


@pytest.mark.parametrize(
    ("patterns", "method", "wanted"),
    [
        (["vm.start"], "vm.start", True),
        (["vm.start"], "vm.stop", False),
        (["vm.*"], "vm.start", True),
        (["vm.*"], "vmx.start", False),
        (["webhook.*"], "webhook.rotateSecret", True),
        (["*"], "event.publish", True),
        (["vm.*", "event.publish"], "event.publish", True),
        (["VM.*"], "vm.start", False),  # as event types: case matters
        ([], "vm.start", False),  # no patterns: no call hooks at all
    ],
)
def test_methods_match_by_pattern(patterns, method, wanted):
    assert (
        call_wanted(call_methods=patterns, call_phase="both", method=method, phase="pre") is wanted
    )


@pytest.mark.parametrize(
    ("call_phase", "phase", "wanted"),
    [
        ("both", "pre", True),
        ("both", "post", True),
        ("pre", "pre", True),
        ("pre", "post", False),
        ("post", "pre", False),
        ("post", "post", True),
    ],
)
def test_the_phase_is_pre_post_or_both(call_phase, phase, wanted):
    assert (
        call_wanted(call_methods=["vm.*"], call_phase=call_phase, method="vm.start", phase=phase)
        is wanted
    )


@pytest.mark.parametrize(
    ("call_methods", "event_types", "gets"),
    [
        ([], [], True),  # an ordinary webhook: every event type
        ([], ["VM.*"], True),
        (["vm.*"], [], False),  # a call hook only
        (["vm.*"], ["VM.*"], True),  # both: its event types apply as always
    ],
)
def test_a_call_hook_without_event_types_gets_no_ordinary_events(call_methods, event_types, gets):
    assert gets_ordinary_events(call_methods=call_methods, event_types=event_types) is gets


@pytest.mark.parametrize(
    "value",
    [
        "vm.*",
        ["vm start"],
        ["vm/start"],
        ["vm.start\n"],
        [""],
        ["x" * 129],
        [1],
        ["a"] * 101,
    ],
)
def test_bad_method_patterns_are_refused(value):
    with pytest.raises(ValidationError):
        validate_call_methods(value)


def test_good_method_patterns_pass():
    validate_call_methods(["vm.start", "webhook.*", "*", "a-b_c.D9"])
