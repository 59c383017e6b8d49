"""Deleting a webhook, an account or a domain, with their deliveries.

Two things Django's cascade does badly here:
- it loads every delivery it is about to delete (its Collector), and a
  webhook may have millions;
- it collects them, then deletes: a worker that records an attempt in
  between leaves a row the delete did not see, and the delete fails with an
  IntegrityError ("still referenced from deliveries_deliveryattempt").

So the deliveries go first, WEBHOOK_DELETE_BATCH at a time, each batch in its
own short transaction that locks its delivery rows before deleting their
attempts: a worker recording an attempt either finished before (its attempt
is deleted with the batch) or waits, then finds its delivery gone and
records nothing (deliveries/pipeline/record.py keeps only attempts whose
delivery still exists). The webhooks are disabled first so that no new
event matches them meanwhile; the last transaction locks them, deletes what a
racing publish may have added, and deletes them.

Named teardown (not removal) beside deliveries.removal, the console's
"delete deliveries not in flight". Webhooks and tenants are hooks' models,
but their deletion must know deliveries, and hooks never imports deliveries:
the API (deliveries/api.py) and the console call these instead of `.delete()`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import ProtectedError, QuerySet

from deliveries.models import Delivery, DeliveryAttempt
from hooks.models import Account, Domain, Webhook


def _deliveries_drain(webhook_ids: list) -> int:
    """Delete these webhooks' deliveries and attempts in bounded batches."""
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                Delivery.objects.filter(webhook_id__in=webhook_ids)
                .order_by()
                .select_for_update()
                .values_list("id", flat=True)[: settings.WEBHOOK_DELETE_BATCH]
            )
            if not ids:
                return deleted
            # Attempts have nothing depending on them: one DELETE, nothing loaded.
            DeliveryAttempt.objects.filter(delivery_id__in=ids).delete()
            Delivery.objects.filter(id__in=ids).delete()
        deleted += len(ids)


def webhooks_delete(webhooks: QuerySet[Webhook]) -> int:
    """Delete these webhooks and their deliveries, whatever the workers are
    doing. Returns how many deliveries went with them."""
    ids = list(webhooks.values_list("id", flat=True))
    if not ids:
        return 0
    Webhook.objects.filter(id__in=ids).update(enabled=False)
    deleted = _deliveries_drain(ids)
    with transaction.atomic():
        list(Webhook.objects.filter(id__in=ids).select_for_update().values_list("id"))
        deleted += _deliveries_drain(ids)
        Webhook.objects.filter(id__in=ids).delete()
    return deleted


def webhook_delete(*, webhook: Webhook) -> int:
    return webhooks_delete(Webhook.objects.filter(pk=webhook.pk))


def account_delete(*, account: Account) -> None:
    """Delete an account and its webhooks (ProtectedError while it has users,
    before anything is deleted)."""
    members = list(account.members.all()[:1])
    if members:
        raise ProtectedError("The account still has users.", set(members))
    webhooks_delete(Webhook.objects.filter(account=account))
    account.delete()


def domain_delete(*, domain: Domain) -> None:
    """Delete a domain and its webhooks (ProtectedError while it has
    subdomains or accounts, before anything is deleted)."""
    blocking = [*Domain.objects.filter(parent=domain)[:1], *domain.accounts.all()[:1]]
    if blocking:
        raise ProtectedError("The domain still has subdomains or accounts.", set(blocking))
    webhooks_delete(Webhook.objects.filter(domain=domain))
    domain.delete()
