from django.apps import AppConfig, apps
from django.contrib.admin import apps as admin_apps


class ConsoleConfig(AppConfig):
    """The operations console: the Django admin over `hooks` and `deliveries`.

    It has no models: its pages are for the other apps' models, and it depends
    on both apps while neither depends on it.
    """

    default = True  # the "console" entry of INSTALLED_APPS (this module has two configs)
    name = "console"
    verbose_name = "Operations console"

    def ready(self) -> None:
        # django-celery-beat's pages are the console's "Schedules" (its menu
        # section, console.site.MENU): the same name in breadcrumbs and titles.
        apps.get_app_config("django_celery_beat").verbose_name = "Schedules"


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with the console's site (console.site.ConsoleSite)
    as `admin.site`: INSTALLED_APPS names this instead of django.contrib.admin."""

    default = False  # named in INSTALLED_APPS by its full path
    default_site = "console.site.ConsoleSite"
