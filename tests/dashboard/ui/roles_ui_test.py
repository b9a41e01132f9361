"""What a viewer's session builds: no start forms, no job buttons, no ROI editors; and
the same session for an operator has them all. No browser (a bokeh document each)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import panel as pn
import pytest
from bokeh.document import Document
from panel.io.state import set_curdoc

from livedata.config.registry import load_instrument
from livedata.core.identity import WorkflowId
from livedata.dashboard.access import CommandRefusedError, Role, User
from livedata.dashboard.audit import AuditLog, read_audit_log
from livedata.dashboard.credentials import (
    CredentialsFile,
    CredentialStore,
    save_credentials,
    with_user,
    without_user,
)
from livedata.dashboard.gate import CommandGate
from livedata.dashboard.policy.grid_files import GridLibrary
from livedata.dashboard.ui import session as session_module
from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.plots_tab import PlotsTab
from livedata.dashboard.ui.session import Session, user_html
from livedata.dashboard.ui.workflows_tab import WorkflowsTab
from livedata.testing.dashboard import FakeBackend

pytestmark = pytest.mark.filterwarnings("ignore:All-NaN slice encountered:RuntimeWarning")

OPERATOR = User("alice", Role.OPERATOR, authenticated=True)
VIEWER = User("bob", Role.VIEWER, authenticated=True)


@pytest.fixture
def ctx(tmp_path: Path) -> DashboardContext:
    inst = load_instrument("dummy")
    backend = FakeBackend(inst)
    backend.start_workflow(
        WorkflowId(instrument="dummy", name="panel_0_xy", version=1), ["panel_0"], {}
    )
    return DashboardContext(backend, inst, grids=GridLibrary(tmp_path / "grids"))


@pytest.fixture
def doc() -> Iterator[None]:
    with set_curdoc(Document()):
        yield


def _session(ctx: DashboardContext, user: User, audit: AuditLog) -> DashboardContext:
    return ctx.for_session(user, CommandGate(ctx.backend, user, audit))


def _buttons(layout: object) -> list[str]:
    return [b.label for b in layout.select(pn.widgets.Button)]  # type: ignore[attr-defined]


def test_a_viewer_gets_no_command_controls(
    ctx: DashboardContext, doc: None, tmp_path: Path
) -> None:
    view = _session(ctx, VIEWER, AuditLog(tmp_path / "audit.jsonl"))
    tab = WorkflowsTab(view)
    tab.refresh(view.clock())
    labels = _buttons(tab.panel)
    assert "Start" not in labels
    assert "Stop" not in labels
    assert "Reset" not in labels
    plots = PlotsTab(view)
    plots.refresh(view.clock())
    assert all(cell.editor is None for cell in plots.cells()), "no ROI editing"


def test_an_operator_gets_them(ctx: DashboardContext, doc: None, tmp_path: Path) -> None:
    view = _session(ctx, OPERATOR, AuditLog(tmp_path / "audit.jsonl"))
    tab = WorkflowsTab(view)
    tab.refresh(view.clock())
    labels = _buttons(tab.panel)
    assert "Start" in labels
    assert "Stop" in labels
    assert "Reset" in labels
    plots = PlotsTab(view)
    assert any(cell.editor is not None for cell in plots.cells())


def test_a_viewer_forcing_a_card_to_act_is_refused_on_the_server(
    ctx: DashboardContext, doc: None, tmp_path: Path
) -> None:
    """Hidden controls are not the protection: the session's backend refuses."""
    audit = AuditLog(tmp_path / "audit.jsonl")
    view = _session(ctx, VIEWER, audit)
    card = WorkflowsTab(view).cards[
        WorkflowId(instrument="dummy", name="monitor_histogram", version=1)
    ]
    card.start.clicks += 1  # what a forged click event would do
    assert "viewers cannot" in card.feedback.object
    started = {row.status.workflow_id.name for row in ctx.backend.status.jobs(ctx.clock())}
    assert started == {"panel_0_xy"}, "the monitor histogram did not start"
    (record,) = read_audit_log(audit.path)
    assert (record["user"], record["result"]) == ("bob", "refused: viewer")


