"""Wire forms of workflow and job identities, and the bounded field types they use.

Names that arrive in commands end up in log lines, in da00 source names, in dashboard
labels and as keys into the instrument's registry. They are therefore allow-listed
rather than deny-listed: letters, digits and ``_ . + -`` (plus ``:`` in source names),
starting with a letter or digit. With no ``/``, ``\\``, whitespace or quotes a name can
never spell a path (``../etc``), a URL (``kafka://x``), a broker address with a scheme
or a piece of code, and it can never break the ``inst/name/version`` and
``source_name/job_number`` strings built from it.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

from livedata.core.identity import JobId, WorkflowId
from livedata.protocol.json_values import INT64_MAX

MAX_NAME_LENGTH = 100
"""Longest instrument, workflow, output, role or source name; real ones are < 40 and a
bound keeps result keys (da00 source names) and log lines short."""

NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.+-]{{0,{MAX_NAME_LENGTH - 1}}}$"
"""Instrument, workflow, output, role and service names: no ``:`` so that the x5f2
``service_id = "inst:service_name:worker_id"`` splits unambiguously."""

SOURCE_NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.:+-]{{0,{MAX_NAME_LENGTH - 1}}}$"
"""Source and stream names: ``:`` is allowed because EPICS-style names use it
(``YMIR-SEE:TEMP``); it is still free of ``/`` and of any scheme separator ``//``."""

MAX_WORKFLOW_VERSION = 999_999
"""Versions are small counters; the bound rules out bigints and keeps ids short."""

_VERSION_DIGITS = len(str(MAX_WORKFLOW_VERSION))

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""The canonical hyphenated text form only; braces, ``urn:`` or bare hex are refused so
each id has one spelling on the wire."""

_UUID_RE = re.compile(UUID_PATTERN)
_WORKFLOW_ID_RE = re.compile(
    NAME_PATTERN[:-1] + "/" + NAME_PATTERN[1:-1] + rf"/(0|[1-9][0-9]{{0,{_VERSION_DIGITS - 1}}})$"
)

Name = Annotated[str, Strict(), StringConstraints(pattern=NAME_PATTERN, max_length=MAX_NAME_LENGTH)]
SourceName = Annotated[
    str,
    Strict(),
    StringConstraints(pattern=SOURCE_NAME_PATTERN, max_length=MAX_NAME_LENGTH),
]
Version = Annotated[int, Strict(), Field(ge=0, le=MAX_WORKFLOW_VERSION)]
TimeNs = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]
"""Time in ns since epoch: not before 1970 and within int64 (numpy datetime64[ns])."""

UuidString = Annotated[str, Strict(), StringConstraints(pattern=UUID_PATTERN)]
"""A uuid kept as the sender spelled it (message ids are echoed back verbatim)."""


def _canonical_uuid(value: Any) -> Any:
    # Accept uuid.UUID (domain side) or its canonical text (wire side); anything else
    # is left for pydantic's UUID validator to reject with its usual message.
    if isinstance(value, str) and not _UUID_RE.fullmatch(value):
        raise ValueError("must be a uuid in canonical 8-4-4-4-12 hex form")
    return value


UuidValue = Annotated[uuid.UUID, BeforeValidator(_canonical_uuid)]


def is_uuid_string(value: object) -> bool:
    """Whether ``value`` is a uuid in canonical text form (used to recover message ids)."""
    return isinstance(value, str) and _UUID_RE.fullmatch(value) is not None


_WIRE_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class WorkflowIdModel(BaseModel):
    """``{instrument, name, version}``: a workflow id as JSON."""

    model_config = _WIRE_MODEL_CONFIG

    instrument: Name
    name: Name
    version: Version

    def to_domain(self) -> WorkflowId:
        return WorkflowId(instrument=self.instrument, name=self.name, version=self.version)

    @classmethod
    def from_domain(cls, workflow_id: WorkflowId) -> WorkflowIdModel:
        """Validate a domain id for the wire; raises ``ValueError`` on unsafe names."""
        return cls(
            instrument=workflow_id.instrument,
            name=workflow_id.name,
            version=workflow_id.version,
        )


class JobIdModel(BaseModel):
    """``{source_name, job_number}``: a job id as JSON, the number as a uuid string."""

    model_config = _WIRE_MODEL_CONFIG

    source_name: SourceName
    job_number: UuidValue

    def to_domain(self) -> JobId:
        return JobId(source_name=self.source_name, job_number=self.job_number)

    @classmethod
    def from_domain(cls, job_id: JobId) -> JobIdModel:
        """Validate a domain id for the wire; raises ``ValueError`` on unsafe names."""
        return cls(source_name=job_id.source_name, job_number=job_id.job_number)


def parse_workflow_id_string(text: str) -> WorkflowIdModel:
    """Read ``"inst/name/version"``; raises ``ValueError`` on any other shape.

    The whole string is matched against the allow-list before it is split, so the
    version is at most a few digits when it is turned into an int.
    """
    if not _WORKFLOW_ID_RE.fullmatch(text):
        raise ValueError(
            "workflow_id must be 'instrument/name/version' with allow-listed names "
            f"and a version of at most {_VERSION_DIGITS} digits"
        )
    instrument, name, version = text.split("/")
    return WorkflowIdModel(instrument=instrument, name=name, version=int(version))


def _check_workflow_id_string(text: str) -> str:
    parse_workflow_id_string(text)
    return text


WorkflowIdString = Annotated[str, Strict(), AfterValidator(_check_workflow_id_string)]
"""``"inst/name/version"`` as used by job commands and job heartbeats."""
