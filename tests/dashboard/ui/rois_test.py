"""ROIs from the edit streams: rectangles, polygons, and indices that stay put."""

from __future__ import annotations

from livedata.core.control import Roi
from livedata.dashboard.ui.rois import keep_indices, polygons_from_stream, rectangles_from_stream


def rect(x0: float, x1: float) -> Roi:
    return Roi(shape="rectangle", x=(x0, x1), y=(0.0, 1.0))


def test_box_edit_data_become_ordered_rectangles() -> None:
    rois = rectangles_from_stream({"x0": [5.0], "y0": [3.0], "x1": [1.0], "y1": [4.0]})
    assert rois == [Roi(shape="rectangle", x=(1.0, 5.0), y=(3.0, 4.0))]


def test_polygons_need_three_vertices_and_drop_the_closing_one() -> None:
    data = {
        "xs": [[0.0, 4.0, 4.0, 0.0], [1.0, 2.0], [[[0.0, 1.0, 1.0]]]],
        "ys": [[0.0, 0.0, 3.0, 0.0], [1.0, 2.0], [[[0.0, 0.0, 1.0]]]],
    }
    rois = polygons_from_stream(data)
    assert rois == [
        Roi(shape="polygon", x=(0.0, 4.0, 4.0), y=(0.0, 0.0, 3.0)),
        Roi(shape="polygon", x=(0.0, 1.0, 1.0), y=(0.0, 0.0, 1.0)),
    ]


def test_a_moved_roi_keeps_its_index() -> None:
    assert keep_indices({3: rect(0, 1), 7: rect(2, 3)}, [rect(0, 1), rect(5, 6)]) == {
        3: rect(0, 1),
        7: rect(5, 6),
    }


def test_deleting_an_roi_keeps_the_others_indices() -> None:
    assert keep_indices(
        {0: rect(0, 1), 1: rect(2, 3), 2: rect(4, 5)}, [rect(0, 1), rect(4, 5)]
    ) == {
        0: rect(0, 1),
        2: rect(4, 5),
    }


def test_a_new_roi_takes_the_smallest_free_index() -> None:
    assert keep_indices({1: rect(0, 1)}, [rect(0, 1), rect(8, 9)]) == {1: rect(0, 1), 0: rect(8, 9)}
