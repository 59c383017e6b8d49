"""The OpenAPI schema that clients generate from: valid, and complete enough
that drf-spectacular has nothing to guess (warnings fail the build)."""

from django.core.management import call_command


def test_the_openapi_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    text = target.read_text()
    assert text.startswith("openapi: 3")
    for path in (
        "/api/v1/events/",
        "/api/v1/webhooks/{id}/rotate-secret/",
        "/api/v1/deliveries/recover/",
        "/api/v1/tokens/",
    ):
        assert f"{path}:" in text
