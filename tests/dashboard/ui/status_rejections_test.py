"""The Status tab shows each service's rejected messages per reason (pure formatting)."""

from __future__ import annotations

from livedata.core.rejections import rejections_by_reason
from livedata.dashboard.contract import Liveness, ServiceRow
from livedata.dashboard.ui.format import MAX_REASONS_SHOWN, rejected_html
from livedata.dashboard.ui.status_tab import services_html
from livedata.testing.dashboard import service_row_via_store
from livedata.testing.messages import T0, service_status

REJECTED = {
    "dummy_detector": {"truncated": 2, "wrong_schema": 5},
    "panel_0": {"missing_field": 1, "not_wanted": 400},
    "dummy_livedata_commands": {"invalid_value": 3, "truncated": 1},
}


def test_rejections_are_summed_per_reason_without_routine_skips() -> None:
    assert rejections_by_reason({"ingress": {"rejected": REJECTED}}) == {
        "truncated": {"dummy_detector": 2, "dummy_livedata_commands": 1},
        "wrong_schema": {"dummy_detector": 5},
        "missing_field": {"panel_0": 1},
        "invalid_value": {"dummy_livedata_commands": 3},
    }


def test_odd_shapes_of_untrusted_stats_are_skipped() -> None:
    assert rejections_by_reason({}) == {}
    assert rejections_by_reason({"ingress": 5}) == {}
    assert rejections_by_reason({"ingress": {"rejected": [1, 2]}}) == {}
    odd = {"a": 3, "b": {"empty": True, "truncated": "7", "malformed": -1, "too_large": 2}}
    assert rejections_by_reason({"ingress": {"rejected": odd}}) == {"too_large": {"b": 2}}


def test_the_services_table_shows_each_reason_with_its_streams() -> None:
    row = service_row_via_store({"ingress": {"rejected": REJECTED}})
    assert row.rejected == 12  # the store's total, routine skips left out
    html = services_html([row], T0)
    cell = rejected_html(row)
    assert cell in html
    assert cell.startswith("12<br>")
    # Most frequent first; each reason's streams in its tooltip.
    assert cell.index("wrong_schema 5") < cell.index("truncated 3") < cell.index("missing_field 1")
    assert "title='dummy_detector: 2, dummy_livedata_commands: 1'>truncated 3<" in cell
    assert "invalid_value 3" in cell
    assert "not_wanted" not in html


def test_a_service_without_rejections_shows_a_plain_zero() -> None:
    row = service_row_via_store({"ingress": {"rejected": {"panel_0": {"not_wanted": 9}}}})
    assert rejected_html(row) == "0"


def test_names_from_the_wire_are_escaped_and_reasons_bounded() -> None:
    many = {"<b>evil</b>": {f"reason_{i:02d}": i + 1 for i in range(MAX_REASONS_SHOWN + 3)}}
    row = ServiceRow(
        service_id="dummy:detector_data:w1",
        status=service_status({"ingress": {"rejected": many}}),
        software_version="1.0",
        host_name="host",
        last_seen_ns=T0,
        liveness=Liveness.LIVE,
    )
    cell = rejected_html(row)
    assert "<b>evil" not in cell
    assert "&lt;b&gt;evil&lt;/b&gt;" in cell
    assert cell.count("ld-rejected-reason") == MAX_REASONS_SHOWN
    assert cell.endswith("+3 more</small>")
