"""The instrument model: what an instrument has, where its streams are, what it runs.

An instrument is built by a plain function (no work on import) and found through the
``livedata.instruments`` entry-point group, so an instrument team can ship its own
package. Production topic names differ per instrument; the dev names follow WIRE.md.

Geometry is optional and synthetic: a bank with a ``geometry`` (``livedata.config.geometry``)
and an instrument with a ``source_position`` give ``Instrument.geometry(bank)``, the
``BeamlineGeometry`` projections and reductions use. It is computed on first use and
kept, so listing an instrument or its workflows never computes pixel positions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from livedata.config.fake_models import FakeBeam, FakeSample
from livedata.config.geometry import PixelGeometry, Vec3
from livedata.config.topics import Topic, topic_name
from livedata.core.message import StreamId, StreamKind
from livedata.core.workflow import WorkflowRegistry

if TYPE_CHECKING:
    from livedata.workflows.geometry import BeamlineGeometry


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorBank:
    """An event detector: pixel ids ``first_pixel_id ..`` laid out row-major in ``shape``."""

    name: str
    shape: tuple[int, ...]
    dims: tuple[str, ...]
    first_pixel_id: int = 1
    geometry: PixelGeometry | None = None
    """Where the pixels are (synthetic); ``None`` for a bank without known geometry."""

    def __post_init__(self) -> None:
        if len(self.shape) != len(self.dims):
            raise ValueError(f"detector {self.name}: shape {self.shape} vs dims {self.dims}")
        if self.geometry is not None:
            self.geometry.check(self.shape)

    @property
    def n_pixels(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True, slots=True, kw_only=True)
class Monitor:
    name: str
    histogram: bool = False
    """True when the monitor publishes da00 histograms instead of ev44 events."""
    position: Vec3 | None = None
    """Metres, in the frame of the instrument's geometry (sample at the origin)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LogSignal:
    """A slow-control value (f144) with its unit and an optional valid range."""

    name: str
    unit: str
    valid_range: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AreaDetector:
    name: str
    shape: tuple[int, int]


StreamMapping = Mapping[tuple[str, str], StreamId]
"""``(topic, source_name)`` -> internal stream."""


@dataclass(frozen=True, kw_only=True)
class Instrument:
    name: str
    detectors: tuple[DetectorBank, ...] = ()
    monitors: tuple[Monitor, ...] = ()
    logs: tuple[LogSignal, ...] = ()
    area_detectors: tuple[AreaDetector, ...] = ()
    build_workflows: Callable[[Instrument], WorkflowRegistry] = field(
        default=lambda _: WorkflowRegistry()
    )
    prod_streams: StreamMapping | None = None
    """The production mapping; ``None`` until the instrument's real topics are known."""
    source_position: Vec3 | None = None
    """The moderator, metres (beam along ``+z``: ``(0, 0, -L1)``); ``None``: no geometry."""
    sample_position: Vec3 = (0.0, 0.0, 0.0)
    fake_beam: FakeBeam | None = None
    """What the fake producer's beam looks like (``livedata.config.fake_models``)."""
    fake_sample: FakeSample | None = None
    """What the fake producer's sample scatters like; ``None``: a generic pattern."""
    _geometries: dict[str, BeamlineGeometry] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def detector(self, name: str) -> DetectorBank:
        return _by_name(self.detectors, name, "detector")

    def monitor(self, name: str) -> Monitor:
        return _by_name(self.monitors, name, "monitor")

    def has_geometry(self, bank: str) -> bool:
        """Whether ``geometry(bank)`` works: the bank has a layout and the source a position."""
        return self.source_position is not None and self.detector(bank).geometry is not None

    def geometry(self, bank: str) -> BeamlineGeometry:
        """Source, sample, monitors and ``bank``'s pixel positions; computed once, then kept.

        Raises
        ------
        KeyError
            No bank of that name.
        ValueError
            The bank or the instrument has no geometry.
        """
        cached = self._geometries.get(bank)
        if cached is not None:
            return cached
        # Deferred: the instrument model does not load the workflows layer until asked.
        from livedata.workflows.geometry import BeamlineGeometry

        det = self.detector(bank)
        if det.geometry is None or self.source_position is None:
            raise ValueError(f"instrument {self.name}: detector {bank} has no geometry")
        positions = det.geometry.positions(det.shape)
        positions.flags.writeable = False  # ours alone: BeamlineGeometry keeps it uncopied
        geometry = BeamlineGeometry(
            source_position=np.array(self.source_position, dtype=np.float64),
            sample_position=np.array(self.sample_position, dtype=np.float64),
            pixel_positions=positions,
            monitor_positions={
                m.name: np.array(m.position, dtype=np.float64)
                for m in self.monitors
                if m.position is not None
            },
            first_pixel_id=det.first_pixel_id,
        )
        self._geometries[bank] = geometry
        return geometry

    def log(self, name: str) -> LogSignal:
        return _by_name(self.logs, name, "log")

    def area_detector(self, name: str) -> AreaDetector:
        return _by_name(self.area_detectors, name, "area detector")

    def dev_streams(self) -> dict[tuple[str, str], StreamId]:
        """The development mapping: one topic per kind of source (WIRE.md)."""
        mapping: dict[tuple[str, str], StreamId] = {}

        def add(role: Topic, name: str, kind: StreamKind) -> None:
            mapping[(topic_name(self.name, role), name)] = StreamId(kind=kind, name=name)

        for det in self.detectors:
            add(Topic.DETECTOR, det.name, StreamKind.DETECTOR_EVENTS)
        for mon in self.monitors:
            kind = StreamKind.MONITOR_COUNTS if mon.histogram else StreamKind.MONITOR_EVENTS
            add(Topic.BEAM_MONITOR, mon.name, kind)
        for log in self.logs:
            add(Topic.MOTION, log.name, StreamKind.LOG)
        for area in self.area_detectors:
            add(Topic.AREA_DETECTOR, area.name, StreamKind.AREA_DETECTOR)
        return mapping

    def streams(self, *, dev: bool) -> StreamMapping:
        if dev:
            return self.dev_streams()
        if self.prod_streams is None:
            raise ValueError(f"instrument {self.name} has no production stream mapping yet")
        return self.prod_streams


_Named = TypeVar("_Named", DetectorBank, Monitor, LogSignal, AreaDetector)


def _by_name(items: tuple[_Named, ...], name: str, what: str) -> _Named:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {what} named {name!r}; known: {[i.name for i in items]}")
