from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operations console: the Django admin over `hooks` and `deliveries`.

    It has no models: its pages are for the other apps' models, and it depends
    on both apps while neither depends on it.
    """

    name = "console"
    verbose_name = "Operations console"
