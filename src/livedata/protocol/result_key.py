"""The result key: JSON naming one job output, used as the da00 ``source_name``.

Consumers (dashboard, NICOS) use the ``source_name`` string to tell outputs apart, so
one key must always encode to the same text: fields in a fixed order, compact
separators, no optional whitespace. Because every name is allow-listed ASCII, the text
needs no escaping either.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, ValidationError

from livedata.core.identity import ResultKey
from livedata.protocol.errors import DecodeReason
from livedata.protocol.json_values import load_json_object
from livedata.protocol.wire_errors import (
    WireFormatError,
    describe_validation_error,
)
from livedata.protocol.wire_ids import JobIdModel, Name, WorkflowIdModel

MAX_RESULT_KEY_BYTES = 1024
"""Three ids of at most 100-character names plus a uuid encode to about 500 bytes."""


class ResultKeyModel(BaseModel):
    """``{"workflow_id": {...}, "job_id": {...}, "output_name": ...}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    workflow_id: WorkflowIdModel
    job_id: JobIdModel
    output_name: Name

    def to_domain(self) -> ResultKey:
        return ResultKey(
            workflow_id=self.workflow_id.to_domain(),
            job_id=self.job_id.to_domain(),
            output_name=self.output_name,
        )

    @classmethod
    def from_domain(cls, key: ResultKey) -> ResultKeyModel:
        return cls(
            workflow_id=WorkflowIdModel.from_domain(key.workflow_id),
            job_id=JobIdModel.from_domain(key.job_id),
            output_name=key.output_name,
        )


def encode_result_key(key: ResultKey) -> str:
    """The da00 ``source_name`` of ``key``: deterministic, compact JSON.

    Raises
    ------
    ValueError
        If a name in the key is not allow-listed.
    """
    # json.dumps over model_dump makes the order (field definition order, never
    # sorted or insertion-dependent) and the separators explicit in our code.
    return json.dumps(
        ResultKeyModel.from_domain(key).model_dump(mode="json"),
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )


def decode_result_key(source_name: str | bytes) -> ResultKey:
    """Read a result key from a da00 ``source_name``.

    Raises
    ------
    WireFormatError
        The only exception raised (a ``DecodeError``); ``reason`` is ``too_large``,
        ``empty``, ``malformed`` (not UTF-8 JSON object) or ``invalid_value``.
    """
    raw = load_json_object(source_name, max_bytes=MAX_RESULT_KEY_BYTES, what="result key")
    try:
        return ResultKeyModel.model_validate(raw).to_domain()
    except ValidationError as error:
        raise WireFormatError(
            DecodeReason.INVALID_VALUE, describe_validation_error(error)
        ) from None
