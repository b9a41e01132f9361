"""A params form generated from a workflow's pydantic params model.

Numbers get an input labelled with their allowed range, enums and literals a select,
booleans a checkbox, nested models a titled group, optional models a checkbox that
switches their group on. Values are not clamped by the widgets: what the operator
typed is validated by the model, and each error is shown next to its field.
"""

from __future__ import annotations

import json
from typing import Any

import panel as pn
import pydantic

from livedata.dashboard.ui.form_model import (
    FieldSpec,
    Path,
    describe,
    errors_by_path,
    parse_json_field,
)
from livedata.dashboard.ui.format import escape

ERROR_CLASS = "ld-field-error"
"""CSS class of every inline error (tests and styles find errors by it)."""


def css_name(path: Path) -> str:
    """The CSS class of a field's widget: ``ld-param-toa_range-start_ns``."""
    return "ld-param-" + "-".join(path)


class ParamsForm:
    """Widgets for one params model; :meth:`validate` returns the params or shows errors."""

    def __init__(self, model: type[pydantic.BaseModel]) -> None:
        self.model = model
        self.fields = describe(model)
        self._widgets: dict[Path, Any] = {}
        self._switches: dict[Path, pn.widgets.Checkbox] = {}
        self._errors: dict[Path, pn.pane.HTML] = {(): _error_pane()}
        self._groups: dict[Path, pn.Column] = {}
        children = [self._build(spec) for spec in self.fields]
        if not children:
            children = [pn.pane.HTML("<i>This workflow takes no parameters.</i>")]
        self.layout = pn.Column(*children, self._errors[()], sizing_mode="stretch_width")

    # -- values and errors ------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The params as the operator set them (JSON-able; not validated)."""
        return self._collect(self.fields)

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill the widgets from a params mapping (e.g. a previous job's)."""
        self._fill(self.fields, values)

    def validate(self) -> dict[str, Any] | None:
        """Validated params as JSON-able mapping, or ``None`` after showing the errors."""
        self.clear_errors()
        try:
            model = self.model.model_validate(self.values())
        except pydantic.ValidationError as err:
            self.show_error(err)
            return None
        dumped: dict[str, Any] = model.model_dump(mode="json")
        return dumped

    def show_error(self, error: BaseException) -> None:
        """Show a (validation) error next to the fields it concerns."""
        self.clear_errors()
        for path, messages in errors_by_path(error, self.fields).items():
            pane = self._errors.get(path, self._errors[()])
            pane.object = "<br>".join(escape(m) for m in messages)
            pane.visible = True

    def clear_errors(self) -> None:
        for pane in self._errors.values():
            if pane.visible:
                pane.object = ""
                pane.visible = False

    @property
    def error_texts(self) -> dict[Path, str]:
        """Visible error texts by field (for tests and logs)."""
        return {path: str(p.object) for path, p in self._errors.items() if p.visible}

    def widget(self, path: Path) -> Any:
        """The widget of a leaf field, or the switch of an optional group."""
        return self._widgets.get(path) or self._switches[path]

    # -- building ---------------------------------------------------------------------

    def _build(self, spec: FieldSpec) -> Any:
        self._errors[spec.path] = _error_pane()
        if spec.kind == "model":
            return self._build_group(spec)
        widget = _leaf_widget(spec)
        self._widgets[spec.path] = widget
        return pn.Column(widget, self._errors[spec.path], margin=0)

    def _build_group(self, spec: FieldSpec) -> Any:
        body = pn.Column(
            *[self._build(child) for child in spec.children],
            self._errors[spec.path],
            margin=(0, 0, 0, 12),
        )
        self._groups[spec.path] = body
        header: Any = pn.pane.HTML(
            f"<b>{escape(spec.label)}</b>"
            + (f" <small>{escape(spec.description)}</small>" if spec.description else ""),
            margin=(4, 5, 0, 5),
        )
        if spec.optional:
            switch = pn.widgets.Checkbox(
                label=f"{spec.label} (set)",
                value=spec.default is not None,
                css_classes=[css_name(spec.path)],
            )
            self._switches[spec.path] = switch
            body.visible = switch.value
            switch.param.watch(lambda event, b=body: setattr(b, "visible", event.new), "value")
            if spec.default is not None and isinstance(spec.default, dict):
                self._fill(spec.children, spec.default)
            return pn.Column(header, switch, body, styles=_GROUP_STYLE, margin=(4, 5))
        if isinstance(spec.default, dict):
            self._fill(spec.children, spec.default)
        return pn.Column(header, body, styles=_GROUP_STYLE, margin=(4, 5))

    def _collect(self, fields: tuple[FieldSpec, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in fields:
            if spec.kind == "model":
                switch = self._switches.get(spec.path)
                off = switch is not None and not switch.value
                out[spec.name] = None if off else self._collect(spec.children)
                continue
            value = self._widgets[spec.path].value
            if spec.kind == "json":
                value = parse_json_field(value)
            elif spec.kind == "str" and value == "" and spec.optional:
                value = None
            out[spec.name] = value
        return out

    def _fill(self, fields: tuple[FieldSpec, ...], values: dict[str, Any]) -> None:
        for spec in fields:
            if spec.name not in values:
                continue
            value = values[spec.name]
            if spec.kind == "model":
                switch = self._switches.get(spec.path)
                if switch is not None:
                    switch.value = value is not None
                if isinstance(value, dict):
                    self._fill(spec.children, value)
                continue
            widget = self._widgets.get(spec.path)
            if widget is None:
                continue
            if spec.kind == "json":
                widget.value = "" if value is None else json.dumps(value)
            elif spec.kind == "choice":
                if value in widget.options.values():
                    widget.value = value
            else:
                widget.value = value


_GROUP_STYLE = {"border-left": "3px solid #d0d7de", "padding-left": "4px"}


def _leaf_widget(spec: FieldSpec) -> Any:
    bounds = spec.bounds_text
    label = spec.label + (f" ({bounds})" if bounds else "")
    common: dict[str, Any] = {"label": label, "css_classes": [css_name(spec.path)]}
    if spec.description:
        common["description"] = spec.description
    if spec.kind == "int":
        return pn.widgets.IntInput(value=spec.default, **common)
    if spec.kind == "float":
        return pn.widgets.FloatInput(value=spec.default, **common)
    if spec.kind == "bool":
        common.pop("description", None)
        return pn.widgets.Checkbox(value=bool(spec.default), **common)
    if spec.kind == "choice":
        options = dict(spec.choices)
        if spec.optional:
            options = {"(unset)": None, **options}
        value = spec.default if spec.default in options.values() else next(iter(options.values()))
        return pn.widgets.Select(options=options, value=value, **common)
    if spec.kind == "str":
        return pn.widgets.TextInput(value=spec.default or "", **common)
    text = "" if spec.default is None else json.dumps(spec.default)
    return pn.widgets.TextInput(value=text, placeholder="JSON", **common)


def _error_pane() -> pn.pane.HTML:
    return pn.pane.HTML(
        "",
        visible=False,
        css_classes=[ERROR_CLASS],
        styles={"color": "#b42318", "font-size": "0.9em"},
        margin=(0, 5, 4, 5),
    )
