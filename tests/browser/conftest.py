"""The operations console (the Django admin) in a real browser.

Headless Chromium from Debian (/usr/bin/chromium, or $CHROMIUM), driven by
Playwright's sync API, against pytest-django's live server, with a real Celery
worker and a real receiver on 127.0.0.1. No browser is ever downloaded.

Fixtures, for a test in this folder:
    page           a fresh browser tab; relative URLs go to the live server
    login          login(page) signs `operator` in through the admin's login form
    operator       a root admin (superuser) with password OPERATOR_PASSWORD
    worker         a running `celery worker`: WEBHOOK_MAX_ATTEMPTS=1, private IPs allowed
    beat           a running `celery beat` (database scheduler) with the same settings
    destination    a started Receiver; `destination.responder = always(500)` makes it fail
    webhook        a global webhook in the database pointing at `destination`
    publish_event  publish_event(type=..., data=...) over the REST API -> the event's id
    screenshot     screenshot(name) writes a full-page PNG of `page` to docs/screenshots/
                   (SCREENSHOT_DIR overrides): the pictures docs/operations.md shows

Without Chromium the tests skip, except under CI (the `CI`
variable set), where they fail: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings as django_settings
from playwright.sync_api import sync_playwright

from deliveries.receiver import Receiver
from tests.factories import TEST_SECRET, AccountFactory, DomainFactory, WebhookFactory
from tests.live import CeleryProcess, worker_env

OPERATOR_USERNAME = "operator"
OPERATOR_PASSWORD = "console-pass-1"  # a test login

# A receiver that fails makes its delivery fail at once (one attempt in all),
# so a test reaches "failed" without waiting out a retry schedule.
WORKER_SETTINGS = {
    "WEBHOOK_ALLOW_PRIVATE_IPS": "1",
    "WEBHOOK_MAX_ATTEMPTS": "1",
    "WEBHOOK_TIMEOUT": "2",
    "WEBHOOK_CONNECT_TIMEOUT": "1",
    "LOG_LEVEL": "INFO",
}

# A common laptop screen: every page must fit it (tests/browser/console.py's
# assert_nothing_clipped), and the docs' screenshots are taken at this width.
VIEWPORT = {"width": 1366, "height": 768}
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def unavailable(reason: str):
    """Skip locally; fail under CI, where a missing browser is a broken setup."""
    if os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}:
        pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_executable() -> str | None:
    wanted = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    return shutil.which(wanted)


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """One headless Chromium for the whole folder (a launch costs about a second)."""
    executable = chromium_executable()
    if executable is None:
        unavailable(
            f"no Chromium at {os.environ.get('CHROMIUM') or '/usr/bin/chromium'} "
            "(apt-get install chromium, or set CHROMIUM to a Chromium executable)"
        )
    # Playwright's sync API runs an asyncio event loop in this thread (inside a
    # greenlet) from start() to stop(). Django sees that running loop and
    # refuses ORM calls from this thread with SynchronousOnlyOperation, though
    # the test code is plain synchronous code and the loop is only suspended
    # while it runs. Fixtures and tests here use the ORM directly (factories,
    # waiting for a delivery's status, the database flush between tests), so
    # the check is switched off for exactly as long as Playwright runs, and
    # only for this folder: other suites keep the check.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        playwright = sync_playwright().start()
        try:
            chromium = playwright.chromium.launch(
                executable_path=executable,
                headless=True,
                # As root in a container: Chromium's sandbox needs user
                # namespaces it may not have; /dev/shm may be tiny.
                args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
            )
            yield chromium
            chromium.close()
        finally:
            playwright.stop()


@pytest.fixture(autouse=True)
def console_settings(settings):
    """The live server runs in this process: let it save webhooks that point at
    127.0.0.1, and count attempts as the worker does."""
    settings.WEBHOOK_ALLOW_PRIVATE_IPS = True
    settings.WEBHOOK_MAX_ATTEMPTS = int(WORKER_SETTINGS["WEBHOOK_MAX_ATTEMPTS"])


@pytest.fixture
def page(browser, live_server, request, failure_dir):
    """A fresh tab (own cookies) whose relative URLs go to the live server.
    A failing test leaves a screenshot of where it stood: FAILED-<test>.png
    in var/screenshots/."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    context.set_default_timeout(10_000)  # ms; the pages are local, a miss is a bug
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        tab.screenshot(path=failure_dir / f"FAILED-{name}.png", full_page=True)
    context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """SCREENSHOT_DIR, else docs/screenshots/: each run re-takes the pictures
    docs/operations.md shows, so they never fall behind the console."""
    path = Path(os.environ.get("SCREENSHOT_DIR") or DOCS_SCREENSHOTS)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def failure_dir() -> Path:
    """Where a failing test's screenshot goes: var/screenshots/ (never committed)."""
    path = django_settings.VAR_DIR / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def screenshot(page, screenshot_dir) -> Callable[[str], Path]:
    """screenshot("delivery-list") -> SCREENSHOT_DIR/delivery-list.png (full page)."""

    def take(name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=path, full_page=True, animations="disabled")
        return path

    return take