def test_sessions_share_the_server_state_but_not_the_user(ctx: DashboardContext) -> None:
    view = ctx.for_session(VIEWER, ctx.backend)
    assert view.user is VIEWER
    assert ctx.user.name == "local"
    assert view.frames is ctx.frames
    assert view.metrics is ctx.metrics
    assert view.jobs(ctx.clock()) is ctx.jobs(ctx.clock()), "one job index for all sessions"


def test_the_header_names_the_user_their_role_and_the_way_out() -> None:
    html = user_html(VIEWER)
    assert "bob" in html
    assert "viewer" in html
    assert "logout" in html
    assert user_html(User("local", Role.OPERATOR)) == ""


def _visible_buttons(layout: object) -> list[str]:
    return [b.label for b in layout.select(pn.widgets.Button) if b.visible]  # type: ignore[attr-defined]


def test_a_viewer_cannot_overwrite_a_shared_grid(
    ctx: DashboardContext, doc: None, tmp_path: Path
) -> None:
    operators = PlotsTab(_session(ctx, OPERATOR, AuditLog(tmp_path / "alice.jsonl")))
    assert "Save" in _visible_buttons(operators.panel)
    operators._name.value = "beamtime"
    operators._save()
    saved = ctx.grids.load("dummy", "beamtime")

    audit = AuditLog(tmp_path / "audit.jsonl")
    plots = PlotsTab(_session(ctx, VIEWER, audit))
    assert "Save" not in _visible_buttons(plots.panel), "no save control for a viewer"
    plots._add_tab()
    plots._name.value = "beamtime"
    plots._save()  # what a forged click would do
    assert "viewers cannot save grids" in plots.message.object
    assert ctx.grids.load("dummy", "beamtime") == saved, "the operator's grid is intact"
    (record,) = read_audit_log(audit.path)
    assert (record["user"], record["event"], record["grid"], record["result"]) == (
        "bob",
        "grid",
        "beamtime",
        "refused: viewer",
    )
    with pytest.raises(CommandRefusedError):
        plots.ctx.grids.delete("dummy", "beamtime")
    assert ctx.grids.names("dummy") == ["beamtime"]


def test_a_page_stops_showing_data_once_its_user_is_removed(
    ctx: DashboardContext, doc: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An open websocket is no login: the session ends itself within a second of the
    user leaving the users file, and sends nothing more; a file briefly invalid (being
    rewritten) ends nobody's page."""
    monkeypatch.setattr(session_module, "USER_CHECK_S", 0.0)
    users_file = tmp_path / "users.yaml"
    alice = with_user(CredentialsFile(), "alice", Role.OPERATOR, "a" * 8)
    both = with_user(alice, "bob", Role.VIEWER, "b" * 8)
    save_credentials(users_file, both)
    store = CredentialStore(users_file)
    gate = CommandGate(ctx.backend, VIEWER, AuditLog(tmp_path / "audit.jsonl"))
    session = Session(
        ctx.for_session(VIEWER, gate, user_removed=functools.partial(store.removed, "bob"))
    )
    backend = ctx.backend
    assert isinstance(backend, FakeBackend)
    backend.feed()
    session._tick(force=True)
    assert ctx.metrics.cell_frames > 0, "the page shows data while its user is listed"

    users_file.write_text("users: [half written")  # mid-rewrite: not a removal
    backend.feed()
    session._tick(force=True)
    assert not session.ended

    save_credentials(users_file, without_user(both, "bob"))
    session._tick(force=True)
    assert session.ended
    (only,) = session.panel.objects
    assert "your user was removed" in only.object
    frames = ctx.metrics.cell_frames
    backend.feed()  # new data for the page
    session._tick(force=True)
    assert ctx.metrics.cell_frames == frames
