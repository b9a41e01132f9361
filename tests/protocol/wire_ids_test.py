import uuid

import pytest
from pydantic import ValidationError

from livedata.core.identity import JobId, WorkflowId
from livedata.protocol.wire_ids import (
    JobIdModel,
    WorkflowIdModel,
    is_uuid_string,
    parse_workflow_id_string,
)

JOB_NUMBER = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"

UNSAFE_NAMES = [
    "",
    "../etc",
    "..",
    ".hidden",
    "-flag",
    "a/b",
    "a\\b",
    "kafka://x",
    "http://evil.example",
    "a b",
    " a",
    "a\n",
    "a\t",
    "$(rm -rf)",
    "a;b",
    "x'y",
    'x"y',
    "café",
    "a" * 101,
]


def test_workflow_id_round_trips_through_domain() -> None:
    domain = WorkflowId(instrument="dummy", name="detector_view", version=2)
    model = WorkflowIdModel.from_domain(domain)
    assert model.to_domain() == domain


def test_job_id_round_trips_through_domain() -> None:
    domain = JobId(source_name="panel_0", job_number=uuid.UUID(JOB_NUMBER))
    model = JobIdModel.from_domain(domain)
    assert model.to_domain() == domain


def test_wire_shapes_decode_from_literal_json() -> None:
    workflow = WorkflowIdModel.model_validate_json(
        '{"instrument": "dummy", "name": "detector_view", "version": 1}'
    )
    job = JobIdModel.model_validate_json(
        f'{{"source_name": "panel_0", "job_number": "{JOB_NUMBER}"}}'
    )
    assert workflow.to_domain() == WorkflowId(instrument="dummy", name="detector_view", version=1)
    assert job.to_domain() == JobId(source_name="panel_0", job_number=uuid.UUID(JOB_NUMBER))
    assert job.model_dump(mode="json") == {
        "source_name": "panel_0",
        "job_number": JOB_NUMBER,
    }


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_names_are_refused_everywhere(name: str) -> None:
    with pytest.raises(ValidationError, match=r"should match pattern|at most"):
        WorkflowIdModel(instrument=name, name="view", version=1)
    with pytest.raises(ValidationError, match=r"should match pattern|at most"):
        WorkflowIdModel(instrument="dummy", name=name, version=1)
    with pytest.raises(ValidationError, match=r"should match pattern|at most"):
        JobIdModel(source_name=name, job_number=uuid.UUID(JOB_NUMBER))


@pytest.mark.parametrize("name", ["panel_0", "YMIR-SEE:TEMP", "mon.1", "a+b", "A" * 100])
def test_source_names_allow_epics_style_colons(name: str) -> None:
    assert JobIdModel(source_name=name, job_number=uuid.UUID(JOB_NUMBER))


def test_workflow_names_refuse_colons_used_as_service_id_separators() -> None:
    with pytest.raises(ValidationError):
        WorkflowIdModel(instrument="a:b", name="view", version=1)


@pytest.mark.parametrize("version", [-1, 1_000_000, True, "1", 1.0, 1.5, None])
def test_version_must_be_a_bounded_int(version: object) -> None:
    with pytest.raises(ValidationError):
        WorkflowIdModel(instrument="dummy", name="view", version=version)


@pytest.mark.parametrize(
    "number",
    [
        "not-a-uuid",
        "",
        "{" + JOB_NUMBER + "}",
        "urn:uuid:" + JOB_NUMBER,
        JOB_NUMBER.replace("-", ""),
        JOB_NUMBER + "\n",
        42,
        None,
    ],
)
def test_job_number_must_be_a_canonical_uuid(number: object) -> None:
    with pytest.raises(ValidationError):
        JobIdModel(source_name="panel_0", job_number=number)


def test_job_number_accepts_upper_case_and_normalises() -> None:
    job = JobIdModel(source_name="panel_0", job_number=JOB_NUMBER.upper())
    assert str(job.job_number) == JOB_NUMBER


def test_extra_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        WorkflowIdModel.model_validate(
            {"instrument": "dummy", "name": "view", "version": 1, "path": "/etc"}
        )
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        JobIdModel.model_validate({"source_name": "panel_0", "job_number": JOB_NUMBER, "x": 1})


def test_models_are_frozen() -> None:
    model = WorkflowIdModel(instrument="dummy", name="view", version=1)
    with pytest.raises(ValidationError):
        model.version = 2


def test_workflow_id_string_parses() -> None:
    assert parse_workflow_id_string("dummy/detector_view/12").to_domain() == WorkflowId(
        instrument="dummy", name="detector_view", version=12
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "dummy/view",
        "dummy/view/1/2",
        "dummy//1",
        "../etc/passwd/1",
        "kafka://x/1",
        "dummy/view/01",
        "dummy/view/-1",
        "dummy/view/+1",
        "dummy/view/1.0",
        "dummy/view/9999999",
        "dummy/view/1\n",
        "dummy/view/x",
    ],
)
def test_workflow_id_string_refuses_other_shapes(text: str) -> None:
    with pytest.raises(ValueError, match="instrument/name/version"):
        parse_workflow_id_string(text)


def test_is_uuid_string() -> None:
    assert is_uuid_string(JOB_NUMBER)
    assert not is_uuid_string("x")
    assert not is_uuid_string(None)
    assert not is_uuid_string(uuid.UUID(JOB_NUMBER))
