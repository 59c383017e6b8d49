"""What every console page shares: the tenant rule (a staff user who is a
domain admin sees and acts on their subtree only), a paginator that never
counts a whole table, and the display kit (status badges, pretty JSON).

Two words about a webhook's health, not to be confused: its *success rate*
over the last 24 h (deliveries.selectors.Health: healthy, degraded, failing,
idle), read from its deliveries; and its *state* (hooks.models.Health, here
State: healthy, degraded, circuit open, disabled), what the workers wrote on
the webhook and what decides whether it is sent to.
"""

from __future__ import annotations

import json
import uuid
from functools import cached_property

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponseRedirect
from django.utils.html import format_html
from django.utils.text import capfirst

from deliveries.models import Delivery, DeliveryStatus
from deliveries.selectors import Health
from hooks.health import Health as State
from hooks.permissions import request_actor

# Lookup parts a list filter puts in the query string (`status__exact`,
# `created_at__gte`, `domain__id__exact`, `enabled__isnull`...).
SAFE_LOOKUP_PARTS = frozenset({"", "exact", "gte", "gt", "lte", "lt", "isnull", "id"})

STATUS_COLOURS: dict[str, str] = {
    DeliveryStatus.SUCCEEDED: "#2e7d32",
    DeliveryStatus.FAILED: "#c62828",
    DeliveryStatus.PENDING: "#6d6d6d",
    DeliveryStatus.SENDING: "#1565c0",
}
HEALTH_COLOURS = {
    Health.HEALTHY: "#2e7d32",
    Health.DEGRADED: "#ef6c00",
    Health.FAILING: "#c62828",
    Health.IDLE: "#6d6d6d",
}
STATE_COLOURS: dict[str, str] = {
    State.HEALTHY: "#2e7d32",
    State.DEGRADED: "#ef6c00",
    State.CIRCUIT_OPEN: "#c62828",
    State.DISABLED: "#6d6d6d",
}


def status_badge(status: str) -> str:
    return format_html(
        '<strong class="status status-{}" style="color:{}">{}</strong>',
        status,
        STATUS_COLOURS.get(status, "inherit"),
        status,
    )


def state_badge(state: str, *, title: str = "") -> str:
    """A webhook's state (hooks.models.Health) as a badge; `title` on hover."""
    return format_html(
        '<strong class="state state-{}" style="color:{}" title="{}">{}</strong>',
        state,
        STATE_COLOURS.get(state, "inherit"),
        title,
        State(state).label.lower(),
    )


def short_id(value: uuid.UUID | str) -> str:
    """An id on one line: its first 8 characters shown, all of it on hover,
    and all of it copied (the rest is in the page, clipped by console.css)."""
    full = str(value)
    return format_html(
        '<span class="short-id" title="{}">{}<span class="id-rest">{}</span></span>',
        full,
        full[:8],
        full[8:],
    )


def pretty_json(value) -> str:
    # Keys in their own order: an envelope reads as it was sent.
    return json.dumps(value, indent=2, ensure_ascii=False)


def uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Http404("No such object.") from None


class CappedPaginator(Paginator):
    """Counts at most CAP + 1 rows: `SELECT COUNT(*) FROM (… LIMIT CAP+1)`.

    On a table of millions, a full COUNT(*) is the slowest query of a list
    page; an operator needs the first pages and to know there are many more.
    The pagination template says "more than CAP" when the cap is reached.
    """

    CAP = 10_000
    object_list: QuerySet  # the admin pages querysets only

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.CAP


class TenantAdmin(admin.ModelAdmin):
    """Rows are filtered by the actor's tenancy, as in the API: root admins
    (superusers, or staff without a membership) see everything, domain admins
    their domain and the domains below it; anyone else nothing.

    Django's per-model permissions are not what grants access here: a domain
    admin's reach is their subtree, which Django's flat permissions cannot say.
    Every queryset the admin uses (lists, object pages, actions) goes through
    get_queryset, so an object outside the subtree is "not found".
    """

    # Where a row's owning account and domain are, for Actor.visible().
    account_field: str | None = "account"
    domain_field: str = "domain"

    def tenant_filter(self, request) -> Q:
        return request_actor(request).visible(
            account_field=self.account_field, domain_field=self.domain_field
        )

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).filter(self.tenant_filter(request))

    def _allowed(self, request) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and request_actor(request).is_admin)

    def has_module_permission(self, request) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._allowed(request)

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        """Only the lookups the list filters build.

        Django allows any lookup on a model's own fields from the query string,
        so `?secret__startswith=whsec_A` would tell, row by row, whether a
        guess is right: a secret recovered a character at a time.
        """
        filters = self.get_list_filter(request) if request is not None else self.list_filter
        for item in filters:
            if isinstance(item, type):  # a SimpleListFilter: its own parameter
                # A SimpleListFilter (ListFilter, as the stubs have it, has no parameter_name).
                if lookup == item.parameter_name:  # type: ignore[attr-defined]
                    return True
                continue
            field = item[0] if isinstance(item, (list, tuple)) else item
            name, _, rest = lookup.partition("__")
            if name == field and set(rest.split("__")) <= SAFE_LOOKUP_PARTS:
                return True
        return False

    def response_action(self, request, queryset):
        # A crafted selection (not this model's ids) is refused here, not
        # turned into a database error.
        pk = self.model._meta.pk
        try:
            for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
                pk.to_python(value)
        except ValidationError:
            self.message_user(request, "The selection is not valid.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)

    def get_deleted_objects(self, objs, request):
        """What deleting `objs` takes with it, as counts: the admin's default
        lists every related row (a webhook's million deliveries, one line each)."""
        objs = list(objs)
        actor = request_actor(request)
        perms_needed: set[str] = set()
        protected: list[str] = []
        for name, related in self.protected_by(objs):
            protected.extend(f"{name}: {row}" for row in related[:20])
        counts = {self.opts.verbose_name_plural: len(objs)}
        webhooks = self.cascaded_webhooks(objs)
        if webhooks is not None:
            if actor.webhooks_beyond_reach(webhooks):
                # Deleting would take webhooks beyond the actor's reach with it.
                perms_needed.add("webhooks outside your domain, or global ones")
            counts["webhooks"] = webhooks.count()
            counts["deliveries (with their attempts)"] = Delivery.objects.filter(
                webhook__in=webhooks.values("pk")
            ).count()
        to_delete = [f"{capfirst(self.opts.verbose_name)}: {obj}" for obj in objs]
        return to_delete, counts, perms_needed, protected

    def protected_by(self, objs) -> list[tuple[str, list]]:
        """Rows that keep `objs` from being deleted (PROTECT relations)."""
        return []

    def cascaded_webhooks(self, objs) -> QuerySet | None:
        """Webhooks deleting `objs` deletes too (None: no webhook goes)."""
        return None


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """`1 delivery`, `2 deliveries`, `1 webhook`, `3 webhooks`: never `1 deliveries`."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"
