import pydantic
import pytest
import scipp as sc

from livedata.core.identity import WorkflowId
from livedata.core.workflow import AuxSource, NoParams, OutputSpec, WorkflowRegistry, WorkflowSpec
from livedata.testing.workflows import event_count_factory, event_count_spec

WID = WorkflowId(instrument="dummy", name="view", version=1)


def spec(**overrides) -> WorkflowSpec:
    fields = {
        "workflow_id": WID,
        "service": "detector_data",
        "title": "View",
        "description": "A view.",
        "source_names": ("panel_0",),
    }
    return WorkflowSpec(**{**fields, **overrides})


def test_spec_defaults() -> None:
    s = spec()
    assert s.params is NoParams
    assert s.outputs == {}
    assert s.aux_sources == {}


def test_spec_needs_sources() -> None:
    with pytest.raises(ValueError, match="accepts no source"):
        spec(source_names=())


def test_spec_params_must_forbid_extra_fields() -> None:
    class Loose(pydantic.BaseModel):
        n: int = 1

    with pytest.raises(ValueError, match="forbid extra"):
        spec(params=Loose)


def test_output_templates_describe_outputs_before_data() -> None:
    template = sc.DataArray(
        sc.zeros(dims=["y", "x"], shape=[0, 0], unit="counts"),
        coords={"x": sc.zeros(dims=["x"], shape=[0], unit="mm")},
    )
    s = spec(outputs={"image": OutputSpec(title="Image", template=template)})
    assert s.outputs["image"].template.dims == ("y", "x")


def test_aux_sources_resolve_to_defaults_or_allowed_choices() -> None:
    s = spec(aux_sources={"position": AuxSource(choices=("motion1", "motion2"))})
    assert s.resolve_aux_sources({}) == {"position": "motion1"}
    assert s.resolve_aux_sources({"position": "motion2"}) == {"position": "motion2"}
    with pytest.raises(ValueError, match="not allowed"):
        s.resolve_aux_sources({"position": "/etc/passwd"})
    with pytest.raises(ValueError, match="unknown auxiliary"):
        s.resolve_aux_sources({"colour": "red"})


def test_aux_source_needs_a_choice() -> None:
    with pytest.raises(ValueError, match="at least one"):
        AuxSource(choices=())


def test_registry() -> None:
    registry = WorkflowRegistry()
    a = event_count_spec(service="detector_data")
    registry.register(a, event_count_factory)
    assert a.workflow_id in registry
    assert len(registry) == 1
    assert list(registry) == [a.workflow_id]
    assert registry[a.workflow_id].spec is a
    assert registry.specs() == [a]
    assert len(registry.for_service("detector_data")) == 1
    assert len(registry.for_service("monitor_data")) == 0
    with pytest.raises(ValueError, match="twice"):
        registry.register(a, event_count_factory)


def test_workflow_id_text_form() -> None:
    assert str(WID) == "dummy/view/1"
    assert WorkflowId.parse("dummy/view/1") == WID
    for bad in ("dummy/view", "a/b/c/d", "//1", "a/b/x"):
        with pytest.raises(ValueError):  # noqa: PT011 - int() and our own message differ
            WorkflowId.parse(bad)
