"""Choosing what a new layer shows: workflow, source, output, then a plotter that fits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import panel as pn

from livedata.core.identity import WorkflowId
from livedata.core.workflow import WorkflowSpec
from livedata.dashboard.policy.grid import Layer
from livedata.dashboard.policy.plotters import choose_plotters


class OutputPicker:
    """Four linked selects; :meth:`layer` is the choice as a grid layer."""

    def __init__(self, specs: Mapping[WorkflowId, WorkflowSpec]) -> None:
        self._specs = dict(specs)
        options = {f"{spec.title} ({wid.name})": wid for wid, spec in sorted(self._specs.items())}
        self.workflow = pn.widgets.Select(
            label="Workflow", options=options, css_classes=["ld-pick-workflow"], width=220
        )
        self.source = pn.widgets.Select(label="Source", css_classes=["ld-pick-source"], width=140)
        self.output = pn.widgets.Select(label="Output", css_classes=["ld-pick-output"], width=200)
        self.plotter = pn.widgets.Select(
            label="Plotter", css_classes=["ld-pick-plotter"], width=120
        )
        self.workflow.param.watch(lambda _: self._workflow_changed(), "value")
        self.output.param.watch(lambda _: self._output_changed(), "value")
        self._workflow_changed()
        self.panel = pn.Row(self.workflow, self.source, self.output, self.plotter)

    def _spec(self) -> WorkflowSpec | None:
        wid = self.workflow.value
        return self._specs.get(wid) if isinstance(wid, WorkflowId) else None

    def _workflow_changed(self) -> None:
        spec = self._spec()
        if spec is None:
            return
        # A Select keeps its value when its options change: set both.
        self.source.options = list(spec.source_names)
        self.source.value = spec.source_names[0]
        outputs = {f"{out.title} ({name})": name for name, out in spec.outputs.items()}
        self.output.options = outputs
        first = next(iter(outputs.values()), None)
        if self.output.value != first:
            self.output.value = first  # its watcher updates the plotters
        else:
            self._output_changed()

    def _output_changed(self) -> None:
        spec = self._spec()
        name = self.output.value
        if spec is None or name not in spec.outputs:
            self.plotter.options = []
            self.plotter.value = None
            return
        kinds = [kind.value for kind in choose_plotters(spec.outputs[name].template).kinds]
        self.plotter.options = kinds
        self.plotter.value = kinds[0] if kinds else None

    def layer(self) -> Layer | None:
        spec = self._spec()
        if spec is None or not self.source.value or not self.output.value:
            return None
        choice = choose_plotters(spec.outputs[self.output.value].template)
        kind = next((k for k in choice.kinds if k.value == self.plotter.value), choice.default)
        if kind is None:
            return None
        return Layer(
            workflow_id=spec.workflow_id,
            source_name=str(self.source.value),
            output_name=str(self.output.value),
            plotter=kind,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow.value,
            "source": self.source.value,
            "output": self.output.value,
            "plotter": self.plotter.value,
        }
