"""The console's admin site (console.site): the dashboard as its index, the
menu's order, no "View site"."""

from django.urls import reverse

from console.site import menu
from tests.console.kit import text

INDEX = reverse("admin:index")


def app(label, name, *models):
    return {
        "name": name,
        "app_label": label,
        "app_url": f"/admin/{label}/",
        "has_module_perms": True,
        "models": [{"object_name": m, "name": m + "s", "admin_url": f"/{m}/"} for m in models],
    }


def test_the_menu_puts_webhooks_events_and_deliveries_first():
    apps = [  # as Django lists them: alphabetically
        app("auth", "Authentication", "Group", "User"),
        app("deliveries", "Events and deliveries", "Delivery", "Event"),
        app(
            "django_celery_beat",
            "Schedules",
            "ClockedSchedule",
            "CrontabSchedule",
            "IntervalSchedule",
            "PeriodicTask",
            "SolarSchedule",
        ),
        app("hooks", "Tenants and webhooks", "Account", "Domain", "Membership", "Webhook"),
        app("knox", "Knox", "AuthToken"),
        app("later", "Something added later", "Thing"),
    ]
    sections = menu(apps)
    assert [s["name"] for s in sections] == [
        "Webhooks, events and deliveries",
        "Tenants",
        "Schedules",
        "Users and API tokens",
        "Something added later",
    ]
    first = sections[0]
    assert [m["object_name"] for m in first["models"]] == ["Webhook", "Event", "Delivery"]
    assert first["app_url"] is None  # two apps' pages: no one app page to link
    schedules = sections[2]
    assert [m["object_name"] for m in schedules["models"]] == ["PeriodicTask"]
    assert schedules["app_url"] == "/admin/django_celery_beat/"  # where the four tables are
    users = sections[3]
    assert [m["object_name"] for m in users["models"]] == ["User", "Group", "AuthToken"]


def test_a_section_with_nothing_visible_is_left_out():
    sections = menu([app("hooks", "Tenants and webhooks", "Webhook")])
    assert [s["name"] for s in sections] == ["Webhooks, events and deliveries"]


def test_the_index_is_the_dashboard_and_links_no_public_site(root):
    response = root.get(INDEX)
    assert response.status_code == 200
    page = text(response)
    assert 'id="attention"' in page and 'id="backlog"' in page and 'id="traffic"' in page
    assert "View site" not in page
    assert 'id="api-docs-link"' in page
    assert 'id="console-menu"' in page


def test_the_schedules_page_lists_the_periodic_tasks_and_their_tables(root):
    response = root.get(reverse("admin:app_list", args=["django_celery_beat"]))
    page = text(response)
    assert "Schedules administration" in page
    for name in ("Periodic tasks", "Crontabs", "Intervals", "Clocked", "Solar events"):
        assert name in page, name
