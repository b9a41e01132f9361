"""The Plots tab: the session's grid (tabs of cells), adding and removing cells, saving
and loading grids. Only the grid tab on screen is refreshed."""

from __future__ import annotations

import dataclasses
from typing import Any

import panel as pn

from livedata.dashboard.access import CommandRefusedError
from livedata.dashboard.policy.grid import Cell, Grid, GridError, Tab, check_grid
from livedata.dashboard.ui.cell import CellView
from livedata.dashboard.ui.context import DashboardContext
from livedata.dashboard.ui.format import escape
from livedata.dashboard.ui.picker import OutputPicker

ROW_HEIGHT = 330
"""Height of one grid row in pixels: a plot with its header and axes stays legible."""


def first_free(tab: Tab) -> tuple[int, int] | None:
    taken = {square for cell in tab.cells for square in cell.squares()}
    for row in range(tab.rows):
        for col in range(tab.cols):
            if (row, col) not in taken:
                return row, col
    return None


class PlotsTab:
    """The grid of one session."""

    def __init__(self, ctx: DashboardContext) -> None:
        self.ctx = ctx
        grid, problems = ctx.initial_grid()
        self.grid = grid
        self._views: list[list[CellView]] = []
        self.message = pn.pane.HTML("", css_classes=["ld-grid-message"])
        self.tabs = pn.Tabs(dynamic=False, sizing_mode="stretch_width")
        self._built: set[int] = set()
        self.tabs.param.watch(self._tab_opened, "active")
        self._grid_title = pn.pane.HTML("", margin=(8, 5))
        self._choice = pn.widgets.Select(label="Grid", width=220, css_classes=["ld-grid-choice"])
        load = pn.widgets.Button(label="Load", width=70, css_classes=["ld-grid-load"])
        load.on_click(lambda _: self._load())
        # Saved grids are shared (and their ROIs sent on loading): only operators write
        # them. Hidden from viewers; the session's grid library refuses them anyway.
        self._name = pn.widgets.TextInput(
            label="Save as",
            placeholder="name",
            width=160,
            css_classes=["ld-grid-name"],
            visible=ctx.may_command,
        )
        save = pn.widgets.Button(
            label="Save",
            width=70,
            color="primary",
            css_classes=["ld-grid-save"],
            visible=ctx.may_command,
        )
        save.on_click(lambda _: self._save())
        add_toggle = pn.widgets.Button(
            label="+ Cell", width=80, color="success", css_classes=["ld-add-cell-toggle"]
        )
        self._add_area = self._build_add_area()
        add_toggle.on_click(lambda _: self._toggle_add())
        add_tab = pn.widgets.Button(label="+ Tab", width=70, css_classes=["ld-add-tab"])
        add_tab.on_click(lambda _: self._add_tab())
        self._refresh_choices()
        toolbar = pn.Row(
            self._grid_title,
            pn.layout.HSpacer(),
            add_toggle,
            add_tab,
            self._choice,
            load,
            self._name,
            save,
            sizing_mode="stretch_width",
        )
        self.panel = pn.Column(
            toolbar, self._add_area, self.message, self.tabs, sizing_mode="stretch_width"
        )
        self._show_grid()
        self._say(problems)

    # -- building -----------------------------------------------------------------

    def _show_grid(self) -> None:
        self._grid_title.object = f"<b style='font-size:1.1em'>{escape(self.grid.title)}</b>"
        self._views = [[] for _ in self.grid.tabs]
        self.tabs[:] = [(tab.title, self._layout(i, tab)) for i, tab in enumerate(self.grid.tabs)]

    def _layout(self, tab_index: int, tab: Tab) -> Any:
        spec = pn.GridSpec(
            sizing_mode="stretch_width",
            height=tab.rows * ROW_HEIGHT,
            nrows=tab.rows,
            ncols=tab.cols,
        )
        taken = {square for cell in tab.cells for square in cell.squares()}
        if not tab.cells:
            taken.add((0, 0))
            spec[0, 0] = pn.pane.HTML("<i>Empty tab: add a cell with “+ Cell”.</i>")
        free = {(r, c) for r in range(tab.rows) for c in range(tab.cols)} - taken
        for row, col in sorted(free):
            # Empty squares keep their place (a grid is sized by what it holds).
            spec[row, col] = pn.Spacer()
        views = []
        for cell_index, cell in enumerate(tab.cells):
            view = self._cell_view(tab_index, cell_index, cell)
            views.append(view)
            spec[cell.row : cell.row + cell.row_span, cell.col : cell.col + cell.col_span] = (
                view.panel
            )
        self._views[tab_index] = views
        return spec

    def _cell_view(self, tab_index: int, cell_index: int, cell: Cell) -> CellView:
        def changed(new: Cell) -> None:
            self._replace_cell(tab_index, cell_index, new)

        def removed() -> None:
            self._remove_cell(tab_index, cell_index)

        return CellView(self.ctx, cell, on_change=changed, on_remove=removed)

    def _tab_opened(self, event: Any) -> None:
        index = int(event.new or 0)
        if index not in self._built and index < len(self.grid.tabs):
            self._built.add(index)
            self._rebuild_tab(index)

    def _rebuild_tab(self, tab_index: int) -> None:
        tab = self.grid.tabs[tab_index]
        self.tabs[tab_index] = (tab.title, self._layout(tab_index, tab))

    # -- grid edits ---------------------------------------------------------------

    def _set_tab(self, tab_index: int, tab: Tab) -> None:
        tabs = list(self.grid.tabs)
        tabs[tab_index] = tab
        self.grid = dataclasses.replace(self.grid, tabs=tuple(tabs))

    def _replace_cell(self, tab_index: int, cell_index: int, cell: Cell) -> None:
        tab = self.grid.tabs[tab_index]
        cells = list(tab.cells)
        cells[cell_index] = cell
        self._set_tab(tab_index, dataclasses.replace(tab, cells=tuple(cells)))

    def _remove_cell(self, tab_index: int, cell_index: int) -> None:
        tab = self.grid.tabs[tab_index]
        cells = tuple(c for i, c in enumerate(tab.cells) if i != cell_index)
        self._set_tab(tab_index, dataclasses.replace(tab, cells=cells))
        self._rebuild_tab(tab_index)

    def _build_add_area(self) -> Any:
        self._picker = OutputPicker(self.ctx.specs)
        self._cell_title = pn.widgets.TextInput(label="Title", placeholder="(optional)", width=180)
        self._row = pn.widgets.IntInput(label="row", value=0, start=0, width=70)
        self._col = pn.widgets.IntInput(label="col", value=0, start=0, width=70)
        self._row_span = pn.widgets.IntInput(label="rows", value=1, start=1, width=70)
        self._col_span = pn.widgets.IntInput(label="cols", value=1, start=1, width=70)
        add = pn.widgets.Button(
            label="Add cell", color="primary", width=100, css_classes=["ld-add-cell"]
        )
        add.on_click(lambda _: self._add_cell())
        return pn.Column(
            self._picker.panel,
            pn.Row(self._cell_title, self._row, self._col, self._row_span, self._col_span, add),
            visible=False,
            styles={"background": "#f6f8fa", "border": "1px solid #d0d7de"},
            sizing_mode="stretch_width",
        )

    def _toggle_add(self) -> None:
        self._add_area.visible = not self._add_area.visible
        tab = self.grid.tabs[self.tabs.active or 0]
        free = first_free(tab)
        self._row.value, self._col.value = free if free is not None else (tab.rows, 0)

    def _add_cell(self) -> None:
        tab_index = self.tabs.active or 0
        tab = self.grid.tabs[tab_index]
        layer = self._picker.layer()
        if layer is None:
            self._say(["choose a workflow output first"])
            return
        try:
            cell = Cell(
                row=int(self._row.value or 0),
                col=int(self._col.value or 0),
                row_span=int(self._row_span.value or 1),
                col_span=int(self._col_span.value or 1),
                title=self._cell_title.value or None,
                layers=(layer,),
            )
            # A cell beyond the grid grows it (up to the grid's bounds).
            rows = max(tab.rows, cell.row + cell.row_span)
            cols = max(tab.cols, cell.col + cell.col_span)
            new_tab = dataclasses.replace(tab, rows=rows, cols=cols, cells=(*tab.cells, cell))
        except GridError as err:
            self._say([str(err)])
            return
        self._set_tab(tab_index, new_tab)
        self._rebuild_tab(tab_index)
        self._add_area.visible = False
        self._say([])

    def _add_tab(self) -> None:
        title = f"Tab {len(self.grid.tabs) + 1}"
        try:
            grid = dataclasses.replace(
                self.grid, tabs=(*self.grid.tabs, Tab(title=title, rows=2, cols=2))
            )
        except GridError as err:
            self._say([str(err)])
            return
        self.grid = grid
        self._views.append([])
        index = len(grid.tabs) - 1
        self._built.add(index)
        self.tabs.append((title, self._layout(index, grid.tabs[index])))
        self.tabs.active = index

    # -- saving and loading -------------------------------------------------------

    def _refresh_choices(self) -> None:
        options = [f"template: {name}" for name in self.ctx.template_names()]
        try:
            saved = self.ctx.grids.names(self.ctx.instrument.name)
        except (GridError, OSError):
            saved = []
        options += [f"saved: {name}" for name in saved]
        self._choice.options = options
        if options and self._choice.value not in options:
            self._choice.value = options[0]

    def _load(self) -> None:
        choice = self._choice.value
        if not choice:
            return
        kind, _, name = str(choice).partition(": ")
        try:
            if kind == "template":
                grid = self.ctx.load_template(name)
            else:
                grid = self.ctx.grids.load(self.ctx.instrument.name, name)
        except (GridError, OSError) as err:
            self._say([str(err)])
            return
        self.load_grid(grid)

    def load_grid(self, grid: Grid) -> None:
        """Show ``grid`` (its saved ROIs are sent to jobs that have none)."""
        self.grid = grid
        self._show_grid()
        self._say(check_grid(grid, self.ctx.specs))

    def _save(self) -> None:
        name = (self._name.value or "").strip()
        try:
            path = self.ctx.grids.save(self.ctx.instrument.name, name, self.grid)
        except (GridError, CommandRefusedError, OSError) as err:
            self._say([f"not saved: {err}"])
            return
        self._refresh_choices()
        self.message.object = f"<small>Saved as {escape(name)} ({escape(str(path))}).</small>"

    def _say(self, problems: list[str]) -> None:
        if not problems:
            self.message.object = ""
            return
        items = "".join(f"<li>{escape(p)}</li>" for p in problems)
        self.message.object = f"<ul style='color:#cf222e;margin:2px'>{items}</ul>"

    def cells(self, tab_index: int | None = None) -> list[CellView]:
        """The cell views of a grid tab (the visible one by default; empty if not built)."""
        index = self.tabs.active or 0 if tab_index is None else tab_index
        return list(self._views[index]) if index < len(self._views) else []

    # -- refresh ------------------------------------------------------------------

    def refresh(self, now_ns: int) -> int:
        active = self.tabs.active or 0
        if active >= len(self._views):
            return 0
        jobs = self.ctx.jobs(now_ns)
        return sum(view.refresh(now_ns, jobs) for view in self._views[active])
