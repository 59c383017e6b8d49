from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from deliveries.api import (
    AccountViewSet,
    DeliveryViewSet,
    DomainViewSet,
    EventViewSet,
    URLTestView,
    WebhookTestView,
    WebhookViewSet,
)
from hooks.api import TokenViewSet, UserViewSet

# API errors are JSON wherever they happen (core.api.server_error).
handler500 = "core.api.server_error"

router = DefaultRouter()
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("events", EventViewSet, basename="event")
router.register("deliveries", DeliveryViewSet, basename="delivery")
router.register("domains", DomainViewSet, basename="domain")
router.register("accounts", AccountViewSet, basename="account")
router.register("users", UserViewSet, basename="user")
router.register("tokens", TokenViewSet, basename="token")


def health(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    # Before the router, so "test" is not read as a webhook id.
    path("api/v1/webhooks/test/", URLTestView.as_view(), name="webhook-url-test"),
    path("api/v1/webhooks/<uuid:pk>/test/", WebhookTestView.as_view(), name="webhook-test"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("health/", health),
]
