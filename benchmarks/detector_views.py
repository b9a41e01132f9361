"""Detector views: events/s per core next to ``np.bincount``, per instrument size.

Run: ``.venv/bin/python benchmarks/detector_views.py [--events 1e7] [--repeats 7]
[--only SUBSTRING] [--no-service] [--seconds 5]``

Part 1, kernels. For each view of the built-in instruments (dummy 16 k pixels,
BIFROST-like 13.5 k, DREAM-like 1.5 M, LoKI-like 3.2 M), the view's kernel histograms
``--events`` events on uniformly random pixels of its bank, from raw int32 ids and
times (bounds checks and the pixel -> bin lookup included), next to the floor:
``np.bincount`` alone on the precomputed flat bin index of the same events, in the same
run. Medians of ``--repeats`` runs in thread CPU time, kernel and floor alternating;
ratio = ours / bincount (the median of the per-run ratios), marked PASS or BELOW against
the target for detector images, 0.6.

Part 2, service. The ``detector_data`` processor of the LoKI-like instrument, in process
(fake source and sink, no Kafka), runs the ``detector_xy`` view on all nine banks (nine
jobs) and is fed the fake producer's LoKI events at 1e7 events/s (126 ev44-sized
messages per data-second, split over the banks as the fake model lights them). It
prints the CPU seconds spent per data-second, i.e. the fraction of one core needed to
keep up, and the events per CPU-second that implies; it passes when one core keeps up
with 1e7 events/s (less than 1 CPU-second per data-second).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt

from livedata.config.instrument import DetectorBank, Instrument
from livedata.config.registry import load_instrument
from livedata.config.standard_workflows import DetectorView
from livedata.workflows.histogram import PixelRange
from livedata.workflows.mapped_counts import MappedPixelCounts
from livedata.workflows.pixel_counts import PixelCounts
from livedata.workflows.pixel_views import LogicalView, PixelView, logical_view
from livedata.workflows.projections import CylinderProjection, XYProjection

IMAGE_TARGET = 0.6
FRAME_NS = 71_428_571
BAD_FRACTION = 0.01


@dataclass(frozen=True)
class Case:
    name: str
    pixels: int
    bins: int
    ours: Callable[[], object]
    baseline: Callable[[], object]


def cpu_seconds(fn: Callable[[], object]) -> float:
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def measure(case: Case, n_events: int, repeats: int) -> tuple[float, float, float]:
    """Events per CPU-second of ours and of the floor (medians), and the median ratio."""
    case.ours()  # warm up: scratch buffers, page faults of the histogram
    case.baseline()
    ours: list[float] = []
    base: list[float] = []
    for _ in range(repeats):  # alternate, so both see the same noise
        ours.append(cpu_seconds(case.ours))
        base.append(cpu_seconds(case.baseline))
    ratio = statistics.median(b / o for o, b in zip(ours, base, strict=True))
    return n_events / statistics.median(ours), n_events / statistics.median(base), ratio


def build_view(inst: Instrument, bank: DetectorBank, view: DetectorView) -> PixelView | None:
    if isinstance(view.view, XYProjection | CylinderProjection):
        return view.view.build(inst.geometry(bank.name))
    if isinstance(view.view, LogicalView):
        return logical_view(bank, view.view)
    return None


def view_case(
    label: str,
    bank: DetectorBank,
    view: PixelView | None,
    rng: np.random.Generator,
    n_events: int,
    *,
    weights: npt.NDArray[np.float64] | None = None,
    bad_ids: bool = False,
    toa_window: tuple[int, int] | None = None,
    events: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]] | None = None,
) -> Case:
    first, n = bank.first_pixel_id, bank.n_pixels
    if events is None:
        pixel_id = rng.integers(first, first + n, n_events, dtype=np.int32)
        toa = rng.integers(0, FRAME_NS, n_events, dtype=np.int32)
    else:
        toa, pixel_id = events
    if bad_ids:
        where = rng.random(n_events) < BAD_FRACTION
        hostile = np.array([-1, 2**31 - 1, -(2**31)], dtype=np.int32)
        pixel_id[where] = rng.choice(hostile, int(where.sum()))
    # The floor: bincount on every event's final flat bin, one discard bin for events
    # the view does not count (bad ids, times outside the window, pixels left out).
    pixel = pixel_id.astype(np.intp) - first
    keep = (pixel >= 0) & (pixel < n)
    if toa_window is not None:
        keep &= (toa >= toa_window[0]) & (toa < toa_window[1])
    table = np.arange(n, dtype=np.intp) if view is None else view.bin_of_pixel
    assert table is not None
    n_bins = n if view is None else view.n_bins
    index = np.full(n_events, n_bins, dtype=np.intp)
    index[keep] = table[pixel[keep]]
    if view is None and weights is None:
        kernel = PixelCounts(PixelRange(first, n), time_window=toa_window)
        out = np.zeros(n_bins, dtype=np.int64)
        ours: Callable[[], object] = partial(kernel.add, out, pixel_id, toa)
    else:
        mapped = MappedPixelCounts(
            PixelRange(first, n), table, n_bins, time_window=toa_window, weights=weights
        )
        if weights is None:
            ours = partial(mapped.add, np.zeros(n_bins, dtype=np.int64), pixel_id, toa)
        else:
            sums = np.zeros(n_bins), np.zeros(n_bins)
            ours = partial(mapped.add_weighted, *sums, pixel_id, toa)
    if weights is not None:
        event_weights = np.zeros(n_events)
        event_weights[keep] = weights[pixel[keep]]
        baseline: Callable[[], object] = partial(
            np.bincount, index, weights=event_weights, minlength=n_bins + 1
        )
    else:
        baseline = partial(np.bincount, index, minlength=n_bins + 1)
    return Case(label, n, n_bins, ours, baseline)


def cases(rng: np.random.Generator, n_events: int) -> list[Case]:
    result: list[Case] = []
    dummy = load_instrument("dummy")
    panel = dummy.detector("panel_0")
    result.append(view_case("dummy panel_0 image", panel, None, rng, n_events))
    quarter = logical_view(panel, LogicalView(downsample=(("y", 4), ("x", 4))))
    result.append(view_case("dummy panel_0 downsample 4x4", panel, quarter, rng, n_events))

    for name, picks in (
        ("bifrost", [("arc_angle", "unified_detector"), ("pixels", "unified_detector")]),
        (
            "dream",
            [
                ("cylinder_mantle_z", "mantle_detector"),
                ("mantle_front_layer", "mantle_detector"),
                ("endcap_xy", "endcap_backward_detector"),
                ("high_resolution_xy", "high_resolution_detector"),
            ],
        ),
        ("loki", [("detector_xy", "loki_detector_0"), ("detector_straws", "loki_detector_0")]),
    ):
        inst = load_instrument(name)
        specs = {v.name: v for v in _views(inst)}
        for view_name, source in picks:
            bank = inst.detector(source)
            view = build_view(inst, bank, specs[view_name])
            label = f"{name} {view_name} {source.removesuffix('_detector')}"
            result.append(view_case(label, bank, view, rng, n_events))
    loki = load_instrument("loki")
    rear = loki.detector("loki_detector_0")
    xy = XYProjection().build(loki.geometry(rear.name))
    result.append(
        view_case("loki detector_xy rear, 1% bad ids", rear, xy, rng, n_events, bad_ids=True)
    )
    result.append(
        view_case(
            "loki detector_xy rear, ToA window",
            rear,
            xy,
            rng,
            n_events,
            toa_window=(10_000_000, 40_000_000),
        )
    )
    result.append(
        view_case(
            "loki detector_xy rear, fake SANS events",
            rear,
            xy,
            rng,
            n_events,
            events=fake_events(loki, rear, n_events),
        )
    )
    weights = (loki.geometry(rear.name).l2 / loki.geometry(rear.name).l2.min()) ** 2
    result.append(
        view_case("loki detector_xy rear, weighted", rear, xy, rng, n_events, weights=weights)
    )
    return result


def fake_events(
    inst: Instrument, bank: DetectorBank, n_events: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """The fake producer's events of ``bank`` (its pattern: clustered, not uniform)."""
    from livedata.services.fake_producers.patterns import instrument_models, sample_events

    assert inst.fake_beam is not None
    model = next(m for m in instrument_models(inst) if m.bank.name == bank.name)
    distinct = sample_events(np.random.default_rng(2), model, inst.fake_beam, 1 << 21)
    return np.resize(distinct[0], n_events), np.resize(distinct[1], n_events)


