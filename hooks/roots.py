"""The top of the tenant tree: the ROOT domain and its "admin" account,
made on first use. A login that is a root admin without a membership (a
superuser made with Django's own `createsuperuser`) acts for that account,
as CloudStack's root admin belongs to the ROOT domain's admin account.

Apart from hooks.services so that hooks.permissions can use it (services
import permissions)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from hooks.models import Account, Domain

ROOT_DOMAIN = "ROOT"
ROOT_ACCOUNT = "admin"


def root_domain() -> Domain:
    """The ROOT domain every tree hangs from, created on first use."""
    domain = Domain.objects.filter(parent__isnull=True, name=ROOT_DOMAIN).first()
    if domain is None:
        domain = Domain(name=ROOT_DOMAIN, parent=None)
        domain.full_clean(exclude=["path"])
        domain.save()
    return domain


def find_root_admin_account() -> Account | None:
    """The ROOT domain's admin account if it exists (for reads)."""
    return (
        Account.objects.select_related("domain")
        .filter(domain__parent__isnull=True, domain__name=ROOT_DOMAIN, name=ROOT_ACCOUNT)
        .first()
    )


def root_admin_account() -> Account:
    """The ROOT domain's admin account (`make run`'s bootstrap makes the
    same one), created on first use."""
    account = find_root_admin_account()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            account = Account(name=ROOT_ACCOUNT, domain=root_domain())
            account.full_clean()
            account.save()
    except IntegrityError:  # made by a concurrent first request
        account = Account.objects.get(domain=root_domain(), name=ROOT_ACCOUNT)
    return account
