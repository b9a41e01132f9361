"""Logging in to the dashboard in headless Chromium: a viewer sees plots and workflows
but no command controls; an operator starts a workflow and it is in the audit log; a
wrong password is refused. The module's stack is served a second time with logins
(``auth_stack`` in ``conftest.py``). Screenshots go to ``build/screenshots/``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dashboard_pages import (
    STACK_PAGE_MARKS,
    cell,
    cell_state,
    open_tab,
    wait_first_frame,
    workflow,
)
from playwright.sync_api import Page, expect

from livedata.dashboard.audit import read_audit_log

if TYPE_CHECKING:
    from conftest import AuthStack

pytestmark = STACK_PAGE_MARKS


def log_in(page: Page, url: str, name: str, password: str) -> None:
    """Open the dashboard (which sends us to the login page) and log in."""
    page.goto(url)
    expect(page.locator("form.ld-login")).to_be_visible(timeout=30_000)
    page.locator("input[name=username]").fill(name)
    page.locator("input[name=password]").fill(password)
    page.locator("form.ld-login button[type=submit]").click()


def _audit_entries(path: Path, timeout_s: float, predicate: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = [r for r in read_audit_log(path) if predicate(r)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_wrong_password_is_refused(auth_stack: AuthStack, page: Page, screenshots: Path) -> None:
    log_in(page, auth_stack.url, "alice", "not-alices-password")
    expect(page.locator(".ld-login-error")).to_contain_text("Wrong user name or password")
    assert "/login" in page.url
    assert not [c for c in page.context.cookies() if c["name"] == "user"]
    page.screenshot(path=str(screenshots / "login-refused.png"))
    refused = _audit_entries(
        auth_stack.audit, 5, lambda r: r["event"] == "login" and r["result"] != "ok"
    )
    assert refused[-1]["user"] == "alice"


def test_a_viewer_sees_plots_and_jobs_but_no_command_controls(
    auth_stack: AuthStack, page: Page, screenshots: Path
) -> None:
    log_in(page, auth_stack.url, "bob", auth_stack.passwords["bob"])
    wait_first_frame(page)
    expect(page.locator(".ld-user")).to_contain_text("bob")
    expect(page.locator(".ld-user .ld-role-viewer")).to_be_visible()
    image = cell(page, "Panel 0, current window")
    cell_state(image, "live")
    expect(image.locator(".bk-Canvas").first).to_be_visible()
    # ROI tools are absent (the operator's image has them: see the next test).
    expect(image.locator(".bk-tool-icon-box-edit")).to_have_count(0)
    expect(image.locator(".bk-tool-icon-poly-draw")).to_have_count(0)
    page.screenshot(path=str(screenshots / "viewer-plots.png"), full_page=True)

    open_tab(page, "Workflows")
    card = workflow(page, "panel_0_xy")
    expect(page.locator(".ld-read-only")).to_be_visible()
    expect(card.locator(".ld-job-row").first).to_be_visible(timeout=30_000)
    expect(card.locator(".ld-job-active").first).to_be_visible(timeout=30_000)
    expect(page.locator("[class*='ld-start-']")).to_have_count(0)
    expect(page.locator("[class*='ld-param-']")).to_have_count(0)
    expect(page.locator(".ld-job-stop")).to_have_count(0)
    expect(page.locator(".ld-job-reset")).to_have_count(0)
    page.screenshot(path=str(screenshots / "viewer-workflows.png"), full_page=True)


def test_an_operator_starts_a_workflow_and_it_is_audited(
    auth_stack: AuthStack, page: Page, screenshots: Path
) -> None:
    log_in(page, auth_stack.url, "alice", auth_stack.passwords["alice"])
    wait_first_frame(page)
    expect(page.locator(".ld-user .ld-role-operator")).to_be_visible()
    image = cell(page, "Panel 0, current window")
    cell_state(image, "live")
    expect(image.locator(".bk-tool-icon-box-edit")).to_have_count(1)

    open_tab(page, "Workflows")
    card = workflow(page, "monitor_histogram")
    expect(card.locator(".ld-job-stop").first).to_be_visible(timeout=30_000)
    sources = card.locator(".ld-sources-monitor_histogram")
    sources.get_by_label("monitor1").uncheck()
    sources.get_by_label("monitor2").check()
    card.locator(".ld-param-bins input").fill("40")
    card.locator(".ld-start-monitor_histogram button").click()
    expect(card.locator(".ld-feedback")).to_contain_text("ACK from monitor2", timeout=30_000)
    page.screenshot(path=str(screenshots / "operator-workflows.png"), full_page=True)

    (request,) = _audit_entries(
        auth_stack.audit,
        5,
        lambda r: r["event"] == "command" and r.get("params", {}).get("bins") == 40,
    )
    assert (request["user"], request["role"], request["client"]) == (
        "alice",
        "operator",
        "127.0.0.1",
    )
    assert (request["kind"], request["action"], request["sources"]) == (
        "workflow_config",
        "start",
        ["monitor2"],
    )
    assert request["result"] == "requested"
    (result,) = _audit_entries(
        auth_stack.audit, 15, lambda r: r["event"] == "result" and r["id"] == request["id"]
    )
    assert result["result"] == "ACK"
    assert result["acked"] == ["monitor2"]


def test_logging_out_asks_for_a_login_again(auth_stack: AuthStack, page: Page) -> None:
    log_in(page, auth_stack.url, "bob", auth_stack.passwords["bob"])
    wait_first_frame(page)
    page.locator(".ld-user .ld-logout").click()
    expect(page.locator(".ld-logged-out")).to_be_visible(timeout=30_000)
    page.goto(auth_stack.url)
    expect(page.locator("form.ld-login")).to_be_visible(timeout=30_000)
