"""Driving the dashboard page: tabs, cells, and reading what bokeh holds in the browser."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

FIRST_FRAME_TIMEOUT_MS = 60_000

STACK_PAGE_MARKS = [
    pytest.mark.browser,
    pytest.mark.integration,
    # A real browser, a real stack and a 2-core machine: a click can miss its moment when
    # the machine is saturated. One retry keeps CI meaningful without hiding a broken UI
    # (a real failure fails twice); each retry is reported in the test summary.
    pytest.mark.flaky(reruns=1, reruns_delay=2),
    # Bokeh warns when a browser's patch names a model the server already knows, which
    # Panel's widget events do by design; Panel silences it itself
    # (panel.config._ignore_bokeh_warnings), but warnings-as-errors re-arms it in the
    # server thread, where it would drop the click.
    pytest.mark.filterwarnings(
        "ignore:reference already known:bokeh.util.warnings.BokehUserWarning"
    ),
]
"""The ``pytestmark`` of a module whose tests drive the dashboard page over a real stack."""


def open_dashboard(page: Page, url: str) -> None:
    """Open the page and wait until its first plot data arrived."""
    page.goto(url)
    wait_first_frame(page)


def wait_first_frame(page: Page) -> None:
    page.wait_for_function("window.livedataFrames > 0", timeout=FIRST_FRAME_TIMEOUT_MS)


def frames(page: Page) -> int:
    """Cell frames the page received so far (mirrored by the flow-control component)."""
    return int(page.evaluate("window.livedataFrames || 0"))


def open_tab(page: Page, name: str) -> None:
    page.locator(".bk-tab", has_text=name).first.click()


def cell(page: Page, title: str) -> Locator:
    return page.locator(".ld-cell").filter(has=page.locator(".ld-cell-title", has_text=title))


def workflow(page: Page, name: str) -> Locator:
    return page.locator(f".ld-workflow-{name}")


def cell_state(cell: Locator, state: str, timeout_ms: int = 30_000) -> None:
    expect(cell.locator(f".ld-state-{state}")).to_be_visible(timeout=timeout_ms)


IMAGE_SUMS_JS = """
() => {
  const sums = [];
  for (const doc of Bokeh.documents) {
    for (const model of doc.all_models) {
      if (model.type === "ColumnDataSource" && model.data.image !== undefined
          && model.data.image.length > 0) {
        const image = model.data.image[0];
        let sum = 0;
        for (let i = 0; i < image.length; i++) { if (Number.isFinite(image[i])) sum += image[i]; }
        sums.push(sum);
      }
    }
  }
  return sums;
}
"""
"""Sums of every image the page holds (what bokeh draws, not what the server has)."""

READBACK_RECTANGLES_JS = """
() => {
  for (const doc of Bokeh.documents) {
    for (const model of doc.all_models) {
      if (model.type === "GlyphRenderer" && model.data_source.data.left !== undefined
          && JSON.stringify(model.glyph.line_dash).includes("dashed")) {
        const d = model.data_source.data;
        if (d.left.length > 0) {
          return Array.from(d.left).map((_, i) => [d.left[i], d.bottom[i], d.right[i], d.top[i]]);
        }
      }
    }
  }
  return [];
}
"""
"""The dashed (readback) rectangles the page draws: what the backend applied."""


def image_sums(page: Page) -> list[float]:
    sums: list[Any] = page.evaluate(IMAGE_SUMS_JS)
    return [float(s) for s in sums]


def readback_rectangles(page: Page) -> list[list[float]]:
    rects: list[list[float]] = page.evaluate(READBACK_RECTANGLES_JS)
    return rects


X_RANGE_JS = """
(tag) => {
  for (const doc of Bokeh.documents) {
    for (const model of doc.all_models) {
      if (model.tags !== undefined && model.tags.includes(tag) && model.x_range !== undefined) {
        return [model.x_range.start, model.x_range.end];
      }
    }
  }
  return null;
}
"""
"""The x range a figure shows in the browser, found by its ``ld-figure:<name>`` tag."""


def x_range(page: Page, figure: str) -> tuple[float, float]:
    found: list[float] | None = page.evaluate(X_RANGE_JS, f"ld-figure:{figure}")
    assert found is not None, f"no figure {figure} on the page"
    return (float(found[0]), float(found[1]))


def drag(locator: Locator, dx: float) -> None:
    """Drag across the middle of the first canvas in ``locator`` (the pan tool pans)."""
    box = locator.locator(".bk-Canvas").first.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page = locator.page
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()
