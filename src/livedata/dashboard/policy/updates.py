"""Which layers of a cell to draw again: only those whose data or options changed.

A session polls on its own periodic callback. It first compares the results store's
global ``version`` with the one it saw last (one integer: nothing changed, nothing to
do); then, per visible cell, it looks up each layer's newest entry version (a dict
lookup) and asks ``plan_cell`` which layers to re-render. Rendering is the expensive
step, so a cell whose data did not change costs a few comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from livedata.dashboard.contract import ResultEntry, ResultsView
from livedata.dashboard.policy.grid import DisplayOptions, Layer
from livedata.dashboard.policy.windows import WindowRead


@dataclass(frozen=True, slots=True)
class Rendered:
    """What a layer last drew: the entry version (None: it drew "waiting for data") and
    the options it drew with."""

    version: int | None
    options: DisplayOptions


@dataclass(frozen=True, slots=True)
class CellPlan:
    render: tuple[int, ...]
    """Indices of the layers to draw again, in layer order."""

    @property
    def changed(self) -> bool:
        return bool(self.render)


def store_changed(version: int, seen: int | None) -> bool:
    """The cheap first test of every poll: did anything at all arrive since ``seen``?"""
    return seen is None or version != seen


def layer_entry(
    results: ResultsView, layer: Layer, window: WindowRead | None = None
) -> ResultEntry | None:
    """What a layer draws: its output's newest entry, or with ``window`` the sum of the
    per-window frames of the last N seconds (``policy.windows.layer_window``)."""
    if window is not None:
        return results.windowed(
            layer.workflow_id, layer.source_name, window.output_name, window.last_s
        )
    return results.latest(layer.workflow_id, layer.source_name, layer.output_name)


def current_versions(
    results: ResultsView,
    layers: Sequence[Layer],
    windows: Sequence[WindowRead | None] | None = None,
) -> list[int | None]:
    """The newest entry version of what each layer draws (None: nothing yet)."""
    reads = windows if windows is not None else [None] * len(layers)
    versions: list[int | None] = []
    for layer, window in zip(layers, reads, strict=True):
        entry = layer_entry(results, layer, window)
        versions.append(None if entry is None else entry.version)
    return versions


def plan_cell(
    layers: Sequence[Layer],
    rendered: Sequence[Rendered | None],
    current: Sequence[int | None],
) -> CellPlan:
    """Layers to re-render: never drawn, new data (or data gone), or options changed.

    ``rendered[i]`` is what layer ``i`` last drew (None: never drawn); ``current[i]`` its
    output's newest entry version now. Sequences of different lengths mean the cell's
    layers changed: every layer is drawn again.
    """
    if not (len(layers) == len(rendered) == len(current)):
        return CellPlan(tuple(range(len(layers))))
    render = tuple(
        i
        for i, (layer, drawn, version) in enumerate(zip(layers, rendered, current, strict=True))
        if drawn is None or drawn.version != version or drawn.options != layer.options
    )
    return CellPlan(render)
