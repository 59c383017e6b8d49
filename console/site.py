"""The console's admin site: its index is the dashboard (console.dashboard),
its menu puts webhooks, events and deliveries first, and it has no "View
site" link (the project has no public site: the API's docs are linked
instead, from the header).

Installed as the project's admin (console.apps.ConsoleAdminConfig replaces
django.contrib.admin in INSTALLED_APPS), so `admin.site` is this site and
every app's @admin.register lands here.
"""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from console.dashboard import dashboard_context

# The menu: (section, CSS label, the pages in it as (app_label, model_name)).
# A section's heading links to its app's page when it is one app's.
MENU: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "Webhooks, events and deliveries",
        "console",
        [("hooks", "webhook"), ("deliveries", "event"), ("deliveries", "delivery")],
    ),
    ("Tenants", "hooks", [("hooks", "domain"), ("hooks", "account"), ("hooks", "membership")]),
    # django-celery-beat's interval, crontab, clocked and solar tables are
    # what a periodic task points at: edited from its form (or the Schedules
    # page, /admin/django_celery_beat/), not worth four lines of the menu.
    ("Schedules", "django_celery_beat", [("django_celery_beat", "periodictask")]),
    (
        "Users and API tokens",
        "auth",
        [("auth", "user"), ("auth", "group"), ("knox", "authtoken")],
    ),
]
HIDDEN = {
    ("django_celery_beat", name)
    for name in ("clockedschedule", "crontabschedule", "intervalschedule", "solarschedule")
}


def menu(apps: list[dict]) -> list[dict]:
    """Django's app list (one entry per app, models alphabetical) regrouped
    as MENU says; what MENU does not name follows, as Django listed it."""
    pages = {
        (app["app_label"], model["object_name"].lower()): (app, model)
        for app in apps
        for model in app["models"]
    }
    placed = set(HIDDEN)
    sections = []
    for name, label, wanted in MENU:
        found = [pages[key] for key in wanted if key in pages]
        if not found:
            continue
        placed.update(wanted)
        owners = {app["app_label"] for app, _ in found}
        sections.append(
            {
                "name": name,
                "app_label": label,
                # One app's section links to that app's page; a mixed one to none.
                "app_url": found[0][0]["app_url"] if len(owners) == 1 else None,
                "has_module_perms": True,
                "models": [model for _, model in found],
            }
        )
    for app in apps:
        rest = [
            m for m in app["models"] if (app["app_label"], m["object_name"].lower()) not in placed
        ]
        if rest:
            sections.append({**app, "models": rest})
    return sections


class ConsoleSite(admin.AdminSite):
    site_header = "Webhooks operations console"
    site_title = "Webhooks console"
    index_title = "Dashboard"
    site_url = None  # no public site to view: Django's "View site" link goes
    index_template = "admin/console/dashboard.html"
    # The menu is a row under the header (admin/base_site.html): Django's side
    # panel would take 300 px from every list, clipping the delivery list's
    # right-hand columns at 1366 px.
    enable_nav_sidebar = False

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        return apps if app_label else menu(apps)

    def index(self, request, extra_context=None) -> TemplateResponse:
        context = dashboard_context(request, now=timezone.now())
        return super().index(request, {**context, **(extra_context or {})})
