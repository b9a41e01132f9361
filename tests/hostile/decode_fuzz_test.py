"""Fuzzing every decoder: whatever the bytes, the outcome is a value or a DecodeError.

Any other exception would escape ingress and stop a service, which is the one thing
bad input must never do.
"""

from __future__ import annotations

import contextlib

import pytest
from hostile_payloads import DECODERS, SCHEMA_IDS, VALID
from hypothesis import given, settings
from hypothesis import strategies as st

from livedata.protocol.errors import DecodeError

FUZZ = settings(max_examples=150, deadline=None, database=None)


def decode_or_refuse(name: str, payload: bytes) -> None:
    with contextlib.suppress(DecodeError):
        DECODERS[name](payload)


@pytest.mark.parametrize("name", DECODERS)
@FUZZ
@given(payload=st.binary(max_size=512))
def test_random_bytes(name: str, payload: bytes) -> None:
    decode_or_refuse(name, payload)


@pytest.mark.parametrize("name", DECODERS)
@FUZZ
@given(root=st.binary(min_size=4, max_size=4), body=st.binary(max_size=512))
def test_random_bytes_behind_the_right_schema_id(name: str, root: bytes, body: bytes) -> None:
    # Past the cheap schema check, so the table reader itself gets the garbage.
    decode_or_refuse(name, root + SCHEMA_IDS[name] + body)


@pytest.mark.parametrize("name", DECODERS)
@FUZZ
@given(data=st.data())
def test_mutated_valid_message(name: str, data: st.DataObject) -> None:
    payload = bytearray(VALID[name])
    edits = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(payload) - 1), st.integers(0, 255)),
            min_size=1,
            max_size=8,
        )
    )
    for position, value in edits:
        payload[position] = value
    end = data.draw(st.integers(8, len(payload)))
    decode_or_refuse(name, bytes(payload[:end]))
