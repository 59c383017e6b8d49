"""core.validated: a serializer's validated_data, its fields bound once per thread."""

from __future__ import annotations

import threading

import pytest
from rest_framework import serializers

from core.validated import _bound, validated


class Body(serializers.Serializer):
    name = serializers.RegexField(r"\A[a-z]+\Z", max_length=8)
    size = serializers.IntegerField(required=False, min_value=1)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    fields_built = 0

    def get_fields(self):
        type(self).fields_built += 1
        return super().get_fields()

    def validate_name(self, value: str) -> str:
        return f"{value}@{self.context['who']}"


@pytest.fixture(autouse=True)
def count_from_zero():
    Body.fields_built = 0


def test_it_answers_what_is_valid_answers():
    data = {"name": "abc", "size": "3", "tags": ["x", 1]}
    serializer = Body(data=data, context={"who": "me"})
    serializer.is_valid(raise_exception=True)

    assert validated(Body, data, context={"who": "me"}) == serializer.validated_data


def test_the_fields_are_built_once_per_thread_and_each_call_has_its_context():
    validated(Body, {"name": "a"}, context={"who": "warm"})  # this thread's one build
    built = Body.fields_built

    first = validated(Body, {"name": "a"}, context={"who": "one"})
    second = validated(Body, {"name": "b", "size": 2}, context={"who": "two"})

    assert first == {"name": "a@one"}
    assert second == {"name": "b@two", "size": 2}
    assert Body.fields_built == built


def test_another_thread_has_its_own_fields():
    validated(Body, {"name": "a"}, context={"who": "main"})
    built = Body.fields_built
    answers = []
    thread = threading.Thread(
        target=lambda: answers.append(validated(Body, {"name": "t"}, context={"who": "other"}))
    )

    thread.start()
    thread.join()

    assert answers == [{"name": "t@other"}]
    assert Body.fields_built == built + 1


@pytest.mark.parametrize(
    "data",
    [
        {"name": "ABC", "size": 0},
        {"size": 1},
        {"name": "toolongname"},
        {"name": "a", "tags": "x"},
        ["not", "an", "object"],
        None,
    ],
)
def test_a_refused_body_raises_drfs_own_error(data):
    serializer = Body(data=data, context={"who": "me"})
    assert not serializer.is_valid()

    with pytest.raises(serializers.ValidationError) as raised:
        validated(Body, data, context={"who": "me"})

    assert raised.value.detail == serializer.errors
    # The serializer the browsable API renders its form from: this request's.
    assert raised.value.detail.serializer.initial_data == data


def test_the_request_is_not_kept_after_the_call():
    request = object()

    validated(Body, {"name": "a"}, context={"who": "me", "request": request})

    assert _bound.by_class[Body].context == {}
