from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "hooks"
    verbose_name = "Tenants and webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the signal that tells the call-hook listener cache a
        # webhook changed.
        from hooks import callhooks  # noqa: F401
