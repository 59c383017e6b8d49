"""Who may see and do what: CloudStack's roles over the domain tree.

- root admin (staff/superuser, or a membership with that role): everything;
- domain admin: their domain and every domain below it;
- user: their own account.
Objects outside what an actor sees do not exist for them (404, never 403);
actions their role cannot take on objects they see are 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from hooks.models import Account, Domain, Role, Scope, Webhook
from hooks.roots import root_admin_account

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User
    from rest_framework.request import Request
    from rest_framework.views import APIView


@dataclass(frozen=True)
class Actor:
    user: Any  # the login (a User, or AnonymousUser); None in some tests
    role: str | None  # None: a login with no membership, who sees nothing
    account: Account | None

    @property
    def is_root(self) -> bool:
        return self.role == Role.ROOT_ADMIN

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.ROOT_ADMIN, Role.DOMAIN_ADMIN)

    @property
    def own_account(self) -> Account | None:
        """The account this actor acts for when none is named (a webhook's
        owner, an event's account): their membership's. A root admin with no
        membership (a superuser made by Django's `createsuperuser`) acts for
        the ROOT domain's admin account, as CloudStack's root admin does; it
        is made if missing, as `make run`'s bootstrap makes it. A property,
        not looked up per request: only writes that default an account ask."""
        if self.account is None and self.is_root:
            return root_admin_account()
        return self.account

    @property
    def domain_path(self) -> str:
        return self.account.domain.path if self.account else "/nowhere/"

    def visible(self, *, account_field: str | None, domain_field: str) -> Q:
        """Rows this actor may see, given where a row's account and domain live."""
        if self.is_root:
            return Q()
        if self.role == Role.DOMAIN_ADMIN:
            return Q(**{f"{domain_field}__path__startswith": self.domain_path})
        if self.role == Role.USER and account_field:
            assert self.account is not None  # actor_for gives a user role with an account only
            return Q(**{account_field: self.account.pk})
        return Q(pk__in=[])

    def domains(self) -> QuerySet[Domain]:
        if self.is_root:
            return Domain.objects.all()
        if self.role == Role.DOMAIN_ADMIN:
            return Domain.objects.filter(path__startswith=self.domain_path)
        if self.account is not None:
            return Domain.objects.filter(pk=self.account.domain_id)
        return Domain.objects.none()

    def users(self) -> QuerySet:
        """Logins this actor manages: root all; a domain admin those whose
        account is in the subtree; anyone else only themselves."""
        from django.contrib.auth import get_user_model

        User = get_user_model()
        if self.is_root:
            return User.objects.all()
        if self.role == Role.DOMAIN_ADMIN:
            return User.objects.filter(
                Q(membership__account__domain__path__startswith=self.domain_path)
                | Q(pk=self.user.pk)
            )
        return User.objects.filter(pk=self.user.pk)

    def check_may_manage(self, user: User) -> None:
        """Only root admins act on root admins: a domain admin must not reset,
        demote, delete or mint a token for a root admin placed in their subtree."""
        if is_root_user(user) and not self.is_root:
            raise PermissionDenied("Only root admins may manage a root admin.")

    def accounts(self) -> QuerySet[Account]:
        return Account.objects.filter(self.visible(account_field="pk", domain_field="domain"))

    def manageable_webhooks(self) -> Q:
        """Webhooks this actor may change, delete or act on: those they see,
        global ones only for root admins (as hooks.services.webhook_check_scope
        rules for admins, the only roles the console lets in)."""
        visible = self.visible(account_field="account", domain_field="domain")
        return visible if self.is_root else visible & ~Q(scope=Scope.GLOBAL)

    def may_manage_webhook(self, webhook: Webhook) -> bool:
        """manageable_webhooks() for one webhook the actor already sees."""
        return self.is_root or webhook.scope != Scope.GLOBAL

    def webhooks_beyond_reach(self, webhooks: QuerySet[Webhook]) -> bool:
        """Whether some of these webhooks are not this actor's to delete:
        deleting an account or a domain takes its webhooks with it, and a
        global one (or one homed outside the subtree) may hang from it."""
        manageable = webhooks.filter(self.manageable_webhooks()).values("pk")
        return webhooks.exclude(pk__in=manageable).exists()


def is_root_user(user: User) -> bool:
    """Whether a login is a root admin (the target of an action, not the actor)."""
    membership = getattr(user, "membership", None)
    return bool(user.is_superuser or (membership and membership.role == Role.ROOT_ADMIN))


def actor_for(user: User | AnonymousUser | None) -> Actor:
    if not user or not user.is_authenticated:
        return Actor(user=user, role=None, account=None)
    membership = getattr(user, "membership", None)
    account = membership.account if membership else None
    # Staff map onto root admin, unless a membership says otherwise (a staff
    # domain admin uses the Django admin within their subtree).
    if user.is_superuser or (user.is_staff and membership is None):
        return Actor(user=user, role=Role.ROOT_ADMIN, account=account)
    if membership is None:
        return Actor(user=user, role=None, account=None)
    return Actor(user=user, role=membership.role, account=account)


def request_actor(request: Any) -> Actor:  # DRF's Request, or Django's HttpRequest
    """The actor of a request (an API one or a console one), computed once:
    the one way views, serializers and the console's pages get it."""
    actor = getattr(request, "_actor", None)
    if actor is None:
        actor = request._actor = actor_for(request.user)
    return actor


class IsTenantAdmin(BasePermission):
    """Root admins and domain admins; users are refused (403)."""

    message = "Only root and domain admins may manage domains, accounts and users."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request_actor(request).is_admin


class ActorMixin:
    """For views: `self.actor`, the request's actor (request_actor)."""

    request: Any  # the view's: DRF's Request in an APIView, an HttpRequest in a View

    @property
    def actor(self) -> Actor:
        return request_actor(self.request)
