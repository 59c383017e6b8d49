"""The tenants in the admin, and the rule every console page follows: a staff
user who is a domain admin sees and acts on their subtree only.

The webhook pages live in deliveries/admin.py: they show delivery health, and
`deliveries` depends on `hooks`, never the reverse.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.utils.html import format_html

from hooks.models import Account, Domain, Membership
from hooks.permissions import Actor, actor_for


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


@admin.register(Membership)
class MembershipAdmin(RootOnlyAdmin):
    domain_field = "account__domain"
    list_display = ["user", "account", "role"]
    list_select_related = ["user", "account"]
    list_filter = ["role"]
    search_fields = ["user__username", "account__name"]
