"""ROI spectra and echo of the detector view: exact counts, resets, clearing, refusals."""

import uuid
from dataclasses import dataclass

import numpy as np
import pydantic
import pytest
import scipp as sc

from livedata.core.control import Roi, RoiUpdate
from livedata.core.identity import JobId
from livedata.protocol.roi import MAX_ROIS, rois_from_data_array
from livedata.workflows.detector_view import (
    DetectorViewParams,
    DetectorViewWorkflow,
    detector_view_outputs,
)
from livedata.workflows.roi_spectra import MAX_BINS, SHAPE_CODES, RoiSpectrumParams

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000
FRAME = 71_428_571
JOB = JobId(source_name="det", job_number=uuid.UUID(int=1))
ROI_OUTPUTS = {"roi_spectra_current", "roi_spectra_cumulative", "roi_rectangle", "roi_polygon"}


@dataclass(frozen=True)
class Layout:
    shape: tuple[int, ...] = (10, 12)
    dims: tuple[str, ...] = ("y", "x")
    first_pixel_id: int = 1


def rect(x0, x1, y0, y1, unit=None) -> Roi:
    return Roi(shape="rectangle", x=(x0, x1), y=(y0, y1), unit=unit)


def poly(*points) -> Roi:
    return Roi(shape="polygon", x=tuple(p[0] for p in points), y=tuple(p[1] for p in points))


def update(shape, rois) -> RoiUpdate:
    return RoiUpdate(job_id=JOB, shape=shape, rois=rois)


def view(layout=None, **params) -> DetectorViewWorkflow:
    return DetectorViewWorkflow(
        source_name="det", layout=layout or Layout(), params=DetectorViewParams(**params)
    )


class Runner:
    """Feeds windows to a view with the latest ROI context, as a job does."""

    def __init__(self, wf: DetectorViewWorkflow, batch) -> None:
        self.wf, self.batch, self.window = wf, batch, 0
        self.context: dict[str, RoiUpdate] = {}

    def set(self, upd: RoiUpdate) -> None:
        self.context[f"roi_{upd.shape}"] = upd

    def run(self, pixel_id, toa):
        start = T0 + self.window * S
        self.window += 1
        self.wf.accumulate(
            {"det": self.batch(pixel_id, toa), **self.context}, start_time=start, end_time=start + S
        )
        return self.wf.finalize()


def random_events(rng, n, layout=Layout()):
    n_pixels = int(np.prod(layout.shape))
    pid = rng.integers(-5, n_pixels + 5, n).astype(np.int32)
    toa = rng.integers(-1000, FRAME + 1000, n).astype(np.int32)
    pid[:2] = (2**31 - 1, -(2**31))
    return pid, toa


