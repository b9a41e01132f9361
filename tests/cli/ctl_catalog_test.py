import pydantic
import pytest
import scipp as sc

from livedata.cli.ctl.catalog import (
    check_aux,
    check_sources,
    describe_workflow,
    find_spec,
    param_rows,
    validate_params,
    workflows_by_service,
)
from livedata.cli.ctl.errors import UsageError
from livedata.core.identity import WorkflowId
from livedata.core.workflow import AuxSource, NoParams, OutputSpec, WorkflowRegistry, WorkflowSpec


class Range(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    start: int = pydantic.Field(ge=0, description="Start.")
    stop: int = pydantic.Field(le=100, description="Stop.")


class Params(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    bins: int = pydantic.Field(default=10, ge=1, le=1000, description="Number of bins.")
    scale: float = 1.0
    mode: str = pydantic.Field(default="a", pattern="^[ab]$")
    window: Range | None = pydantic.Field(default=None, description="Optional window.\nMore.")
    edges: list[float] = pydantic.Field(default_factory=list, max_length=5)


def _spec(name: str = "hist", version: int = 1, instrument: str = "inst") -> WorkflowSpec:
    return WorkflowSpec(
        workflow_id=WorkflowId(instrument=instrument, name=name, version=version),
        service="monitor_data",
        title=f"Title {name}",
        description="Does things.",
        source_names=("mon1", "mon2"),
        params=Params,
        outputs={
            "spectrum": OutputSpec(
                title="Spectrum",
                template=sc.DataArray(sc.zeros(dims=["toa"], shape=[0], unit="counts")),
            ),
            "log": OutputSpec(
                title="Log", template=sc.DataArray(sc.zeros(dims=["t"], shape=[0], unit=None))
            ),
        },
        aux_sources={"monitor": AuxSource(choices=("mon1", "mon2"), required=False)},
    )


def _noop_factory(**_: object) -> None:
    raise NotImplementedError


@pytest.fixture
def registry() -> WorkflowRegistry:
    registry = WorkflowRegistry()
    for spec in (_spec(), _spec(version=2), _spec("other")):
        registry.register(spec, _noop_factory)  # type: ignore[arg-type]
    return registry


def test_find_spec_by_full_id_or_by_name_newest_version(registry) -> None:
    assert str(find_spec(registry, "inst", "inst/hist/1").workflow_id) == "inst/hist/1"
    assert str(find_spec(registry, "inst", "hist").workflow_id) == "inst/hist/2"
    assert str(find_spec(registry, "inst", "other").workflow_id) == "inst/other/1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("loki/hist/1", "belongs to instrument 'loki', not 'inst'; add --instrument loki"),
        ("inst/hist/7", "unknown workflow inst/hist/7 .*known: inst/hist/1, inst/hist/2"),
        ("nope", "unknown workflow 'nope' for instrument inst"),
        ("inst/hist", "neither 'instrument/name/version' nor a name"),
        ("inst/hist/x", "neither"),
    ],
)
def test_find_spec_errors_say_what_exists(registry, text, message) -> None:
    with pytest.raises(UsageError, match=message):
        find_spec(registry, "inst", text)


def test_sources_checked_against_the_spec() -> None:
    spec = _spec()
    assert check_sources(spec, ["mon2", "mon1", "mon2"], all_sources=False) == ["mon2", "mon1"]
    assert check_sources(spec, [], all_sources=True) == ["mon1", "mon2"]
    with pytest.raises(UsageError, match=r"does not accept source\(s\) 'panel'; choose from"):
        check_sources(spec, ["mon1", "panel"], all_sources=False)
    with pytest.raises(UsageError, match="--source"):
        check_sources(spec, [], all_sources=False)


def test_aux_roles_and_choices_are_checked() -> None:
    spec = _spec()
    check_aux(spec, {"monitor": "mon2"})
    check_aux(spec, {})
    with pytest.raises(UsageError, match=r"unknown auxiliary source roles.*roles: monitor"):
        check_aux(spec, {"motor": "m1"})
    with pytest.raises(UsageError, match="not allowed for role 'monitor'"):
        check_aux(spec, {"monitor": "mon3"})


def test_valid_params_pass_and_nothing_is_changed() -> None:
    params = {"bins": 20, "window": {"start": 0, "stop": 5}}
    validate_params(_spec(), params)
    assert params == {"bins": 20, "window": {"start": 0, "stop": 5}}


def test_param_errors_list_every_problem_with_its_field() -> None:
    with pytest.raises(UsageError) as info:
        validate_params(_spec(), {"bins": 0, "bns": 3, "window": {"start": -1}, "mode": "c" * 200})
    text = str(info.value)
    assert text.startswith("invalid params for inst/hist/1:")
    assert "  bins: Input should be greater than or equal to 1 (got 0)" in text
    assert "  bns: Extra inputs are not permitted" in text
    assert "  window.start: Input should be greater than or equal to 0 (got -1)" in text
    assert "  window.stop: Field required" in text
    assert '(got "ccccc' in text
    assert "...)" in text  # a long input is cut
    assert text.endswith("see: livedata ctl workflow inst/hist/1 --schema")


def test_non_finite_params_are_refused_even_when_the_model_allows_them() -> None:
    with pytest.raises(UsageError, match=r"params\.scale is not a finite number"):
        validate_params(_spec(), {"scale": "NaN"})
    with pytest.raises(UsageError, match=r"params\.edges\.1 is not a finite number"):
        validate_params(_spec(), {"edges": [1.0, "inf"]})


def test_describe_workflow_is_plain_json() -> None:
    info = describe_workflow(_spec())
    assert info == {
        "workflow_id": "inst/hist/1",
        "service": "monitor_data",
        "title": "Title hist",
        "description": "Does things.",
        "sources": ["mon1", "mon2"],
        "aux_sources": {
            "monitor": {
                "choices": ["mon1", "mon2"],
                "default": "mon1",
                "required": False,
                "description": "",
            }
        },
        "params": ["bins", "scale", "mode", "window", "edges"],
        "outputs": [
            {"name": "spectrum", "title": "Spectrum", "dims": ["toa"], "unit": "counts"},
            {"name": "log", "title": "Log", "dims": ["t"], "unit": None},
        ],
    }


def test_workflows_grouped_by_service(registry) -> None:
    grouped = workflows_by_service(registry)
    assert list(grouped) == ["monitor_data"]
    assert [w["workflow_id"] for w in grouped["monitor_data"]] == [
        "inst/hist/1",
        "inst/hist/2",
        "inst/other/1",
    ]


def test_param_rows_flatten_nested_models_into_dotted_keys() -> None:
    rows = {row.key: row for row in param_rows(Params.model_json_schema())}
    assert list(rows) == ["bins", "scale", "mode", "window", "window.start", "window.stop", "edges"]
    assert rows["bins"].type == "integer"
    assert rows["bins"].default == "10"
    assert rows["bins"].limits == ">= 1, <= 1000"
    assert rows["bins"].description == "Number of bins."
    assert rows["mode"].limits == "pattern ^[ab]$"
    assert rows["window"].type == "Range | null"
    assert rows["window"].default == "null"
    assert rows["window"].description == "Optional window."
    assert rows["window.start"].default == "(required)"
    assert rows["window.stop"].limits == "<= 100"
    assert rows["edges"].type == "list[number]"
    assert rows["edges"].limits == "max items 5"
    assert param_rows(NoParams.model_json_schema()) == []
