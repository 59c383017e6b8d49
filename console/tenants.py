"""The tenants: the domain tree, accounts, and memberships (roles, which only
root admins grant)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.utils.html import format_html

from console.base import TenantAdmin
from console.dates import time_field
from deliveries import teardown
from hooks.domain_settings import SETTINGS, domain_effective, domains_resolve
from hooks.models import Account, Domain, Membership, Webhook
from hooks.permissions import request_actor

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _AccountCount(TypedDict):
    n: int  # DomainAdmin.get_queryset's


class RootOnlyAdmin(TenantAdmin):
    """Pages only root admins see (roles: a domain admin must not grant roles)."""

    def _allowed(self, request) -> bool:
        return super()._allowed(request) and request_actor(request).is_root


@admin.register(Domain)
class DomainAdmin(TenantAdmin):
    """The domain tree, drawn by indenting each domain under its parent."""

    list_display = ["tree", "account_count", "delivery_settings", "created"]
    search_fields = ["name"]
    readonly_fields = ["path", "effective_delivery", "created"]
    created = time_field("created_at", "created", ordering=False)

    def get_readonly_fields(self, request, obj=None):
        # A domain's path is set once, from its parent: moving a domain would
        # leave its subtree's paths behind.
        return [*self.readonly_fields, "parent"] if obj is not None else self.readonly_fields

    # The materialised path sorts a parent just before its subtree.
    ordering = ["path"]
    sortable_by = []

    def get_queryset(self, request) -> QuerySet[Domain]:
        return (
            request_actor(request)
            .domains()
            .select_related("parent", "inherited_timeout_from", "inherited_max_attempts_from")
            .annotate(n=Count("accounts"))
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

    @admin.display(description="webhook delivery")
    def delivery_settings(self, domain: Domain) -> str:
        timeout, attempts = (domain_effective(domain, n) for n in SETTINGS)
        return (
            f"{timeout.value:g} s ({timeout.label}) · {attempts.value} attempts ({attempts.label})"
        )

    @admin.display(description="effective for its webhooks")
    def effective_delivery(self, domain: Domain) -> str:
        if not domain.pk:
            return "Empty fields inherit the parent domain's settings, else the defaults."
        timeout, attempts = (domain_effective(domain, n) for n in SETTINGS)
        return format_html(
            "timeout {} s, {}; {} attempts, {}",
            f"{timeout.value:g}",
            timeout.label,
            attempts.value,
            attempts.label,
        )

    def save_model(self, request, obj: Domain, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and {"delivery_timeout", "delivery_max_attempts"} & set(form.changed_data):
            # Down the subtree now: the next attempt of any webhook below uses it.
            domains_resolve(top=obj)

    @admin.display(description="accounts")
    def account_count(self, domain: WithAnnotations[Domain, _AccountCount]) -> int:
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

    # Through deliveries.teardown, as the API's delete: deliveries in bounded
    # batches, whatever the workers are doing. (The delete page has already
    # refused what is protected or beyond the actor's reach.)
    def delete_model(self, request, obj: Domain) -> None:
        teardown.domain_delete(domain=obj)

    def delete_queryset(self, request, queryset: QuerySet[Domain]) -> None:
        # Deepest first: a subdomain selected with its parent goes before it.
        for domain in sorted(queryset, key=lambda d: len(d.path), reverse=True):
            teardown.domain_delete(domain=domain)


@admin.register(Account)
class AccountAdmin(TenantAdmin):
    list_display = ["name", "domain", "created"]
    created = time_field("created_at", "created")
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

    def delete_model(self, request, obj: Account) -> None:
        teardown.account_delete(account=obj)

    def delete_queryset(self, request, queryset: QuerySet[Account]) -> None:
        for account in queryset:
            teardown.account_delete(account=account)


@admin.register(Membership)
class MembershipAdmin(RootOnlyAdmin):
    domain_field = "account__domain"
    list_display = ["user", "account", "role"]
    list_select_related = ["user", "account"]
    list_filter = ["role"]
    search_fields = ["user__username", "account__name"]
