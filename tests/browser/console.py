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


# Each column header's box, the box that scrolls the table (Django's
# `.results`, overflow-x: auto), and the page's own width.
_BOXES = """(selector) => {
  const table = document.querySelector(selector);
  if (!table) return null;
  const holder = table.closest('.results') || table.parentElement;
  const page = document.documentElement;
  return {
    limit: Math.min(page.clientWidth, holder.getBoundingClientRect().right),
    pageScroll: [page.scrollWidth, page.clientWidth],
    holderScroll: [holder.scrollWidth, holder.clientWidth],
    headers: [...table.querySelectorAll('thead th')].map(th => {
      const box = th.getBoundingClientRect();
      return [th.innerText.trim() || th.className, box.left, box.right];
    }),
  };
}"""


def assert_nothing_clipped(page, table: str = "#result_list") -> list[str]:
    """Every column header of `table` lies inside the viewport and inside the
    box that would scroll the table: no column hidden to the right, no
    horizontal scroll bar on the table or the page. Returns the headers."""
    boxes = page.evaluate(_BOXES, table)
    assert boxes is not None, f"no {table} on {page.url}"
    clipped = [name for name, _left, right in boxes["headers"] if right > boxes["limit"] + 0.5]
    assert not clipped, f"clipped at {page.viewport_size}: {clipped} ({boxes})"
    scroll, width = boxes["holderScroll"]
    assert scroll <= width + 1, f"{table} scrolls sideways: {scroll} > {width}"
    scroll, width = boxes["pageScroll"]
    assert scroll <= width + 1, f"the page scrolls sideways: {scroll} > {width}"
    return [name for name, _, _ in boxes["headers"]]


def boxes_overlap(page, first: str, second: str) -> bool:
    """Whether the boxes of two elements overlap on the screen."""
    a = page.locator(first).first.bounding_box()
    b = page.locator(second).first.bounding_box()
    assert a is not None and b is not None
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )
