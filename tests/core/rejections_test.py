"""Rejected messages by reason, read from a heartbeat's untrusted ``stream_stats``."""

from livedata.core.rejections import (
    ReasonCount,
    ranked_rejections,
    rejected_total,
    rejections_by_reason,
)

STATS = {
    "ingress": {
        "rejected": {
            "panel_0": {"truncated": 5, "not_wanted": 1000, "unknown_source": 5},
            "panel_1": {"truncated": 1, "wrong_schema": 9, "odd": "3", "flag": True, "zero": 0},
            "monitor": "not a mapping",
        }
    }
}


def test_reasons_are_ranked_by_total_then_name_with_their_streams() -> None:
    assert ranked_rejections(STATS) == [
        ReasonCount(reason="wrong_schema", total=9, streams={"panel_1": 9}),
        ReasonCount(reason="truncated", total=6, streams={"panel_0": 5, "panel_1": 1}),
        ReasonCount(reason="unknown_source", total=5, streams={"panel_0": 5}),
    ]


def test_routine_reasons_and_odd_shapes_are_left_out() -> None:
    assert "not_wanted" not in rejections_by_reason(STATS)
    assert ranked_rejections({}) == []
    assert ranked_rejections({"ingress": {"rejected": [1, 2]}}) == []
    assert ranked_rejections({"ingress": 7}) == []


def test_the_total_is_the_sum_of_the_reasons_shown() -> None:
    """Odd counters (negative, booleans, text) count in neither, so the status tables'
    total and their per-reason list never disagree."""
    stats = {
        "ingress": {
            "rejected": {
                "panel_0": {"truncated": 3, "wrong_schema": -5, "not_wanted": 100},
                "motion1": {"truncated": True, "garbage": "x", "oversized": 2},
            }
        }
    }
    assert rejected_total(stats) == 5 == sum(c.total for c in ranked_rejections(stats))
    assert rejected_total({}) == 0
