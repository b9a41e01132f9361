"""Total counts: every event of the source, per window and since start."""

import pytest

from livedata.workflows.total_counts import TotalCountsWorkflow, total_counts_outputs

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


def test_counts_every_event_per_window_and_in_total(batch) -> None:
    wf = TotalCountsWorkflow(source_name="panel_0")
    sent = 0
    for i, n in enumerate([10, 0, 3, 1000]):
        # Pixel ids do not matter here: even ids outside any detector are events.
        wf.accumulate(
            {"panel_0": batch([2**31 - 1] * n)}, start_time=T0 + i * S, end_time=T0 + (i + 1) * S
        )
        out = wf.finalize()
        sent += n
        assert out["current"].value == n
        assert out["current"].variance == n
        assert out["current"].coords["start_time"].value == T0 + i * S
        assert out["total"].value == sent
        assert str(out["total"].unit) == "counts"
    wf.clear()
    wf.accumulate({"panel_0": batch([1])}, start_time=T0, end_time=T0 + S)
    assert wf.finalize()["total"].value == 1


def test_refuses_other_values() -> None:
    wf = TotalCountsWorkflow(source_name="panel_0")
    with pytest.raises(TypeError):
        wf.accumulate({"panel_0": [1, 2]}, start_time=T0, end_time=T0 + S)


def test_templates_match_outputs(batch) -> None:
    wf = TotalCountsWorkflow(source_name="panel_0")
    wf.accumulate({"panel_0": batch([1])}, start_time=T0, end_time=T0 + S)
    out = wf.finalize()
    for name, spec in total_counts_outputs().items():
        assert spec.template.dims == out[name].dims == ()
        assert spec.template.unit == out[name].unit