@pytest.fixture
def operator(transactional_db):
    """A root admin: staff and superuser, member of the ROOT domain's account."""
    from hooks.models import Role
    from hooks.services import user_create

    root = DomainFactory(name="ROOT", parent=None)
    account = AccountFactory(domain=root, name="operations")
    return user_create(
        username=OPERATOR_USERNAME,
        account=account,
        role=Role.ROOT_ADMIN,
        password=OPERATOR_PASSWORD,
    )


@pytest.fixture
def login(operator):
    """login(page) signs the operator in through the admin's own login form and
    returns on the admin index."""

    def sign_in(page, username: str = OPERATOR_USERNAME, password: str = OPERATOR_PASSWORD):
        page.goto("/admin/login/?next=/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")
        return page

    return sign_in


@pytest.fixture(scope="package")
def worker_process(django_db_setup, redis_url, tmp_path_factory):
    env = worker_env(
        WORKER_SETTINGS, redis_url=redis_url, var_dir=tmp_path_factory.mktemp("browser-worker")
    )
    redis.Redis.from_url(redis_url).flushdb()  # no message left by another suite
    process = CeleryProcess("worker", env, tmp_path_factory.mktemp("browser-logs"))
    yield process
    process.stop()


@pytest.fixture
def worker(worker_process, transactional_db, request):
    """A running worker over committed data; its log is printed if the test fails."""
    if not worker_process.running:
        worker_process.start()
    yield worker_process
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"--- worker log ---\n{worker_process.log_tail()}")


@pytest.fixture
def beat(worker_process, transactional_db, tmp_path):
    """celery-beat with the database scheduler, as `make run` runs it: it
    stores the settings' schedule where the console shows it."""
    process = CeleryProcess("beat", worker_process.env, tmp_path)
    process.start(ready_marker="beat: Starting")
    yield process
    process.stop()


@pytest.fixture
def destination(receivers) -> Receiver:
    """The receiver the webhook points at. It answers 200 until told otherwise:
    `destination.responder = always(500)` (deliveries.receiver.always)."""
    return receivers(secret=TEST_SECRET)


@pytest.fixture
def webhook(operator, destination):
    """A global webhook of the operator's account, for every event type."""
    from hooks.models import Scope

    return WebhookFactory(
        name="orders receiver",
        account=operator.membership.account,
        scope=Scope.GLOBAL,
        payload_url=f"{destination.url}/hook",
    )


@pytest.fixture
def publish_event(live_server, operator) -> Callable[..., str]:
    """Publish over the REST API as a producer does, with the operator's token,
    for the operator's account; returns the event id. Keyword arguments go into
    the request body (account=..., resource={...}, id=...)."""
    from hooks.services import token_issue

    token = token_issue(user=operator)[1]

    def publish(type: str = "VM.CREATE", data: dict | None = None, **body) -> str:
        response = requests.post(
            f"{live_server.url}/api/v1/events/",
            json={
                "type": type,
                "data": data or {"name": "web-1"},
                "account": str(operator.membership.account_id),
                **body,
            },
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        return response.json()["id"]

    return publish
