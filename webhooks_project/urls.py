from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from deliveries.api import (
    AccountViewSet,
    DeliveryViewSet,
    DomainViewSet,
    EventViewSet,
    TokenViewSet,
    URLTestView,
    UserViewSet,
    WebhookTestView,
    WebhookViewSet,
)
from deliveries.jobs_api import BulkJobViewSet
from hooks.filter_api import WebhookFiltersView, WebhookFilterView
from webhooks_project import health
from webhooks_project.metrics import metrics_view

# API errors are JSON wherever they happen (core.api.server_error).
handler500 = "core.api.server_error"

router = DefaultRouter()
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("events", EventViewSet, basename="event")
router.register("deliveries", DeliveryViewSet, basename="delivery")
router.register("jobs", BulkJobViewSet, basename="bulkjob")
router.register("domains", DomainViewSet, basename="domain")
router.register("accounts", AccountViewSet, basename="account")
router.register("users", UserViewSet, basename="user")
router.register("tokens", TokenViewSet, basename="token")


urlpatterns = [
    path("admin/", admin.site.urls),
    # Before the router, so "test" is not read as a webhook id.
    path("api/v1/webhooks/test/", URLTestView.as_view(), name="webhook-url-test"),
    path("api/v1/webhooks/<uuid:pk>/test/", WebhookTestView.as_view(), name="webhook-test"),
    path(
        "api/v1/webhooks/<uuid:pk>/filters/", WebhookFiltersView.as_view(), name="webhook-filters"
    ),
    path(
        "api/v1/webhooks/<uuid:pk>/filters/<uuid:rule_id>/",
        WebhookFilterView.as_view(),
        name="webhook-filter",
    ),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Liveness and readiness (webhooks_project/health.py), and Prometheus's
    # usual path. No trailing slash: a load balancer would not follow a redirect.
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("health/", health.live),  # the first health check, kept: liveness
    path("metrics", metrics_view, name="metrics"),
]
