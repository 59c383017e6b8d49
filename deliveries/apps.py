from django.apps import AppConfig


class DeliveriesConfig(AppConfig):
    name = "deliveries"
    verbose_name = "Events and deliveries"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process (web worker, Celery worker, command) starts here:
        # the metric files of this host's dead processes are folded into one
        # (deliveries/metrics.py).
        from deliveries import metrics

        metrics.dead_processes_fold()
