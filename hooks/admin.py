"""The tenants in the admin, and the rule every console page follows: a staff
user who is a domain admin sees and acts on their subtree only.

The webhook pages live in deliveries/admin.py: they show delivery health, and
`deliveries` depends on `hooks`, never the reverse.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponseRedirect
from django.utils.html import format_html
from django.utils.text import capfirst

from hooks.models import Account, Domain, Membership, Webhook
from hooks.permissions import Actor, actor_for

# Lookup parts a list filter puts in the query string (`status__exact`,
# `created_at__gte`, `domain__id__exact`, `enabled__isnull`...).
SAFE_LOOKUP_PARTS = frozenset({"", "exact", "gte", "gt", "lte", "lt", "isnull", "id"})


def request_actor(request) -> Actor:
    """The request's actor, computed once."""
    actor = getattr(request, "_actor", None)
    if actor is None:
        actor = request._actor = actor_for(request.user)
    return actor


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
                if lookup == item.parameter_name:
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
            for value in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME):
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
        perms_needed, protected = set(), []
        for name, related in self.protected_by(objs):
            protected.extend(f"{name}: {row}" for row in related[:20])
        counts = {self.opts.verbose_name_plural: len(objs)}
        webhooks = self.cascaded_webhooks(objs)
        if webhooks is not None:
            if actor.webhooks_beyond_reach(webhooks):
                # Deleting would take webhooks beyond the actor's reach with it.
                perms_needed.add("webhooks outside your domain, or global ones")
            counts["webhooks"] = webhooks.count()
            counts["deliveries (with their attempts)"] = self.cascaded_deliveries(webhooks)
        to_delete = [f"{capfirst(self.opts.verbose_name)}: {obj}" for obj in objs]
        return to_delete, counts, perms_needed, protected

    def protected_by(self, objs) -> list[tuple[str, list]]:
        """Rows that keep `objs` from being deleted (PROTECT relations)."""
        return []

    def cascaded_webhooks(self, objs) -> QuerySet | None:
        """Webhooks deleting `objs` deletes too (None: no webhook goes)."""
        return None

    @staticmethod
    def cascaded_deliveries(webhooks: QuerySet) -> int:
        from django.apps import apps  # hooks must not import deliveries

        delivery = apps.get_model("deliveries", "Delivery")
        return delivery.objects.filter(webhook__in=webhooks.values("pk")).count()


class RootOnlyAdmin(TenantAdmin):
    """Pages only root admins see (roles: a domain admin must not grant roles)."""

    def _allowed(self, request) -> bool:
        return super()._allowed(request) and request_actor(request).is_root


@admin.register(Domain)
class DomainAdmin(TenantAdmin):
    """The domain tree, drawn by indenting each domain under its parent."""

    list_display = ["tree", "account_count", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["path", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        # A domain's path is set once, from its parent: moving a domain would
        # leave its subtree's paths behind.
        return [*self.readonly_fields, "parent"] if obj is not None else self.readonly_fields

    # The materialised path sorts a parent just before its subtree.
    ordering = ["path"]
    sortable_by: list[str] = []

    def get_queryset(self, request) -> QuerySet[Domain]:
        return (
            request_actor(request).domains().select_related("parent").annotate(n=Count("accounts"))
        )

    @admin.display(description="domain")
    def tree(self, domain: Domain) -> str:
        depth = domain.path.count("/") - 2
        return format_html(
            '<span style="padding-left:{}em">{}{}</span>',
            depth * 1.5,
            "└ " if depth else "",
            domain.name,
        )

    @admin.display(description="accounts")
    def account_count(self, domain: Domain) -> int:
        return domain.n

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            kwargs["queryset"] = request_actor(request).domains()
            # Only a root admin may make a top-level domain.
            kwargs["required"] = not request_actor(request).is_root
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        actor = request_actor(request)
        if obj is not None and not actor.is_root and obj.path == actor.domain_path:
            return False  # a domain admin cannot delete their own domain
        return super().has_delete_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        actor = request_actor(request)
        if obj is not None and not actor.is_root and obj.path == actor.domain_path:
            return False  # nor move or rename it
        return super().has_change_permission(request, obj)

    def protected_by(self, objs):
        return [
            ("Subdomain", list(Domain.objects.filter(parent__in=objs))),
            ("Account", list(Account.objects.filter(domain__in=objs))),
        ]

    def cascaded_webhooks(self, objs):
        return Webhook.objects.filter(domain__in=objs)


@admin.register(Account)
class AccountAdmin(TenantAdmin):
    list_display = ["name", "domain", "created_at"]
    list_select_related = ["domain"]
    search_fields = ["name", "domain__name"]
    list_filter = ["domain"]
    account_field = "pk"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "domain":
            kwargs["queryset"] = request_actor(request).domains()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request):
        return self.list_filter if request_actor(request).is_root else []

    def protected_by(self, objs):
        return [
            ("Member", list(Membership.objects.filter(account__in=objs).select_related("user")))
        ]

    def cascaded_webhooks(self, objs):
        return Webhook.objects.filter(account__in=objs)


@admin.register(Membership)
class MembershipAdmin(RootOnlyAdmin):
    domain_field = "account__domain"
    list_display = ["user", "account", "role"]
    list_select_related = ["user", "account"]
    list_filter = ["role"]
    search_fields = ["user__username", "account__name"]
