from django.contrib import admin

from deliveries.models import Delivery, DeliveryAttempt, Event


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is read, not edited. Lists never COUNT(*) the whole table."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "account", "occurred_at", "created_at"]
    list_select_related = ["account"]
    search_fields = ["=id", "type"]


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = [
        "number",
        "started_at",
        "duration_ms",
        "response_status",
        "error_class",
        "error_message",
        "request_headers",
        "response_body",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "webhook",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status"]
    list_select_related = ["webhook"]
    search_fields = ["=event__id"]
    inlines = [AttemptInline]


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "delivery",
        "number",
        "started_at",
        "duration_ms",
        "response_status",
        "error_class",
    ]