def naive_spectrum(roi: Roi, pid, toa, layout=Layout(), bins=100, start=0, stop=FRAME):
    """Events whose pixel centre is in ``roi`` (scalar tests), histogrammed bin by bin."""
    ny, nx = layout.shape[-2:]
    out = np.zeros(bins, dtype=np.int64)
    for p, t in zip(pid.tolist(), toa.tolist(), strict=True):
        index = p - layout.first_pixel_id
        if not 0 <= index < int(np.prod(layout.shape)) or not start <= t < stop:
            continue
        y, x = divmod(index % (ny * nx), nx)
        if inside(roi, x, y):
            out[(t - start) * bins // (stop - start)] += 1
    return out


def inside(roi: Roi, px: float, py: float) -> bool:
    if roi.shape == "rectangle":
        return roi.x[0] <= px <= roi.x[1] and roi.y[0] <= py <= roi.y[1]
    result, n = False, len(roi.x)
    for a in range(n):
        b = (a + 1) % n
        xa, ya, xb, yb = roi.x[a], roi.y[a], roi.x[b], roi.y[b]
        if (ya > py) != (yb > py) and px < (xb - xa) * (py - ya) / (yb - ya) + xa:
            result = not result
    return result


def row(da: sc.DataArray, shape: str, index: int) -> np.ndarray:
    """The spectrum of one ROI, found by its coords (not by position)."""
    hits = np.flatnonzero(
        (da.coords["roi"].values == index) & (da.coords["roi_shape"].values == SHAPE_CODES[shape])
    )
    assert len(hits) == 1, (shape, index, da.coords["roi"].values)
    return da.values[hits[0]]


RECTS = {0: rect(1, 5, 2, 7), 4: rect(3.5, 20, -3, 2.5), 9: rect(0.2, 0.8, 0, 9)}
POLYS = {
    0: poly((0, 0), (6, 0), (6, 5), (4, 5), (4, 2), (2, 2), (2, 5), (0, 5)),  # concave
    2: poly((-4, 3), (15, 4), (8, 14)),  # partly outside, overlaps rectangles
}


def test_spectra_hold_exactly_the_events_in_each_roi(batch) -> None:
    rng = np.random.default_rng(3)
    r = Runner(view(), batch)
    r.set(update("rectangle", RECTS))
    r.set(update("polygon", POLYS))
    cumulative = {key: np.zeros(100, dtype=np.int64) for key in ROI_KEYS}
    for _ in range(3):
        pid, toa = random_events(rng, 20_000)
        out = r.run(pid, toa)
        for shape, index in ROI_KEYS:
            roi = (RECTS if shape == "rectangle" else POLYS)[index]
            expected = naive_spectrum(roi, pid, toa)
            cumulative[(shape, index)] += expected
            np.testing.assert_array_equal(row(out["roi_spectra_current"], shape, index), expected)
            np.testing.assert_array_equal(
                row(out["roi_spectra_cumulative"], shape, index), cumulative[(shape, index)]
            )
    current = out["roi_spectra_current"]
    assert current.dims == ("roi", "time_of_arrival")
    assert current.unit == sc.Unit("counts")
    np.testing.assert_array_equal(current.variances, current.values)
    # Rectangles first, then polygons, each by index.
    assert current.coords["roi"].values.tolist() == [0, 4, 9, 0, 2]
    assert current.coords["roi_shape"].values.tolist() == [0, 0, 0, 1, 1]
    edges = current.coords["time_of_arrival"]
    assert edges.unit == sc.Unit("ns")
    assert edges.values[0] == 0
    assert edges.values[-1] == FRAME
    assert len(edges.values) == 101
    assert current.coords["start_time"].value == T0 + 2 * S
    assert (out["roi_spectra_cumulative"].coords["roi_start_time"].values == T0).all()
    # The pixel-free rectangle (between centres) is a row of zeros, not an absence.
    assert not row(current, "rectangle", 9).any()


ROI_KEYS = [("rectangle", i) for i in RECTS] + [("polygon", i) for i in POLYS]


def test_overlapping_rois_each_count_the_event(batch) -> None:
    r = Runner(view(), batch)
    r.set(update("rectangle", {0: rect(0, 11, 0, 9), 1: rect(2, 2, 3, 3)}))
    r.set(update("polygon", {7: poly((1, 2), (4, 2), (4, 5), (1, 5))}))
    pid_at_x2_y3 = 1 + 3 * 12 + 2
    out = r.run([pid_at_x2_y3] * 3, [10, 20, FRAME - 1])
    spectra = out["roi_spectra_current"]
    assert row(spectra, "rectangle", 0).sum() == 3
    assert row(spectra, "rectangle", 1).sum() == 3
    assert row(spectra, "polygon", 7).sum() == 3
    assert row(spectra, "polygon", 7)[-1] == 1
    assert out["counts_total"].value == 3  # the image counts each event once


def test_spectrum_binning_is_a_parameter(batch) -> None:
    params = {"bins": 4, "toa_range": {"start_ns": 1000, "stop_ns": 2000}}
    r = Runner(view(roi_spectrum=params), batch)
    r.set(update("rectangle", {0: rect(0, 11, 0, 9)}))
    out = r.run([1] * 6, [999, 1000, 1249, 1250, 1999, 2000])
    np.testing.assert_array_equal(row(out["roi_spectra_current"], "rectangle", 0), [2, 1, 0, 1])
    np.testing.assert_array_equal(
        out["roi_spectra_current"].coords["time_of_arrival"].values, [1000, 1250, 1500, 1750, 2000]
    )
    assert out["counts_total"].value == 6  # the image has its own (unset) range


def test_changed_geometry_resets_only_that_roi(batch) -> None:
    r = Runner(view(), batch)
    a, b = rect(0, 11, 0, 4), rect(0, 11, 5, 9)
    r.set(update("rectangle", {0: a, 1: b}))
    r.set(update("polygon", {0: poly((0, 0), (12, 0), (12, 10))}))
    low, high = 1 + 2 * 12 + 11, 1 + 7 * 12 + 11  # pixels (x=11, y=2) and (11, 7)
    r.run([low, high], [5, 5])
    r.run([low, high], [5, 5])
    # Same content in a new message: nothing is reset.
    r.set(update("rectangle", {0: rect(0, 11, 0, 4), 1: b}))
    out = r.run([low, high], [5, 5])
    cumulative = out["roi_spectra_cumulative"]
    assert row(cumulative, "rectangle", 0).sum() == 3
    assert row(cumulative, "rectangle", 1).sum() == 3
    # Move ROI 1 (and add ROI 2): their sums start afresh, ROI 0 and the polygon keep theirs.
    r.set(update("rectangle", {0: a, 1: rect(0, 11, 6, 9), 2: rect(0, 0, 0, 0)}))
    out = r.run([low, high, 1], [5, 5, 5])
    cumulative = out["roi_spectra_cumulative"]
    assert row(cumulative, "rectangle", 0).sum() == 5
    assert row(cumulative, "rectangle", 1).sum() == 1
    assert row(cumulative, "rectangle", 2).sum() == 1
    assert row(cumulative, "polygon", 0).sum() == 9  # both pixels, then pixel (0, 0) too
    since = dict(
        zip(
            zip(
                cumulative.coords["roi_shape"].values, cumulative.coords["roi"].values, strict=True
            ),
            cumulative.coords["roi_start_time"].values,
            strict=True,
        )
    )
    assert since == {(0, 0): T0, (0, 1): T0 + 3 * S, (0, 2): T0 + 3 * S, (1, 0): T0}
    assert row(out["roi_spectra_current"], "rectangle", 0).sum() == 2


def test_clearing_publishes_empty_echo_and_spectra(batch) -> None:
    r = Runner(view(), batch)
    r.set(update("rectangle", {0: rect(0, 3, 0, 3)}))
    r.set(update("polygon", {0: poly((0, 0), (5, 0), (0, 5))}))
    r.run([1], [0])
    r.set(update("rectangle", {}))
    for _ in range(2):  # and keeps publishing the empty set
        out = r.run([1], [0])
        assert out["roi_rectangle"].sizes == {"bounds": 0}
        assert rois_from_data_array("rectangle", out["roi_rectangle"]) == {}
        assert out["roi_spectra_current"].coords["roi_shape"].values.tolist() == [1]
        assert row(out["roi_spectra_cumulative"], "polygon", 0).sum() == r.window  # one per run
    r.set(update("polygon", {}))
    out = r.run([1], [0])
    assert out["roi_spectra_current"].sizes == {"roi": 0, "time_of_arrival": 100}
    assert out["roi_spectra_cumulative"].sizes == {"roi": 0, "time_of_arrival": 100}
    assert out["roi_polygon"].sizes == {"vertex": 0}
    assert out["counts_total"].value == 1


def test_echo_round_trips_through_the_wire_encoding(batch) -> None:
    r = Runner(view(), batch)
    r.set(update("rectangle", RECTS))
    out = r.run([1], [0])
    assert rois_from_data_array("rectangle", out["roi_rectangle"]) == RECTS
    assert "roi_polygon" not in out  # a type never set is not echoed
    r.set(update("polygon", POLYS))
    out = r.run([1], [0])
    assert rois_from_data_array("rectangle", out["roi_rectangle"]) == RECTS
    assert rois_from_data_array("polygon", out["roi_polygon"]) == POLYS
    assert out["roi_polygon"].dims == ("vertex",)


def test_no_rois_no_roi_outputs(batch) -> None:
    out = Runner(view(), batch).run([1, 2], [0, 0])
    assert not ROI_OUTPUTS & set(out)


def test_roi_with_a_unit_is_refused_and_the_previous_set_stays(batch) -> None:
    wf = view()
    r = Runner(wf, batch)
    r.set(update("rectangle", {0: rect(0, 11, 0, 9)}))
    r.run([1], [0])
    r.set(update("rectangle", {0: rect(0, 0.01, 0, 0.01, unit="m"), 1: rect(0, 1, 0, 1, "m")}))
    out = r.run([1, 2], [0, 0])
    assert "not supported" in wf.rois.problems["rectangle"]
    assert rois_from_data_array("rectangle", out["roi_rectangle"]) == {0: rect(0, 11, 0, 9)}
    assert row(out["roi_spectra_cumulative"], "rectangle", 0).sum() == 3
    assert out["counts_total_cumulative"].value == 3  # the image is unaffected
    r.set(update("rectangle", {5: rect(0, 0, 0, 0)}))
    out = r.run([1], [0])
    assert "rectangle" not in wf.rois.problems
    assert rois_from_data_array("rectangle", out["roi_rectangle"]) == {5: rect(0, 0, 0, 0)}


def test_a_first_refused_update_publishes_nothing(batch) -> None:
    wf = view()
    r = Runner(wf, batch)
    r.set(update("polygon", {0: Roi(shape="polygon", x=(0, 1, 2), y=(0, 1, 0), unit="mm")}))
    out = r.run([1], [0])
    assert not ROI_OUTPUTS & set(out)
    assert set(wf.rois.problems) == {"polygon"}


@pytest.mark.parametrize(
    "bad",
    [
        "not an update",
        RoiUpdate(job_id=JOB, shape="polygon", rois={}),  # under the rectangle key
        update("rectangle", {0: poly((0, 0), (1, 0), (1, 1))}),
        update("rectangle", {0: rect(2, 1, 0, 1)}),
        update("rectangle", {2**20: rect(0, 1, 0, 1)}),
        update("rectangle", {i: rect(0, 1, 0, 1) for i in range(MAX_ROIS + 1)}),
    ],
)
def test_malformed_context_is_a_problem_not_an_exception(batch, bad) -> None:
    wf = view()
    wf.accumulate({"det": batch([1]), "roi_rectangle": bad}, start_time=T0, end_time=T0 + S)
    out = wf.finalize()
    assert "rectangle" in wf.rois.problems
    assert out["counts_total"].value == 1


def test_job_reset_clears_spectra_and_keeps_rois(batch) -> None:
    r = Runner(view(), batch)
    r.set(update("rectangle", {0: rect(0, 11, 0, 9)}))
    r.run([1] * 4, [0] * 4)
    r.wf.clear()
    out = r.run([1], [0])
    assert row(out["roi_spectra_cumulative"], "rectangle", 0).sum() == 1
    assert out["roi_spectra_cumulative"].coords["roi_start_time"].values[0] == T0 + S
    assert rois_from_data_array("rectangle", out["roi_rectangle"]) == {0: rect(0, 11, 0, 9)}


def test_leading_dims_share_the_roi(batch) -> None:
    layout = Layout(shape=(2, 3, 4), dims=("layer", "y", "x"), first_pixel_id=100)
    r = Runner(view(layout), batch)
    r.set(update("rectangle", {0: rect(1, 1, 2, 2)}))
    # Pixel (y=2, x=1) in both layers, and one elsewhere.
    out = r.run([100 + 9, 100 + 12 + 9, 100], [0, 0, 0])
    assert row(out["roi_spectra_current"], "rectangle", 0).sum() == 2


def test_one_dim_view_is_one_row(batch) -> None:
    layout = Layout(shape=(8,), dims=("tube",), first_pixel_id=0)
    r = Runner(view(layout), batch)
    r.set(update("rectangle", {0: rect(2, 4, 0, 0), 1: rect(0, 7, 1, 2)}))
    out = r.run(list(range(8)), [0] * 8)
    assert row(out["roi_spectra_current"], "rectangle", 0).sum() == 3
    assert row(out["roi_spectra_current"], "rectangle", 1).sum() == 0


def test_the_most_rois_allowed_count_exactly(batch) -> None:
    rng = np.random.default_rng(5)
    layout = Layout(shape=(128, 128))
    r = Runner(view(layout), batch)
    rects, polys = {}, {}
    for i in range(MAX_ROIS):
        x, y = rng.integers(0, 120, 2)
        rects[i] = rect(x, x + rng.integers(0, 30), y, y + rng.integers(0, 30))
        cx, cy = rng.uniform(0, 128, 2)
        angle = np.sort(rng.uniform(0, 2 * np.pi, 6))
        polys[i] = poly(*zip(cx + 20 * np.cos(angle), cy + 20 * np.sin(angle), strict=True))
    r.set(update("rectangle", rects))
    r.set(update("polygon", polys))
    pid, toa = random_events(rng, 5000, layout)
    out = r.run(pid, toa)
    spectra = out["roi_spectra_cumulative"]
    assert spectra.sizes == {"roi": 2 * MAX_ROIS, "time_of_arrival": 100}
    assert r.wf.rois.n_regions > 2 * MAX_ROIS  # they overlap
    for shape, rois in (("rectangle", rects), ("polygon", polys)):
        for index in (0, 17, MAX_ROIS - 1):
            expected = naive_spectrum(rois[index], pid, toa, layout)
            np.testing.assert_array_equal(row(spectra, shape, index), expected)


def test_rois_cutting_too_many_regions_are_refused(batch) -> None:
    # 64 one-row rectangles across 64 one-column polygons: 64 x 64 crossings plus the
    # rest of each strip, more regions than 1000-bin spectra may use.
    layout = Layout(shape=(130, 130))
    wf = view(layout, roi_spectrum={"bins": MAX_BINS})
    r = Runner(wf, batch)
    rows = {i: rect(0, 129, 2 * i, 2 * i) for i in range(MAX_ROIS)}
    columns = {
        k: poly((2 * k - 0.5, -1), (2 * k + 0.5, -1), (2 * k + 0.5, 200), (2 * k - 0.5, 200))
        for k in range(MAX_ROIS)
    }
    r.set(update("rectangle", rows))
    r.run([1], [0])
    r.set(update("polygon", columns))
    out = r.run([1], [0])
    assert "regions" in wf.rois.problems["polygon"]
    assert "roi_polygon" not in out
    assert out["roi_spectra_current"].sizes["roi"] == MAX_ROIS
    assert row(out["roi_spectra_cumulative"], "rectangle", 0).sum() == 2
    # With fewer bins the same set fits.
    wf = view(layout, roi_spectrum={"bins": 100})
    r = Runner(wf, batch)
    r.set(update("rectangle", rows))
    r.set(update("polygon", columns))
    out = r.run([1], [0])
    assert not wf.rois.problems
    assert out["roi_spectra_current"].sizes["roi"] == 2 * MAX_ROIS


def test_templates_match_outputs_with_rois(batch) -> None:
    templates = detector_view_outputs(Layout())
    r = Runner(view(), batch)
    r.set(update("rectangle", RECTS))
    r.set(update("polygon", POLYS))
    out = r.run([1], [0])
    assert set(templates) == set(out)
    for name in ROI_OUTPUTS:
        template, da = templates[name].template, out[name]
        assert template.dims == da.dims
        assert template.unit == da.unit
        assert template.dtype == da.dtype
        assert (template.variances is None) == (da.variances is None)
        assert all(s == 0 for s in template.shape)
        for coord, value in template.coords.items():
            assert value.dtype == da.coords[coord].dtype
            assert value.unit == da.coords[coord].unit
            assert template.coords.is_edges(coord) == da.coords.is_edges(coord)


@pytest.mark.parametrize(
    "params",
    [{"bins": 0}, {"bins": MAX_BINS + 1}, {"bins": 1.5}, {"toa_range": {"start_ns": 5}}],
)
def test_spectrum_params_are_bounded(params) -> None:
    with pytest.raises(pydantic.ValidationError):
        RoiSpectrumParams.model_validate(params)
    with pytest.raises(pydantic.ValidationError):
        DetectorViewParams.model_validate({"roi_spectrum": params})


def test_megapixel_view_counts_roi_events_exactly_and_times_only_of_roi_events(batch) -> None:
    """A megapixel detector (per-pixel tables beyond the cache): ROI spectra match a
    reference computed by coordinates; every bad pixel id is counted, but a bad time
    only on an event in some ROI (an event in no ROI is in no spectrum to be left out
    of)."""
    layout = Layout(shape=(760, 800), first_pixel_id=3)
    ny, nx = layout.shape
    rng = np.random.default_rng(9)
    rects = {0: rect(10, 200, 40, 90), 1: rect(150, 420, 80, 81), 2: rect(799, 900, 759, 800)}
    r = Runner(view(layout), batch)
    r.set(update("rectangle", rects))
    n = 150_000
    pid = rng.integers(0, ny * nx + 10, n).astype(np.int32)
    toa = rng.integers(-1000, FRAME + 1000, n).astype(np.int32)
    # Plenty of events in every ROI, with good and bad times.
    pid[:3000] = 3 + 60 * nx + rng.integers(10, 201, 3000)
    pid[3000:3100] = 3 + 80 * nx + rng.integers(150, 421, 100)
    pid[3100:3110] = 3 + ny * nx - 1  # the corner pixel (799, 759)
    toa[:3110:50] = np.resize([-1, FRAME, 2**31 - 1, -(2**31)], len(toa[:3110:50]))
    out = r.run(pid, toa)
    index = pid.astype(np.int64) - 3
    valid = (index >= 0) & (index < ny * nx)
    in_time = (toa >= 0) & (toa < FRAME)
    y, x = np.divmod(np.where(valid, index, 0), nx)
    in_some_roi = np.zeros(n, dtype=bool)
    for i, roi in rects.items():
        in_roi = valid & (x >= roi.x[0]) & (x <= roi.x[1]) & (y >= roi.y[0]) & (y <= roi.y[1])
        in_some_roi |= in_roi
        inside = in_roi & in_time
        expected = np.bincount(toa[inside].astype(np.int64) * 100 // FRAME, minlength=100)
        np.testing.assert_array_equal(row(out["roi_spectra_current"], "rectangle", i), expected)
        assert expected.sum() >= 5
    left_out = r.wf.events_left_out()
    assert left_out["time_out_of_range"] == int((in_some_roi & ~in_time).sum()) >= 60
    assert left_out["pixel_out_of_range"] == int((~valid).sum())
    assert (valid & ~in_some_roi & ~in_time).sum() > 0  # not counted
