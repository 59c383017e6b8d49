from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "hooks"
    verbose_name = "Tenants and webhooks"
    default_auto_field = "django.db.models.BigAutoField"
