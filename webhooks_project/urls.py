from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from deliveries.api import DeliveryViewSet, EventViewSet
from hooks.api import WebhookViewSet

router = DefaultRouter()
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("events", EventViewSet, basename="event")
router.register("deliveries", DeliveryViewSet, basename="delivery")


def health(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(router.urls)),
    path("health/", health),
]