def _views(inst: Instrument) -> tuple[DetectorView, ...]:
    module = __import__(f"livedata.config.instruments.{inst.name}.specs", fromlist=["x"])
    views: tuple[DetectorView, ...] = module.DETECTOR_VIEWS
    return views


def service_throughput(rate: int, seconds: int) -> tuple[float, int]:
    """CPU seconds per data-second of the LoKI detector_data processor at ``rate``."""
    from livedata.core.batching import NS_PER_S, DataTimeBatcher
    from livedata.core.identity import WorkflowId
    from livedata.core.job_manager import JobManager
    from livedata.core.message import Message, StreamId, StreamKind
    from livedata.core.processor import OrchestratingProcessor, ServiceIdentity
    from livedata.services.fake_producers.pacing import Pulse
    from livedata.services.fake_producers.sources import EventSource, Kind, SourceOptions
    from livedata.services.fake_producers.sources import build_sources as fake_sources
    from livedata.testing import FakeClock, FakeSink, FakeSource
    from livedata.testing.messages import T0, start_command

    inst = load_instrument("loki")
    clock = FakeClock(T0)
    source, sink = FakeSource(), FakeSink()
    processor = OrchestratingProcessor(
        identity=ServiceIdentity(instrument="loki", service_name="detector_data", worker_id="b"),
        source=source,
        sink=sink,
        batcher=DataTimeBatcher(clock=clock),
        job_manager=JobManager(
            instrument="loki",
            registry=inst.build_workflows(inst).for_service("detector_data"),
        ),
        clock=clock,
    )
    workflow = WorkflowId(instrument="loki", name="detector_xy", version=1)
    source.push(*(start_command(workflow, bank.name) for bank in inst.detectors))
    processor.process()
    assert all(r.error is None for r in sink.responses)
    assert len(sink.responses) == 9
    options = SourceOptions(
        kinds=frozenset({Kind.DETECTOR}), event_rate=rate, monitor_rate=0, frame_rate=0
    )
    generators = list(fake_sources(inst, options, rng=np.random.default_rng(1), start_ns=T0))
    pulse_ns = NS_PER_S // 14
    first_pulse = T0 // pulse_ns + 1

    def second(k: int) -> list[Message[object]]:
        messages: list[Message[object]] = []
        for p in range(14):
            pulse = Pulse(first_pulse + 14 * k + p)
            for s in generators:
                assert isinstance(s, EventSource)
                batch = s._generator.events(pulse)  # the events, not the ev44 bytes
                stream = StreamId(kind=StreamKind.DETECTOR_EVENTS, name=s.name)
                messages.append(Message(timestamp=pulse.time_ns, stream=stream, value=batch))
        return messages

    feed = [second(k) for k in range(seconds + 2)]  # built before timing
    for k in range(2):  # warm up: first windows, page faults of the histograms
        clock.set(feed[k][-1].timestamp)
        source.push(*feed[k])
        processor.process()
    published = len(sink.outputs("counts_total"))
    spent = 0.0
    for k in range(2, seconds + 2):
        clock.set(feed[k][-1].timestamp)
        source.push(*feed[k])
        spent += cpu_seconds(processor.process)
    # What the windows closed while timing counted (one window lags the feed).
    counted = sum(r.data.value for r in sink.outputs("counts_total")[published:])
    windows = (len(sink.outputs("counts_total")) - published) // len(inst.detectors)
    assert windows == seconds, windows
    return spent / seconds, int(counted) // seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=float, default=1e7, help="events per run")
    parser.add_argument("--repeats", type=int, default=7, help="runs per figure (median)")
    parser.add_argument("--only", default="", help="only views whose name contains this")
    parser.add_argument("--no-service", action="store_true", help="skip part 2")
    parser.add_argument("--seconds", type=int, default=5, help="data-seconds of part 2")
    args = parser.parse_args()
    n_events = int(args.events)
    rng = np.random.default_rng(20_260_521)
    print(
        f"{n_events:.0e} events per run, median of {args.repeats}, events per CPU-second (one core)"
    )
    print(
        f"{'view':<46}{'pixels':>11}{'bins':>10}{'ours':>9}{'bincount':>11}{'ratio':>7}"
        f"{'target':>8}"
    )
    below = []
    for case in cases(rng, n_events):
        if args.only not in case.name:
            continue
        ours, base, ratio = measure(case, n_events, args.repeats)
        verdict = "PASS" if ratio >= IMAGE_TARGET else "BELOW"
        if verdict == "BELOW":
            below.append(case.name)
        print(
            f"{case.name:<46}{case.pixels:>11,}{case.bins:>10,}{ours / 1e6:>7.0f} M"
            f"{base / 1e6:>9.0f} M{ratio:>7.2f}{IMAGE_TARGET:>8.1f}  {verdict}",
            flush=True,
        )
    print(f"\n{len(below)} below target" + (": " + "; ".join(below) if below else ""))
    if not args.no_service:
        rate = 10_000_000
        cpu, per_second = service_throughput(rate, args.seconds)
        verdict = "PASS" if cpu < 1 else "BELOW"
        print(
            f"\nloki detector_data, 9 detector_xy jobs, {per_second:.2e} events/data-second: "
            f"{cpu:.3f} CPU-s per data-second ({per_second / cpu / 1e6:.0f} M events/CPU-s), "
            f"target < 1 CPU-s: {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
