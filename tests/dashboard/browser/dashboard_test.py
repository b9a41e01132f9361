"""The dashboard in headless Chromium over a real stack (see ``conftest.py``).

Each test opens its own page; the stack and the server are shared by the module.
Screenshots go to ``build/screenshots/``.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import scipp as sc
from dashboard_pages import (
    READBACK_RECTANGLES_JS,
    STACK_PAGE_MARKS,
    X_RANGE_JS,
    cell,
    cell_state,
    drag,
    frames,
    image_sums,
    open_dashboard,
    open_tab,
    readback_rectangles,
    workflow,
    x_range,
)
from playwright.sync_api import Page, expect

from livedata.core.control import Roi
from livedata.core.identity import WorkflowId
from livedata.core.status import JobState
from livedata.protocol.roi import rois_from_data_array

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = STACK_PAGE_MARKS


def _wid(stack: Stack, name: str) -> WorkflowId:
    return WorkflowId(instrument=stack.instrument.name, name=name, version=1)


def test_page_opens_with_the_template_grid_and_live_plots_that_update_and_keep_a_zoom(
    stack: Stack, page: Page, screenshots: Path
) -> None:
    open_dashboard(page, stack.url)
    image = cell(page, "Panel 0, current window")
    cell_state(image, "live")
    expect(cell(page, "Panel 0, since start")).to_be_visible()
    expect(cell(page, "ROI spectra")).to_be_visible()
    first_frames, first_sums = frames(page), image_sums(page)
    first_age = image.locator(".ld-age").inner_text()
    page.wait_for_function(f"window.livedataFrames > {first_frames + 2}", timeout=20_000)
    time.sleep(1.5)
    assert image_sums(page) != first_sums, "the images did not change"
    age = image.locator(".ld-age").inner_text()
    assert age.endswith("s"), age
    assert float(age.split()[0]) < 10, f"data {age} old (first seen {first_age})"
    page.screenshot(path=str(screenshots / "plots-detector.png"), full_page=True)

    # The operator pans a live time series: new points no longer move it until they ask.
    series = cell(page, "Panel 0 counts per window")
    cell_state(series, "live")
    drag(series, 120)
    resume = series.locator(".ld-autoscale-resume")
    expect(resume).to_be_visible(timeout=10_000)
    held = x_range(page, "panel_0_xy-panel_0-counts_total")
    seen = frames(page)
    page.wait_for_function(f"window.livedataFrames > {seen + 4}", timeout=20_000)
    assert x_range(page, "panel_0_xy-panel_0-counts_total") == held, "the pan was undone"
    resume.locator("button").click()
    expect(resume).to_be_hidden(timeout=10_000)
    page.wait_for_function(
        f"() => ({X_RANGE_JS})('ld-figure:panel_0_xy-panel_0-counts_total')[1] > {held[1]}",
        timeout=20_000,
    )


def test_a_bad_parameter_shows_its_error_next_to_the_field(
    stack: Stack, page: Page, screenshots: Path
) -> None:
    open_dashboard(page, stack.url)
    open_tab(page, "Workflows")
    card = workflow(page, "monitor_histogram")
    card.locator(".ld-param-bins input").fill("0")
    card.locator(".ld-param-toa_range-start_ns input").fill("50000000")
    card.locator(".ld-param-toa_range-stop_ns input").fill("1000")
    card.locator(".ld-start-monitor_histogram button").click()
    errors = card.locator(".ld-field-error")
    expect(errors.filter(has_text="greater than or equal to 1")).to_be_visible(timeout=10_000)
    expect(errors.filter(has_text="must be below stop_ns")).to_be_visible()
    card.screenshot(path=str(screenshots / "workflow-form-errors.png"))


def test_a_workflow_started_from_the_form_produces_a_plot(
    stack: Stack, page: Page, screenshots: Path
) -> None:
    open_dashboard(page, stack.url)
    open_tab(page, "Workflows")
    card = workflow(page, "monitor_histogram")
    sources = card.locator(".ld-sources-monitor_histogram")
    sources.get_by_label("monitor1").uncheck()
    sources.get_by_label("monitor2").check()
    card.locator(".ld-param-bins input").fill("50")
    card.locator(".ld-start-monitor_histogram button").click()
    expect(card.locator(".ld-feedback")).to_contain_text("ACK from monitor2", timeout=30_000)
    open_tab(page, "Plots")
    open_tab(page, "Monitors and motion")
    monitor2 = cell(page, "Monitor 2")
    cell_state(monitor2, "live", timeout_ms=30_000)
    entry = stack.backend.results.latest(_wid(stack, "monitor_histogram"), "monitor2", "current")
    assert entry is not None
    assert entry.data.sizes["time_of_arrival"] == 50
    page.screenshot(path=str(screenshots / "plots-monitors.png"), full_page=True)


def test_stop_changes_the_job_state(stack: Stack, page: Page) -> None:
    job = stack.start_job("timeseries_data", "motion2")
    open_dashboard(page, stack.url)
    open_tab(page, "Workflows")
    card = workflow(page, "timeseries_data")
    row = card.locator(".ld-job").filter(
        has=page.locator(".ld-job-row", has_text=str(job.job_number)[:8])
    )
    expect(row.locator(".ld-job-active")).to_be_visible(timeout=20_000)
    row.locator(".ld-job-stop button").click()
    expect(card.locator(".ld-feedback")).to_contain_text("ACK", timeout=30_000)
    expect(row.locator(".ld-job-stopped")).to_be_visible(timeout=20_000)
    status = stack.backend.status.job(job)
    assert status is not None
    assert status.state is JobState.STOPPED


def test_a_drawn_roi_comes_back_as_readback(stack: Stack, page: Page, screenshots: Path) -> None:
    open_dashboard(page, stack.url)
    image = cell(page, "Panel 0, current window")
    cell_state(image, "live")
    image.locator(".bk-tool-icon-box-edit").click()
    canvas = image.locator(".bk-Canvas").first.bounding_box()
    assert canvas is not None
    x, y = canvas["x"] + canvas["width"] * 0.35, canvas["y"] + canvas["height"] * 0.35
    page.keyboard.down("Shift")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 50, steps=6)
    page.mouse.up()
    page.keyboard.up("Shift")
    wid = _wid(stack, "panel_0_xy")

    def applied() -> dict[int, Roi]:
        entry = stack.backend.results.latest(wid, "panel_0", "roi_rectangle")
        return {} if entry is None else rois_from_data_array("rectangle", entry.data)

    deadline = time.monotonic() + 30
    while not applied() and time.monotonic() < deadline:
        time.sleep(0.3)
    (roi,) = applied().values()
    assert roi.unit is None
    assert roi.x[0] < roi.x[1]
    assert roi.y[0] < roi.y[1]
    page.wait_for_function(
        f"() => ({READBACK_RECTANGLES_JS})().length > 0",
        timeout=20_000,
    )
    (drawn,) = readback_rectangles(page)
    assert drawn == pytest.approx([roi.x[0], roi.y[0], roi.x[1], roi.y[1]])
    cell_state(cell(page, "ROI spectra"), "live", timeout_ms=30_000)
    page.screenshot(path=str(screenshots / "roi-readback.png"), full_page=True)


def test_the_status_tab_lists_the_services(stack: Stack, page: Page, screenshots: Path) -> None:
    open_dashboard(page, stack.url)
    open_tab(page, "Status")
    services = page.locator("table.ld-services")
    for name in ("detector_data", "monitor_data", "timeseries"):
        row = services.locator("tr", has_text=name)
        expect(row).to_be_visible(timeout=20_000)
        expect(row.locator(".ld-svc-running")).to_be_visible()
    expect(page.locator("table.ld-jobs")).to_contain_text("panel_0")
    expect(page.locator("table.ld-log")).to_contain_text("ACK")
    page.screenshot(path=str(screenshots / "status.png"), full_page=True)


def test_export_downloads_the_cells_data(stack: Stack, page: Page, tmp_path: Path) -> None:
    open_dashboard(page, stack.url)
    image = cell(page, "Panel 0, current window")
    cell_state(image, "live")
    with page.expect_download() as download:
        image.locator(".ld-export-hdf5 button").click()
    path = tmp_path / "image.h5"
    download.value.save_as(path)
    data = sc.io.load_hdf5(path)
    assert data.dims == ("y", "x")
    assert data.shape == (128, 128)

    with page.expect_download() as download:
        image.locator(".ld-export-png button").click()
    assert download.value.suggested_filename.endswith(".png")
    png = tmp_path / "image.png"
    download.value.save_as(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    open_tab(page, "Monitors and motion")
    monitor = cell(page, "Monitor 1")
    cell_state(monitor, "live")
    with page.expect_download() as download:
        monitor.locator(".ld-export-csv button").click()
    text = io.BytesIO()
    text.write(Path(download.value.path()).read_bytes())
    lines = text.getvalue().decode().splitlines()
    header = next(line for line in lines if not line.startswith("#"))
    assert header.startswith("time_of_arrival_low [ns],time_of_arrival_high [ns],value")
    assert len(lines) > 100


def test_cells_are_added_configured_saved_and_loaded(
    stack: Stack, page: Page, screenshots: Path
) -> None:
    open_dashboard(page, stack.url)
    page.locator(".ld-add-tab button").click()
    expect(page.locator(".bk-tab", has_text="Tab 3")).to_be_visible()
    page.locator(".ld-add-cell-toggle button").click()
    page.locator(".ld-pick-workflow select").select_option(
        label="Monitor histogram (monitor_histogram)"
    )
    page.locator(".ld-pick-source select").select_option("monitor1")
    page.locator(".ld-pick-output select").select_option(label="Spectrum in window (current)")
    page.locator(".ld-pick-plotter select").select_option("bars")
    page.locator(".ld-add-cell button").click()
    added = cell(page, "monitor1 · current")
    cell_state(added, "live")
    added.locator(".ld-cell-options button").click()
    added.locator(".ld-opt-rate input").check()
    expect(added.locator(".bk-Canvas").first).to_be_visible()
    page.locator(".ld-grid-name input").fill("mine")
    page.locator(".ld-grid-save button").click()
    expect(page.locator(".ld-grid-message")).to_contain_text("Saved as mine")
    page.screenshot(path=str(screenshots / "grid-edited.png"), full_page=True)

    page.locator(".ld-grid-choice select").select_option("template: default")
    page.locator(".ld-grid-load button").click()
    expect(page.locator(".bk-tab", has_text="Tab 3")).to_have_count(0)
    page.locator(".ld-grid-choice select").select_option("saved: mine")
    page.locator(".ld-grid-load button").click()
    open_tab(page, "Tab 3")
    cell_state(cell(page, "monitor1 · current"), "live")
    saved = stack.ctx.grids.load(stack.instrument.name, "mine")
    (layer,) = saved.tabs[2].cells[0].layers
    assert layer.plotter.value == "bars"
    assert layer.options.rate
