from django.contrib import admin

from hooks.models import Account, Domain, Membership, Webhook


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["path"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "created_at"]
    list_select_related = ["domain"]
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "account", "role"]
    list_select_related = ["user", "account"]


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "account", "payload_url", "enabled", "created_at"]
    list_filter = ["scope", "enabled", "header_style"]
    list_select_related = ["account"]
    search_fields = ["name", "payload_url"]
    # The secret and password are never shown back; set them through the API.
    exclude = ["secret", "auth_password"]
