"""The REST API's settings (DRF, knox tokens, the OpenAPI docs, API_* knobs):
part of webhooks_project/settings.py, which imports them all; read from the
environment as every knob is (docs/operations.md lists them)."""

from __future__ import annotations

from datetime import timedelta

from webhooks_project.env import env_int, env_number, env_str

# --- REST framework -------------------------------------------------------
# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Tokens are stored hashed (django-rest-knox): a database leak does not
        # leak usable keys. Header: "Authorization: Token <key>". Our subclass
        # reads the token, user and membership in one query (hooks/authentication.py).
        "hooks.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["core.api.LimitedJSONParser"],
    # JSON first: what a client gets unless it asks for HTML. The browsable
    # API is for logged-in console users only (core.api.ConsoleContentNegotiation).
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.api.ConsoleContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "core.api.StrictLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "core.api.StrictOrderingFilter",
    ],
    # Tags, summaries and descriptions of /api/docs/ (webhooks_project/api_docs.py).
    "DEFAULT_SCHEMA_CLASS": "webhooks_project.api_docs.Schema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"recover": env_str("API_RECOVER_RATE", "10/hour")},
}
# Largest page a list answers (?limit= above it is a 400, not silently cut).
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 500, minimum=1)
# How far back ?search= and ?worker= look in the deliveries list (and the
# console's), in days, unless created_after is given: a substring search reads
# every row of its window (deliveries/search.py).
API_DELIVERY_SEARCH_DAYS = env_int("API_DELIVERY_SEARCH_DAYS", 7, minimum=1)
# Largest batch POST /api/v1/events/batch/ accepts.
API_EVENT_BATCH_MAX = env_int("API_EVENT_BATCH_MAX", 100, minimum=1)
# API tokens: lifetime in hours (0: they never expire).
API_TOKEN_TTL_HOURS = env_number("API_TOKEN_TTL_HOURS", 0)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=API_TOKEN_TTL_HOURS) if API_TOKEN_TTL_HOURS else None,
    "AUTH_HEADER_PREFIX": "Token",
}
# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "Webhooks platform API",
    "DESCRIPTION": "Publish events; register webhooks; watch and steer deliveries.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's JavaScript and CSS come from the project, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"HealthEnum": "hooks.models.Health.choices"},
    "SORT_OPERATIONS": "webhooks_project.api_docs.operation_order",
    # The resources in the order a newcomer meets them (webhooks_project/api_docs.py tags).
    "TAGS": [
        {"name": "webhooks", "description": "Register endpoints; test, resume, rotate secrets."},
        {"name": "events", "description": "Publish events and read them back."},
        {"name": "deliveries", "description": "Deliveries, their attempts, bulk jobs."},
        {"name": "tenants", "description": "Domains, accounts and users (admins)."},
        {"name": "tokens", "description": "API tokens."},
    ],
}
