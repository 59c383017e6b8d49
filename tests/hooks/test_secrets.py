"""Signing secrets: hooks.services.generate_secret and check_secret."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import ValidationError

from hooks.services import check_secret, generate_secret


def _secret_of(n: int) -> str:
    return "whsec_" + base64.b64encode(bytes(range(n))).decode()


def test_generated_secrets_are_whsec_base64_of_24_random_bytes():
    first, second = generate_secret(), generate_secret()

    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 24
    assert first != second
    check_secret(first)


@pytest.mark.parametrize("size", [24, 32, 48, 64])
def test_check_secret_accepts_24_to_64_bytes(size):
    check_secret(_secret_of(size))


@pytest.mark.parametrize("size", [23, 65])
def test_check_secret_refuses_sizes_outside_24_to_64(size):
    with pytest.raises(ValidationError, match=f"24 to 64 bytes; it encodes {size}"):
        check_secret(_secret_of(size))


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("whsec_abc", "valid base64"),  # bad padding
        ("whsec_ab=c" + "A" * 32, "followed by base64"),
        ("whsec_" + "A" * 32 + "!", "followed by base64"),
        ("whsec_", "followed by base64"),
        (_secret_of(32).removeprefix("whsec_"), "followed by base64"),  # missing prefix
        ("WHSEC_" + _secret_of(32).removeprefix("whsec_"), "followed by base64"),
    ],
    ids=["bad-padding", "inner-padding", "bad-character", "empty", "no-prefix", "upper-prefix"],
)
def test_check_secret_refuses_malformed_secrets(secret, message):
    with pytest.raises(ValidationError, match=message):
        check_secret(secret)
