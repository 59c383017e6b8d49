"""core.prepared: the ORM's answer, from SQL compiled once per connection."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken

from core.prepared import PreparedQuery
from hooks.models import Account, Role
from hooks.services import token_issue
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def tokens_query(key):
    return AuthToken.objects.filter(token_key=key).select_related(
        "user__membership__account__domain"
    )


class Counted:
    """A queryset builder that counts how often it is asked to build."""

    def __init__(self, build) -> None:
        self.build, self.calls = build, 0

    def __call__(self, value):
        self.calls += 1
        return self.build(value)


@pytest.fixture
def token(tenants):
    membership = MembershipFactory(account=tenants["east_acct"], role=Role.USER)
    return token_issue(user=membership.user)[0]


def test_it_returns_what_the_orm_returns_with_the_related_objects_filled_in(token):
    prepared = PreparedQuery(tokens_query)

    [found] = prepared.all(token.token_key)

    [expected] = tokens_query(token.token_key)
    assert found.pk == expected.pk and found.digest == expected.digest
    assert found.created == expected.created and found.expiry == expected.expiry
    with CaptureQueriesContext(connection) as queries:
        domain = found.user.membership.account.domain
    assert len(queries) == 0
    assert domain == expected.user.membership.account.domain
    assert domain.ancestor_ids == expected.user.membership.account.domain.ancestor_ids
    assert found._state.db == "default" and not found._state.adding


def test_a_missing_related_row_is_none_as_through_the_orm(tenants):
    user = UserFactory()  # no membership: the LEFT JOIN finds none
    key = token_issue(user=user)[0].token_key

    [found] = PreparedQuery(tokens_query).all(key)

    assert found.user == user
    with CaptureQueriesContext(connection) as queries:
        assert getattr(found.user, "membership", None) is None
    assert len(queries) == 0


def test_it_compiles_once_per_connection_and_runs_one_statement_per_call(token, tenants):
    other = token_issue(user=UserFactory())[0]
    build = Counted(tokens_query)
    prepared = PreparedQuery(build)

    with CaptureQueriesContext(connection) as queries:
        first = prepared.all(token.token_key)
        second = prepared.all(other.token_key)
        none = prepared.all("no such key")

    assert [t.pk for t in first] == [token.pk] and [t.pk for t in second] == [other.pk]
    assert none == []
    assert build.calls == 1
    assert len(queries) == 3
    assert len({q["sql"].replace(token.token_key, other.token_key) for q in queries[:2]}) == 1


def test_another_thread_compiles_for_its_own_connection(token):
    build = Counted(tokens_query)
    prepared = PreparedQuery(build)
    prepared.all(token.token_key)
    found = []

    def other_thread() -> None:
        try:
            found.append(prepared.all("no such key"))
        finally:
            connection.close()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()

    assert found == [[]]
    assert build.calls == 2


def test_a_parameter_the_field_would_convert_is_refused(tenants):
    prepared = PreparedQuery(lambda value: Account.objects.filter(pk=value))

    with pytest.raises(ValueError, match="unconverted"):
        prepared.all("01890a5d-ac96-774b-bcce-b302099a8057")


def test_annotations_are_refused(tenants):
    prepared = PreparedQuery(
        lambda name: Account.objects.filter(name=name).annotate(n=Count("members"))
    )

    with pytest.raises(ValueError, match="annotations"):
        prepared.all("east")
