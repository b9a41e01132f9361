"""Hostile payloads: each must raise a DecodeError with the expected reason, nothing else.

The service drops and counts by ``reason``; these cases pin which reason each kind of
bad input is counted under.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import scipp as sc
from hostile_payloads import (
    DA00_C_STRING,
    DECODERS,
    GARBAGE,
    JOB,
    TOF,
    VALID,
    VALID_DA00,
    VALID_EV44,
    VALID_F144,
    VALID_PL72,
    Decoder,
    RawVariable,
    ad00,
    cut,
    da00,
    decode_6s4t_now,
    decode_pl72_now,
    ev44,
    f144_with_string_member,
    roi_payload,
    with_vector_length,
)
from streaming_data_types import serialise_ad00, serialise_f144, serialise_pl72

from livedata.core.values import LogSample
from livedata.protocol.ad00 import decode_ad00
from livedata.protocol.da00 import decode_da00, encode_da00
from livedata.protocol.errors import DecodeError, DecodeReason
from livedata.protocol.ev44 import MAX_EVENTS, decode_ev44
from livedata.protocol.f144 import decode_f144, encode_f144
from livedata.protocol.roi import decode_roi

R = DecodeReason

CASES = [
    # --- framing, for every decoder -------------------------------------------------
    *(pytest.param(d, b"", R.EMPTY, id=f"{name}-empty") for name, d in DECODERS.items()),
    *(
        pytest.param(d, b"\x08\x00\x00", R.TRUNCATED, id=f"{name}-3-bytes")
        for name, d in DECODERS.items()
    ),
    *(
        pytest.param(d, GARBAGE, R.WRONG_SCHEMA, id=f"{name}-garbage")
        for name, d in DECODERS.items()
    ),
    pytest.param(decode_ev44, VALID_F144, R.WRONG_SCHEMA, id="f144-on-ev44-topic"),
    pytest.param(decode_f144, VALID_EV44, R.WRONG_SCHEMA, id="ev44-on-f144-topic"),
    pytest.param(decode_ad00, VALID_DA00, R.WRONG_SCHEMA, id="da00-on-ad00-topic"),
    pytest.param(decode_da00, VALID_EV44, R.WRONG_SCHEMA, id="ev44-on-da00-topic"),
    pytest.param(decode_6s4t_now, VALID_PL72, R.WRONG_SCHEMA, id="pl72-to-6s4t-decoder"),
    pytest.param(decode_roi, VALID_EV44, R.WRONG_SCHEMA, id="ev44-on-roi-topic"),
    # Right identifier, then nonsense: root offset 0 makes the vtable have size 0.
    pytest.param(
        decode_ev44, b"\x00\x00\x00\x00ev44" + bytes(16), R.MALFORMED, id="ev44-zero-vtable"
    ),
    # Root table whose soffset sends the vtable before the start of the buffer.
    pytest.param(
        decode_ev44,
        b"\x08\x00\x00\x00ev44\x00\x01\x00\x00" + bytes(8),
        R.MALFORMED,
        id="ev44-vtable-before-buffer",
    ),
    pytest.param(
        decode_ev44, GARBAGE[:4] + b"ev44" + GARBAGE[8:], R.TRUNCATED, id="ev44-garbage-body"
    ),
    # --- truncation at several cut points -------------------------------------------
    *(
        pytest.param(d, cut(VALID[name], at), R.TRUNCATED, id=f"{name}-cut-at-{label}")
        for name, d in DECODERS.items()
        for label, at in (
            ("8", 8),
            ("third", len(VALID[name]) // 3),
            ("half", len(VALID[name]) // 2),
        )
    ),
    pytest.param(
        decode_ev44, cut(VALID_EV44, len(VALID_EV44) - 2), R.TRUNCATED, id="ev44-cut-2-from-end"
    ),
    pytest.param(
        decode_da00, cut(VALID_DA00, len(VALID_DA00) - 2), R.TRUNCATED, id="da00-cut-2-from-end"
    ),
    # --- ev44 -----------------------------------------------------------------------
    pytest.param(decode_ev44, ev44(time_of_flight=None), R.MISSING_FIELD, id="ev44-no-tof"),
    pytest.param(decode_ev44, ev44(source_name=None), R.MISSING_FIELD, id="ev44-no-source"),
    pytest.param(decode_ev44, ev44(pixel_id=[1, 2]), R.LENGTH_MISMATCH, id="ev44-pixel-vs-tof"),
    pytest.param(
        decode_ev44, ev44(pixel_id=[]), R.LENGTH_MISMATCH, id="ev44-empty-pixels-with-events"
    ),
    pytest.param(
        decode_ev44,
        ev44(reference_time=[1, 2], reference_time_index=[0]),
        R.LENGTH_MISMATCH,
        id="ev44-ref-time-vs-index",
    ),
    pytest.param(
        decode_ev44,
        ev44(reference_time=[1], reference_time_index=None),
        R.LENGTH_MISMATCH,
        id="ev44-ref-time-without-index",
    ),
    pytest.param(
        decode_ev44,
        ev44(reference_time=[1, 2], reference_time_index=[0, 4]),
        R.OUT_OF_RANGE,
        id="ev44-index-beyond-events",
    ),
    pytest.param(
        decode_ev44,
        ev44(reference_time=[1, 2], reference_time_index=[-1, 1]),
        R.OUT_OF_RANGE,
        id="ev44-negative-index",
    ),
    pytest.param(
        decode_ev44,
        ev44(reference_time=[1, 2, 3], reference_time_index=[0, 2, 1]),
        R.UNORDERED,
        id="ev44-index-decreases",
    ),
    pytest.param(
        partial(decode_ev44, max_events=3),
        ev44(time_of_flight=[1, 2, 3, 4], pixel_id=[1, 2, 3, 4]),
        R.TOO_LARGE,
        id="ev44-over-lowered-limit",
    ),
    pytest.param(
        decode_ev44,
        with_vector_length(VALID_EV44, TOF, 2**31),
        R.TOO_LARGE,
        id="ev44-forged-2G-event-header",
    ),
    pytest.param(
        decode_ev44,
        with_vector_length(VALID_EV44, TOF, MAX_EVENTS + 1),
        R.TOO_LARGE,
        id="ev44-forged-just-over-limit",
    ),
    pytest.param(
        decode_ev44,
        with_vector_length(VALID_EV44, TOF, 1000),
        R.TRUNCATED,
        id="ev44-forged-length-beyond-payload",
    ),
    pytest.param(
        decode_ev44, ev44(source_name=b"\xff\xfe"), R.MALFORMED, id="ev44-source-not-utf8"
    ),
    # --- f144 -----------------------------------------------------------------------
    pytest.param(
        decode_f144, f144_with_string_member(value_type=21), R.UNSUPPORTED, id="f144-string-value"
    ),
    pytest.param(
        decode_f144, f144_with_string_member(value_type=0), R.MISSING_FIELD, id="f144-value-none"
    ),
    pytest.param(
        partial(decode_f144, max_array_length=2),
        serialise_f144("pv", np.arange(3.0), 1),
        R.TOO_LARGE,
        id="f144-array-over-lowered-limit",
    ),
    # A Double tag on a table whose single field is a string offset: reads 8 bytes that
    # do not fit inside the 4-byte field.
    pytest.param(
        decode_f144,
        f144_with_string_member(value_type=10),
        R.MALFORMED,
        id="f144-double-tag-on-string",
    ),
    # --- ad00 -----------------------------------------------------------------------
    pytest.param(decode_ad00, serialise_ad00("c", 1, 2, np.ones(4)), R.BAD_SHAPE, id="ad00-1d"),
    pytest.param(
        decode_ad00, serialise_ad00("c", 1, 2, np.ones((2, 2, 2))), R.BAD_SHAPE, id="ad00-3d"
    ),
    pytest.param(decode_ad00, serialise_ad00("c", 1, 2, "text"), R.UNSUPPORTED, id="ad00-c-string"),
    pytest.param(
        decode_ad00, ad00(dimensions=[2, 2], data=bytes(3)), R.LENGTH_MISMATCH, id="ad00-short-data"
    ),
    pytest.param(
        decode_ad00, ad00(dimensions=[-2, -2], data=bytes(4)), R.BAD_SHAPE, id="ad00-negative-dims"
    ),
    pytest.param(
        decode_ad00,
        ad00(dimensions=[1 << 20, 1 << 20], data=bytes(4)),
        R.TOO_LARGE,
        id="ad00-forged-terapixel",
    ),
    pytest.param(
        decode_ad00,
        ad00(dimensions=[2, 2], data=bytes(4), data_type=42),
        R.UNSUPPORTED,
        id="ad00-bad-dtype",
    ),
    # --- da00 -----------------------------------------------------------------------
    pytest.param(
        decode_da00,
        da00([RawVariable.of("counts", np.ones(2), ["x"])]),
        R.MISSING_FIELD,
        id="da00-no-signal",
    ),
    pytest.param(decode_da00, da00([]), R.MISSING_FIELD, id="da00-no-variables"),
    pytest.param(
        decode_da00,
        da00([RawVariable(name="signal", data=bytes(24), axes=["x"], shape=[2])]),
        R.LENGTH_MISMATCH,
        id="da00-shape-vs-data",
    ),
    pytest.param(
        decode_da00,
        da00([RawVariable(name="signal", data=bytes(16), axes=["x", "y"], shape=[2])]),
        R.BAD_SHAPE,
        id="da00-axes-vs-shape",
    ),
    pytest.param(
        decode_da00,
        da00([RawVariable(name="signal", data=bytes(16), axes=["x"], shape=None)]),
        R.BAD_SHAPE,
        id="da00-axes-without-shape",
    ),
    pytest.param(
        decode_da00,
        da00([RawVariable(name="signal", data=bytes(0), axes=["x", "x"], shape=[0, 0])]),
        R.BAD_SHAPE,
        id="da00-repeated-axis",
    ),
    pytest.param(
        decode_da00,
        da00([RawVariable(name="signal", data=bytes(8), axes=["x"], shape=[1 << 40])]),
        R.TOO_LARGE,
        id="da00-forged-huge-shape",
    ),
    pytest.param(
        decode_da00,
        da00(
            [
                RawVariable.of("signal", np.ones(2), ["x"]),
                RawVariable.of("y", np.ones(2), ["y"]),
            ]
        ),
        R.BAD_SHAPE,
        id="da00-coord-on-unknown-dim",
    ),
    pytest.param(
        decode_da00,
        da00([RawVariable.of("signal", np.ones(2), ["x"]), RawVariable.of("x", np.ones(5), ["x"])]),
        R.BAD_SHAPE,
        id="da00-coord-wrong-length",
    ),
    pytest.param(
        decode_da00,
        da00(
            [
                RawVariable.of("signal", np.ones(2), ["x"]),
                RawVariable.of("errors", np.ones(3), ["x"]),
            ]
        ),
        R.BAD_SHAPE,
        id="da00-errors-vs-signal",
    ),
    pytest.param(
        decode_da00,
        da00(
            [
                RawVariable.of("signal", np.ones((2, 2)), ["x", "y"]),
                RawVariable.of("c", np.ones((3, 3)), ["x", "y"]),
            ]
        ),
        R.BAD_SHAPE,
        id="da00-coord-edges-on-two-dims",
    ),
    pytest.param(
        decode_da00,
        da00([RawVariable(name="signal", data=b"abc\x00", data_type=DA00_C_STRING)]),
        R.UNSUPPORTED,
        id="da00-c-string",
    ),
    pytest.param(
        decode_da00,
        da00([RawVariable.of("signal", np.ones(1), ["x"], unit="furlongs^^")]),
        R.INVALID_VALUE,
        id="da00-bad-unit",
    ),
    pytest.param(
        decode_da00,
        da00(
            [
                RawVariable.of("signal", np.ones(1), ["x"]),
                RawVariable.of("signal", np.ones(1), ["x"]),
            ]
        ),
        R.INVALID_VALUE,
        id="da00-duplicate-name",
    ),
    pytest.param(
        decode_da00,
        da00(
            [
                RawVariable.of("signal", np.ones(1), ["t"]),
                RawVariable.of("t", np.ones(1), ["t"], unit="datetime64[ns]"),
            ]
        ),
        R.INVALID_VALUE,
        id="da00-float-datetime",
    ),
    pytest.param(
        decode_da00,
        da00(
            [
                RawVariable.of("signal", np.ones(1), ["t"]),
                RawVariable.of(
                    "t", np.ones(1, dtype=np.int64), ["t"], unit="datetime64[fortnights]"
                ),
            ]
        ),
        R.INVALID_VALUE,
        id="da00-bad-datetime-unit",
    ),
    pytest.param(
        decode_da00,
        da00([RawVariable(name="signal", data=b"\xff" * 8, axes=["x"], shape=[1], data_type=8)]),
        R.OUT_OF_RANGE,
        id="da00-uint64-beyond-int64",
    ),
    pytest.param(
        partial(decode_da00, max_elements=2),
        da00([RawVariable.of("signal", np.ones(3), ["x"])]),
        R.TOO_LARGE,
        id="da00-over-lowered-limit",
    ),
    # --- run control ----------------------------------------------------------------
    pytest.param(
        decode_pl72_now,
        serialise_pl72("j", "f", start_time=2**63, run_name="r"),
        R.OUT_OF_RANGE,
        id="pl72-start-beyond-int64-ns",
    ),
    pytest.param(
        decode_pl72_now,
        serialise_pl72("j", "f", start_time=1, stop_time=2**64 - 1, run_name="r"),
        R.OUT_OF_RANGE,
        id="pl72-stop-beyond-int64-ns",
    ),
    # --- ROIs -----------------------------------------------------------------------
    pytest.param(
        decode_roi,
        roi_payload(x=[0, float("nan")], y=[0, 1], index=[0, 0]),
        R.NON_FINITE,
        id="roi-nan-x",
    ),
    pytest.param(
        decode_roi,
        roi_payload(x=[0, 1], y=[0, float("inf")], index=[0, 0]),
        R.NON_FINITE,
        id="roi-inf-y",
    ),
    pytest.param(
        decode_roi,
        roi_payload(shape="polygon", dim="vertex", x=[0, 1], y=[0, 1], index=[0, 0]),
        R.BAD_SHAPE,
        id="roi-polygon-2-vertices",
    ),
    pytest.param(
        decode_roi,
        roi_payload(x=[0, 1, 2], y=[0, 1, 2], index=[0, 0, 0]),
        R.BAD_SHAPE,
        id="roi-rectangle-3-points",
    ),
    pytest.param(
        decode_roi,
        roi_payload(x=[0, 1, 2], y=[0, 1, 2], index=[0, 0, 1]),
        R.BAD_SHAPE,
        id="roi-rectangle-1-point",
    ),
    pytest.param(
        decode_roi,
        roi_payload(x=[5, 1], y=[0, 1], index=[0, 0]),
        R.INVALID_VALUE,
        id="roi-rectangle-inverted",
    ),
    pytest.param(
        decode_roi,
        roi_payload(x=[0, 1] * 65, y=[0, 1] * 65, index=[i for i in range(65) for _ in (0, 1)]),
        R.TOO_LARGE,
        id="roi-65-rectangles",
    ),
    pytest.param(
        decode_roi,
        roi_payload(x=[0, 1], y=[0, 1], index=[-1, -1]),
        R.OUT_OF_RANGE,
        id="roi-negative-index",
    ),
    pytest.param(
        decode_roi,
        roi_payload(x=[0, 1], y=[0, 1], index=[70000, 70000]),
        R.OUT_OF_RANGE,
        id="roi-huge-index",
    ),
    pytest.param(
        decode_roi,
        roi_payload(x=[0, 1], y=[0, 1], index=[0, 0], index_dtype="float64"),
        R.INVALID_VALUE,
        id="roi-float-index",
    ),
    pytest.param(
        decode_roi,
        roi_payload(x=[0, 1], y=[0, 1], index=[0, 0], x_unit="m", y_unit="mm"),
        R.INVALID_VALUE,
        id="roi-x-y-units-differ",
    ),
    pytest.param(
        decode_roi,
        roi_payload(x=[0, 1], y=[0, 1], index=[0, 0], dim="vertex"),
        R.BAD_SHAPE,
        id="roi-rectangle-on-vertex-dim",
    ),
    pytest.param(
        decode_roi,
        roi_payload(x=[0, 1], y=[0, 1], index=[0, 0], job_number="not-a-uuid"),
        R.INVALID_VALUE,
        id="roi-bad-job-number",
    ),
    pytest.param(
        decode_roi,
        roi_payload(shape="circle", x=[0, 1], y=[0, 1], index=[0, 0]),
        R.INVALID_VALUE,
        id="roi-unknown-geometry",
    ),
    pytest.param(
        decode_roi,
        encode_da00(
            f"panel_0/{JOB.job_number}/roi_rectangle",
            sc.DataArray(
                sc.ones(dims=["bounds"], shape=[2], dtype="int32"),
                coords={"x": sc.array(dims=["bounds"], values=[0.0, 1.0])},
            ),
            timestamp_ns=0,
        ),
        R.MISSING_FIELD,
        id="roi-without-y-and-index",
    ),
    pytest.param(
        decode_roi,
        encode_da00(
            f"panel_0/{JOB.job_number}/roi_rectangle",
            sc.DataArray(
                sc.ones(dims=["bounds"], shape=[2], dtype="int32"),
                coords={
                    "x": sc.array(dims=["bounds"], values=[0.0, 1.0, 2.0]),
                    "y": sc.array(dims=["bounds"], values=[0.0, 1.0]),
                    "roi_index": sc.array(dims=["bounds"], values=[0, 0], dtype="int32"),
                },
            ),
            timestamp_ns=0,
        ),
        R.BAD_SHAPE,
        id="roi-x-as-bin-edges",
    ),
]


@pytest.mark.parametrize(("decode", "payload", "reason"), CASES)
def test_hostile_payload_is_refused_with_reason(
    decode: Decoder, payload: bytes, reason: DecodeReason
) -> None:
    with pytest.raises(DecodeError) as info:
        decode(payload)
    assert info.value.reason is reason, info.value.message


def test_corpus_covers_every_decoder_and_many_cases() -> None:
    assert len(CASES) >= 20
    covered = {case.values[0] for case in CASES}
    assert set(DECODERS.values()) <= covered


@pytest.mark.parametrize("name", ["ev44", "ad00"])
def test_every_cut_of_a_message_is_truncated(name: str) -> None:
    payload = VALID[name]
    for at in range(1, len(payload)):
        with pytest.raises(DecodeError) as info:
            DECODERS[name](payload[:at])
        assert info.value.reason is R.TRUNCATED, at


def test_forged_event_count_is_refused_before_any_allocation() -> None:
    # 2**31 - 1 int32 events would be 8 GiB; the limit check reads only the header.
    payload = with_vector_length(VALID_EV44, TOF, 2**31 - 1)
    with pytest.raises(DecodeError) as info:
        decode_ev44(payload)
    assert info.value.reason is R.TOO_LARGE
    assert str(2**31 - 1) in info.value.message


# --- what the decoders deliberately let through (the next stage's job) -----------------


def test_negative_and_huge_pixel_ids_pass_through_as_views() -> None:
    # Which ids are valid depends on the detector: the histogram kernels check them.
    payload = ev44(time_of_flight=[1, 2, 3], pixel_id=[-5, 2**31 - 1, 0])
    events = decode_ev44(payload).events
    assert events.pixel_id is not None
    np.testing.assert_array_equal(events.pixel_id, [-5, 2**31 - 1, 0])
    assert not events.pixel_id.flags.owndata


@pytest.mark.parametrize("time", [-(2**62), -1, 0, 2**62])
def test_implausible_times_pass_through_for_the_batcher(time: int) -> None:
    payload = ev44(reference_time=[time], reference_time_index=[0])
    assert decode_ev44(payload).data_time == time
    assert decode_f144(encode_f144("pv", LogSample(time=time, value=1.0)))[1].time == time
