"""Params forms generated from pydantic models: fields, bounds, nesting, inline errors."""

from __future__ import annotations

import enum
from typing import Literal

import pydantic
import pytest

from livedata.dashboard.contract import InvalidParams
from livedata.dashboard.ui.form_model import FieldSpec, describe, errors_by_path, iter_fields
from livedata.dashboard.ui.forms import ParamsForm, css_name
from livedata.workflows.detector_view import DetectorViewParams
from livedata.workflows.monitor_histogram import MAX_BINS, MonitorHistogramParams


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Inner(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    low: float = pydantic.Field(default=0.0, ge=0.0, description="Lower end.")
    high: float = pydantic.Field(default=1.0, lt=10.0)

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> Inner:
        if self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class Everything(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    count: int = pydantic.Field(default=3, ge=1, le=100, title="How many")
    scale: float = 2.5
    flag: bool = True
    colour: Colour = Colour.BLUE
    mode: Literal["fast", "exact"] = "exact"
    label: str = "x"
    limit: int | None = None
    inner: Inner = pydantic.Field(default_factory=Inner)
    window: Inner | None = None


def by_path(model: type[pydantic.BaseModel]) -> dict[tuple[str, ...], FieldSpec]:
    return {spec.path: spec for spec in iter_fields(describe(model))}


def test_fields_carry_kind_bounds_choices_and_defaults() -> None:
    fields = by_path(Everything)
    count = fields[("count",)]
    assert count.kind == "int"
    assert count.label == "How many"
    assert (count.ge, count.le, count.default) == (1, 100, 3)
    assert count.bounds_text == "1 … 100"
    assert fields[("scale",)].kind == "float"
    assert fields[("flag",)].kind == "bool"
    colour = fields[("colour",)]
    assert colour.kind == "choice"
    assert colour.choices == (("RED", "red"), ("BLUE", "blue"))
    assert colour.default == "blue"
    assert fields[("mode",)].choices == (("fast", "fast"), ("exact", "exact"))
    assert fields[("limit",)].optional
    assert fields[("inner",)].kind == "model"
    assert fields[("inner",)].default == {"low": 0.0, "high": 1.0}
    assert fields[("inner", "high")].bounds_text == "< 10"
    window = fields[("window",)]
    assert window.kind == "model"
    assert window.optional


def test_a_workflow_params_model_is_described_with_its_nested_ranges() -> None:
    fields = by_path(DetectorViewParams)
    assert fields[("toa_range",)].optional
    assert fields[("roi_spectrum", "toa_range", "stop_ns")].kind == "int"
    assert by_path(MonitorHistogramParams)[("bins",)].le == MAX_BINS


def test_a_form_returns_the_defaults_as_valid_params() -> None:
    form = ParamsForm(Everything)
    params = form.validate()
    assert params == Everything().model_dump(mode="json")
    assert form.error_texts == {}


def test_an_optional_group_is_none_until_switched_on() -> None:
    form = ParamsForm(Everything)
    assert form.values()["window"] is None
    form.widget(("window",)).value = True
    assert form.values()["window"] == {"low": 0.0, "high": 1.0}


def test_each_error_is_shown_next_to_its_field() -> None:
    form = ParamsForm(MonitorHistogramParams)
    form.widget(("bins",)).value = 0
    form.widget(("toa_range", "start_ns")).value = 50_000_000
    form.widget(("toa_range", "stop_ns")).value = 1_000
    assert form.validate() is None
    errors = form.error_texts
    assert "greater than or equal to 1" in errors[("bins",)]
    assert "must be below stop_ns" in errors[("toa_range",)]
    form.widget(("bins",)).value = 10
    form.widget(("toa_range", "stop_ns")).value = 60_000_000
    assert form.validate() is not None
    assert form.error_texts == {}


def test_the_backends_invalid_params_are_filed_by_dotted_path() -> None:
    form = ParamsForm(Everything)
    error = InvalidParams(
        "bad", {"inner.high": "too high", "<root>": "no good", "unknown.field": "what"}
    )
    form.show_error(error)
    errors = form.error_texts
    assert errors[("inner", "high")] == "too high"
    assert errors[()] == "no good<br>what"


def test_a_plain_value_error_lands_at_the_top_of_the_form() -> None:
    assert errors_by_path(ValueError("no such source"), describe(Everything)) == {
        (): ["no such source"]
    }


def test_a_validation_error_raised_from_another_error_is_still_read() -> None:
    def refuse() -> None:
        try:
            Inner.model_validate({"low": 5.0, "high": 1.0})
        except pydantic.ValidationError as err:
            raise ValueError("refused") from err

    with pytest.raises(ValueError, match="refused") as info:
        refuse()
    assert errors_by_path(info.value, describe(Inner)) == {(): ["low must be below high"]}


def test_set_values_fills_the_widgets() -> None:
    form = ParamsForm(Everything)
    form.set_values({"count": 7, "colour": "red", "window": {"low": 1.0, "high": 2.0}})
    values = form.values()
    assert values["count"] == 7
    assert values["colour"] == "red"
    assert values["window"] == {"low": 1.0, "high": 2.0}


@pytest.mark.parametrize("path", [("count",), ("inner", "low")])
def test_widgets_are_findable_by_a_css_class(path: tuple[str, ...]) -> None:
    form = ParamsForm(Everything)
    assert css_name(path) in form.widget(path).css_classes


def test_a_model_without_fields_says_so() -> None:
    class Nothing(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")

    form = ParamsForm(Nothing)
    assert form.validate() == {}
