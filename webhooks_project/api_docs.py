"""What /api/docs/ says about each operation: its tag (the resource, in the
order a newcomer meets them) and a summary and description written for API
users, in one table beside docs/api.md rather than in view docstrings, which
are for developers (and were leaking into the page).

An `extend_schema(summary=..., description=...)` on a view still wins; the
table is the fallback, and tests/project/test_api_docs.py fails on any
operation left without a summary.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

# The tags and their order are SPECTACULAR_SETTINGS["TAGS"] (settings.py).
# The first path segment under /api/v1/ -> its tag.
TAG_OF_RESOURCE = {
    "webhooks": "webhooks",
    "events": "events",
    "deliveries": "deliveries",
    "jobs": "deliveries",
    "domains": "tenants",
    "accounts": "tenants",
    "users": "tenants",
    "tokens": "tokens",
}

TAG_ORDER = ["webhooks", "events", "deliveries", "tenants", "tokens"]
METHOD_ORDER = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _resource(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return parts[2] if len(parts) > 2 and parts[:2] == ["api", "v1"] else ""


def operation_order(endpoint: tuple) -> tuple:
    """SORT_OPERATIONS: the schema's paths in TAG_ORDER, then by path, as
    the docs page shows them (drf-spectacular's default is alphabetical,
    accounts first and webhooks last)."""
    path, _regex, method, _view = endpoint
    tag = TAG_OF_RESOURCE.get(_resource(path), "other")
    rank = TAG_ORDER.index(tag) if tag in TAG_ORDER else len(TAG_ORDER)
    verb = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return (rank, _resource(path) == "jobs", path, verb)


SEE = "Every list takes limit/offset, ordering and search (docs/api.md, Lists)."
NOT_YOURS = "Objects outside what you may see answer 404."

OPERATIONS: dict[str, tuple[str, str]] = {
    # --- webhooks
    "v1_webhooks_list": (
        "List webhooks",
        "Webhooks you may see, with their health. `event_type` lists those that would "
        "receive an event of that type published by you (with your account, as "
        "POST /events/ defaults it). " + SEE,
    ),
    "v1_webhooks_create": (
        "Create a webhook",
        "Register an endpoint for events of a scope (local: an account's; domain: a "
        "domain's and below; global: all, root admins only). `account` defaults to "
        "yours. Omit `secret` and one is generated and returned, this once.",
    ),
    "v1_webhooks_retrieve": (
        "Read a webhook",
        "The webhook with its health, including how many deliveries are held. " + NOT_YOURS,
    ),
    "v1_webhooks_update": (
        "Replace a webhook",
        "A change applies to the very next event. The scope may not widen beyond what "
        "your role may create (403).",
    ),
    "v1_webhooks_partial_update": (
        "Change some fields of a webhook",
        "A change applies to the very next event. `enabled: true` on a disabled webhook "
        "resumes it; `enabled: false` holds its deliveries.",
    ),
    "v1_webhooks_destroy": (
        "Delete a webhook",
        "Deletes it with its deliveries and their attempts (in bounded batches).",
    ),
    # --- a webhook's filter rules (hooks/filter_api.py, CloudStack's webhook filters)
    "webhooks_filters_list": (
        "List a webhook's filter rules",
        "Its include and exclude rules (exact, prefix, suffix, contains). Exclude wins; "
        "with any include rule (or event_types pattern), one must match.",
    ),
    "webhooks_filters_create": (
        "Add a filter rule",
        "As CloudStack's addWebhookFilter. Applies to the next event published. At most "
        "100 rules per webhook; the same rule twice is a 400.",
    ),
    "webhooks_filters_delete_all": (
        "Remove all of a webhook's filter rules",
        "As CloudStack's deleteWebhookFilter without an id: the webhook's event_types "
        "patterns alone decide again.",
    ),
    "webhooks_filter_get": ("Read a filter rule", "One rule by its id. " + NOT_YOURS),
    "webhooks_filter_update": (
        "Change a filter rule",
        "Its mode (include, exclude), match (exact, prefix, suffix, contains) or value.",
    ),
    "webhooks_filter_delete": ("Remove a filter rule", "As CloudStack's deleteWebhookFilter."),
    "v1_webhooks_resume_create": (
        "Resume a webhook",
        "Send to it again now: close the circuit, end throttling, forget the failures "
        "and enable it; its held deliveries become due and `webhook.recovered` is "
        "published. A healthy webhook is left as it is.",
    ),
    "v1_webhooks_rotate_secret_create": (
        "Rotate a webhook's secret",
        "Issue a new signing secret (or set the one given); the previous one keeps "
        "signing beside it until `previous_secret_expires_at`.",
    ),
    "webhooks_test": (
        "Send a test delivery to a webhook",
        "Sends a sample event (or the type and data given) now, signed and vetted like a "
        "real delivery, and answers what came back. Nothing is recorded.",
    ),
    "webhooks_test_url": (
        "Test a URL before creating a webhook",
        "Sends a sample event to a URL with the settings given, vetted as a webhook's "
        "would be, and answers what came back. Nothing is recorded.",
    ),
    # --- events
    "v1_events_list": ("List events", "Events you may see, newest first. " + SEE),
    "v1_events_create": (
        "Publish an event",
        "Stores the event and one delivery per matching webhook. 202 when stored; 200 "
        "when this id was already published with the same contents; 409 with different "
        "contents. Without `account` or `domain` it is your account's event.",
    ),
    "v1_events_retrieve": (
        "Read an event",
        "The event with its envelope (the JSON receivers get) and the deliveries you may see.",
    ),
    "v1_events_batch_create": (
        "Publish a batch of events",
        "Up to API_EVENT_BATCH_MAX (100) events, all stored or none.",
    ),
    # --- deliveries
    "v1_deliveries_list": ("List deliveries", "Deliveries you may see, newest first. " + SEE),
    "v1_deliveries_retrieve": (
        "Read a delivery",
        "The delivery with every attempt: request headers, response, error, timing.",
    ),
    "v1_deliveries_destroy": (
        "Delete a delivery",
        "Deletes it with its attempts; 409 while a worker is sending it.",
    ),
    "v1_deliveries_redeliver_create": (
        "Redeliver a delivery now",
        "One more attempt now, with the same webhook-id, recorded like any other; 409 "
        "while a worker is sending it.",
    ),
    # --- tenants
    "v1_domains_list": ("List domains", "Domains in your subtree (root admins: all). Admins only."),
    "v1_domains_create": ("Create a domain", "A domain under a parent you manage."),
    "v1_domains_retrieve": ("Read a domain", NOT_YOURS),
    "v1_domains_partial_update": ("Rename a domain", "Domains cannot be moved."),
    "v1_domains_destroy": (
        "Delete a domain",
        "409 while it has subdomains or accounts; its webhooks go with it.",
    ),
    "v1_accounts_list": (
        "List accounts",
        "Accounts in your subtree (root admins: all). Admins only.",
    ),
    "v1_accounts_create": ("Create an account", "An account in a domain you manage."),
    "v1_accounts_retrieve": ("Read an account", NOT_YOURS),
    "v1_accounts_partial_update": ("Rename an account", ""),
    "v1_accounts_destroy": (
        "Delete an account",
        "409 while it has users; its webhooks go with it.",
    ),
    "v1_users_list": (
        "List users",
        "Logins with their account and role. Admins only, within their subtree.",
    ),
    "v1_users_create": (
        "Create a user",
        "A login in an account you manage, with a role (root_admin: root admins only).",
    ),
    "v1_users_retrieve": ("Read a user", NOT_YOURS),
    "v1_users_partial_update": (
        "Change a user",
        "Role, account, password or active flag.",
    ),
    "v1_users_destroy": ("Delete a user", "Only root admins act on root admins."),
    # --- tokens
    "v1_tokens_list": (
        "List API tokens",
        "Your tokens; admins also those of the users they manage. Keys are never shown again.",
    ),
    "v1_tokens_create": (
        "Issue an API token",
        "For you, or (admins) for a user you manage. The key is in this answer only: "
        "only a hash is stored.",
    ),
    "v1_tokens_retrieve": ("Read an API token", "Its owner, creation and expiry; not its key."),
    "v1_tokens_destroy": ("Revoke an API token", "The token stops working at once."),
}


class Schema(AutoSchema):
    """Tags by resource; summaries and descriptions from OPERATIONS."""

    def _documented(self) -> tuple[str, str] | None:
        return OPERATIONS.get(self.get_operation_id())

    def get_tags(self) -> list[str]:
        return [TAG_OF_RESOURCE.get(_resource(self.path), "other")]

    def get_summary(self) -> str | None:
        documented = self._documented()
        return documented[0] if documented else super().get_summary()

    def get_description(self) -> str:  # type: ignore[override]
        documented = self._documented()
        if documented is not None:
            return documented[1]
        return super().get_description()
