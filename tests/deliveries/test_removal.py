"""Deleting deliveries (deliveries.removal), as the API and the console do."""

from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from deliveries.removal import deliveries_delete
from tests.factories import DeliveryAttemptFactory, DeliveryFactory, WebhookFactory


def test_deleting_leaves_the_deliveries_being_sent(db):
    webhook = WebhookFactory()
    done = DeliveryFactory(webhook=webhook, status=DeliveryStatus.SUCCEEDED)
    failed = DeliveryFactory(webhook=webhook, status=DeliveryStatus.FAILED)
    sending = DeliveryFactory(webhook=webhook, status=DeliveryStatus.SENDING)
    DeliveryAttemptFactory(delivery=failed, number=1)

    deleted = deliveries_delete(deliveries=Delivery.objects.all())

    assert deleted == 2
    assert list(Delivery.objects.values_list("pk", flat=True)) == [sending.pk]
    assert not DeliveryAttempt.objects.exists()  # with their attempts
    assert not Delivery.objects.filter(pk=done.pk).exists()


def test_deleting_a_delivery_being_sent_deletes_nothing(db):
    sending = DeliveryFactory(status=DeliveryStatus.SENDING)

    assert deliveries_delete(deliveries=Delivery.objects.filter(pk=sending.pk)) == 0
    assert Delivery.objects.filter(pk=sending.pk).exists()
