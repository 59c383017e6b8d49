"""The webhook form (console.forms): the account a new webhook defaults to."""

from console.forms import default_account
from hooks.models import Role
from hooks.permissions import actor_for
from tests.factories import AccountFactory, MembershipFactory, UserFactory


def test_a_member_defaults_to_their_own_account(tenants):
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.DOMAIN_ADMIN)
    assert default_account(actor_for(membership.user)) == tenants["east_acct"]


def test_a_superuser_without_membership_acts_for_the_root_domains_admin_account(tenants):
    admin = AccountFactory(name="admin", domain=tenants["root"])
    user = UserFactory(is_superuser=True, is_staff=True)
    assert default_account(actor_for(user)) == admin


def test_else_the_root_domain_account_of_a_root_admin(tenants):
    MembershipFactory(account=tenants["root_acct"], role=Role.ROOT_ADMIN)
    user = UserFactory(is_superuser=True, is_staff=True)
    assert default_account(actor_for(user)) == tenants["root_acct"]


def test_no_such_account_no_default(tenants):
    assert default_account(actor_for(UserFactory(is_superuser=True, is_staff=True))) is None
    assert default_account(None) is None
