"""Helpers for driving the operations console (the Django admin) in tests."""

from __future__ import annotations

from tests.live import wait_until


def reload_until(page, locator, text: str, *, timeout: float = 15) -> None:
    """Reload `page` until `locator` shows `text`: admin pages do not refresh
    themselves, so a status a worker changes appears only on a new load."""

    def shown() -> bool:
        page.reload()
        return locator.count() > 0 and text in locator.first.inner_text()

    wait_until(shown, timeout=timeout, every=0.2, message=f"{text!r} on {page.url}")
