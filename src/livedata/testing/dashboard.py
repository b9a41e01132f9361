"""An in-memory dashboard ``Backend`` (``livedata.dashboard.contract``), for UI tests and
the dashboard benchmark: no Kafka, no services.

Jobs start at once (or stay unanswered, to show that failure); :meth:`FakeBackend.feed`
publishes one synthetic result per output of every active job, shaped like the
workflow's output templates, and :class:`FakeFeeder` calls it on a thread at a fixed
rate. ROIs are echoed as the job's ``roi_rectangle`` / ``roi_polygon`` outputs, as the
detector view does.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pydantic
import scipp as sc

from livedata.config.instrument import Instrument
from livedata.core.control import JobAction, Roi, RoiShape, RunPolicy
from livedata.core.identity import JobId, ResultKey, WorkflowId
from livedata.core.status import JobState, JobStatus, ServiceState, ServiceStatus
from livedata.core.workflow import WorkflowSpec
from livedata.dashboard.contract import (
    CommandOutcome,
    InvalidParams,
    JobRow,
    Level,
    Liveness,
    ServiceRow,
)
from livedata.dashboard.status_store import NotificationLog, StatusStore
from livedata.dashboard.stores import ResultStore
from livedata.protocol.roi import rois_to_data_array
from livedata.testing.messages import T0, heartbeat_via_wire, service_status

SPECTRUM_BINS = 100
"""Length of synthetic 1-d outputs whose template has no length yet."""

IMAGE_SIDE = 64
"""Side of synthetic 2-d outputs of an unknown detector."""


def _now() -> int:
    return time.time_ns()


class FakeStatus:
    """Service and job rows (``StatusView``) from what the fake backend did."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._services: dict[str, ServiceRow] = {}
        self._jobs: dict[JobId, JobRow] = {}

    @property
    def version(self) -> int:
        return self._version

    def services(self, now_ns: int) -> list[ServiceRow]:
        with self._lock:
            return sorted(self._services.values(), key=lambda r: r.service_id)

    def jobs(self, now_ns: int) -> list[JobRow]:
        with self._lock:
            return list(self._jobs.values())

    def set_service(self, row: ServiceRow) -> None:
        with self._lock:
            self._services[row.service_id] = row
            self._version += 1

    def set_job(self, row: JobRow) -> None:
        with self._lock:
            self._jobs[row.status.job_id] = row
            self._version += 1

    def job(self, job_id: JobId) -> JobRow | None:
        return self._jobs.get(job_id)


def service_row_via_store(
    stream_stats: Mapping[str, Any], *, worker_id: str = "w1", seen_ns: int = T0
) -> ServiceRow:
    """A row as the dashboard builds it: x5f2 bytes -> heartbeat -> status store -> row."""
    heartbeat = heartbeat_via_wire(service_status(stream_stats, worker_id=worker_id))
    store = StatusStore()
    store.observe(heartbeat, sent_ns=seen_ns)
    (row,) = store.services(seen_ns)
    return row


@dataclass(frozen=True, slots=True)
class SentRois:
    job_id: JobId
    shape: RoiShape
    rois: Mapping[int, Roi]


class FakeBackend:
    """The ``Backend`` contract in memory.

    Parameters
    ----------
    instrument:
        Whose workflows can be started (params are validated against their models).
    answering:
        ``False`` simulates services that never answer: commands are reported as
        unanswered and no job starts.
    """

    def __init__(self, instrument: Instrument, *, answering: bool = True, seed: int = 0) -> None:
        self.instrument = instrument.name
        self.results = ResultStore()
        self.status = FakeStatus()
        self.notifications = NotificationLog()
        self.answering = answering
        self.sent_rois: list[SentRois] = []
        self.actions: list[tuple[JobAction, JobId | None, WorkflowId | None]] = []
        self._specs: dict[WorkflowId, WorkflowSpec] = {
            spec.workflow_id: spec for spec in instrument.build_workflows(instrument).specs()
        }
        self._instrument = instrument
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._started_ns = _now()
        self._totals: dict[ResultKey, float] = {}
        for service in sorted({spec.service for spec in self._specs.values()}):
            self._heartbeat(service)

    # -- the contract -----------------------------------------------------------------

    def start_workflow(
        self,
        workflow_id: WorkflowId,
        sources: Sequence[str],
        params: Mapping[str, Any],
        *,
        aux_source_names: Mapping[str, str] | None = None,
        run_policy: RunPolicy = RunPolicy.KEEP,
        on_outcome: Callable[[CommandOutcome], None] | None = None,
    ) -> list[JobId]:
        spec = self._specs.get(workflow_id)
        if spec is None:
            raise ValueError(f"unknown workflow {workflow_id}")
        unknown = [s for s in sources if s not in spec.source_names]
        if unknown or not sources:
            raise ValueError(f"choose sources among {list(spec.source_names)}, got {unknown}")
        try:
            spec.params.model_validate(dict(params))
        except pydantic.ValidationError as err:
            problems = {
                ".".join(str(p) for p in e["loc"]) or "<root>": e["msg"]
                for e in err.errors(include_url=False)
            }
            raise InvalidParams(str(err), problems) from err
        spec.resolve_aux_sources(aux_source_names or {})
        number = uuid.uuid4()
        job_ids = [JobId(source_name=source, job_number=number) for source in sources]
        devices = list(sources)
        if not self.answering:
            self._outcome(
                on_outcome,
                CommandOutcome(acked=(), refused={}, unanswered=devices),
                f"start {workflow_id.name}: no service answered for {', '.join(devices)}",
            )
            return job_ids
        for job_id in job_ids:
            self._set_job(job_id, workflow_id, JobState.ACTIVE)
        self._outcome(
            on_outcome,
            CommandOutcome(acked=devices, refused={}, unanswered=()),
            f"start {workflow_id.name}: ACK from {', '.join(devices)}",
        )
        return job_ids

    def job_action(
        self,
        action: JobAction,
        *,
        job_id: JobId | None = None,
        workflow_id: WorkflowId | None = None,
        on_outcome: Callable[[CommandOutcome], None] | None = None,
    ) -> None:
        self.actions.append((action, job_id, workflow_id))
        device = str(job_id) if job_id is not None else "all"
        targets = [
            row
            for row in self.status.jobs(_now())
            if (job_id is None or row.status.job_id == job_id)
            and (workflow_id is None or row.status.workflow_id == workflow_id)
        ]
        if not self.answering or not targets:
            self._outcome(
                on_outcome,
                CommandOutcome(acked=(), refused={}, unanswered=[device]),
                f"{action.value} {device}: no service answered",
            )
            return
        for row in targets:
            if action is JobAction.STOP:
                self._set_job(row.status.job_id, row.status.workflow_id, JobState.STOPPED)
            elif action is JobAction.RESET:
                with self._lock:
                    for key in list(self._totals):
                        if key.job_id == row.status.job_id:
                            self._totals[key] = 0.0
        self._outcome(
            on_outcome,
            CommandOutcome(acked=[device], refused={}, unanswered=()),
            f"{action.value} {device}: ACK",
        )

    def _outcome(
        self,
        callback: Callable[[CommandOutcome], None] | None,
        outcome: CommandOutcome,
        text: str,
    ) -> None:
        self.notifications.add(Level.SUCCESS if outcome.ok else Level.ERROR, text)
        if callback is not None:
            callback(outcome)

    def publish_rois(self, job_id: JobId, shape: RoiShape, rois: Mapping[int, Roi]) -> None:
        self.sent_rois.append(SentRois(job_id, shape, dict(rois)))
        row = self.status.job(job_id)
        if row is None:
            return
        echo = rois_to_data_array(shape, rois)
        now = _now()
        echo.coords["start_time"] = sc.scalar(now, unit="ns", dtype="int64")
        echo.coords["time"] = sc.scalar(now, unit="ns", dtype="int64")
        self.results.put(
            ResultKey(
                workflow_id=row.status.workflow_id, job_id=job_id, output_name=f"roi_{shape}"
            ),
            echo,
            received_ns=now,
        )

    # -- driving it -------------------------------------------------------------------

    def feed(self, now_ns: int | None = None) -> int:
        """Publish one synthetic result per output of every active job; return how many."""
        now = _now() if now_ns is None else now_ns
        published = 0
        for row in self.status.jobs(now):
            if row.status.state is not JobState.ACTIVE:
                continue
            spec = self._specs[row.status.workflow_id]
            for name, output in spec.outputs.items():
                if name.startswith("roi_"):
                    continue  # published once ROIs are set, like the detector view
                key = ResultKey(
                    workflow_id=spec.workflow_id, job_id=row.status.job_id, output_name=name
                )
                self.results.put(key, self._synthetic(key, output.template, now), received_ns=now)
                published += 1
        return published

    def heartbeat(self) -> None:
        """Refresh every service row and active job row, as 2 s heartbeats would."""
        for service in sorted({spec.service for spec in self._specs.values()}):
            self._heartbeat(service)
        for row in self.status.jobs(_now()):
            self._set_job(row.status.job_id, row.status.workflow_id, row.status.state)

    def spec(self, workflow_id: WorkflowId) -> WorkflowSpec:
        return self._specs[workflow_id]

    # -- helpers ----------------------------------------------------------------------

    def _heartbeat(self, service: str) -> None:
        now = _now()
        status = ServiceStatus(
            instrument=self.instrument,
            service_name=service,
            worker_id="fake",
            state=ServiceState.RUNNING,
            started_at=self._started_ns,
            active_job_count=0,
            batch_interval_s=1.0,
            stream_stats={"messages": {"fake": int((now - self._started_ns) // 10**7)}},
        )
        self.status.set_service(
            ServiceRow(
                service_id=f"{self.instrument}:{service}:fake",
                status=status,
                software_version="0.0.0-fake",
                host_name="localhost",
                last_seen_ns=now,
                liveness=Liveness.LIVE,
            )
        )

    def _set_job(self, job_id: JobId, workflow_id: WorkflowId, state: JobState) -> None:
        previous = self.status.job(job_id)
        start = previous.status.start_time if previous is not None else _now()
        self.status.set_job(
            JobRow(
                status=JobStatus(
                    job_id=job_id, workflow_id=workflow_id, state=state, start_time=start
                ),
                last_seen_ns=_now(),
                liveness=Liveness.LIVE,
            )
        )

    def _synthetic(self, key: ResultKey, template: sc.DataArray, now: int) -> sc.DataArray:
        return synthetic_result(
            template,
            now_ns=now,
            rng=self._rng,
            image_shape=self._image_shape(key, template),
            total=self._bump_total(key),
        )

    def _image_shape(self, key: ResultKey, template: sc.DataArray) -> tuple[int, ...] | None:
        if template.ndim != 2:
            return None
        for det in self._instrument.detectors:
            if det.name == key.job_id.source_name and tuple(det.dims) == tuple(template.dims):
                return tuple(det.shape)
        for area in self._instrument.area_detectors:
            if area.name == key.job_id.source_name:
                return tuple(area.shape)
        return None

    def _bump_total(self, key: ResultKey) -> float:
        with self._lock:
            self._totals[key] = self._totals.get(key, 0.0) + float(self._rng.integers(900, 1100))
            return self._totals[key]


def synthetic_result(
    template: sc.DataArray,
    *,
    now_ns: int,
    rng: np.random.Generator,
    image_shape: tuple[int, ...] | None = None,
    total: float = 1000.0,
) -> sc.DataArray:
    """A result shaped like ``template``: its dims (with real lengths), coords and unit,
    plus the 0-d ``start_time`` / ``time`` coords every result carries."""
    unit = template.unit
    dims = list(template.dims)
    if template.ndim == 0:
        data = sc.scalar(total, unit=unit)
    else:
        shape = list(image_shape or ())
        if len(shape) != len(dims):
            shape = [SPECTRUM_BINS if template.ndim == 1 else IMAGE_SIDE] * len(dims)
        data = sc.array(dims=dims, values=_blob(shape, rng), unit=unit)
    coords: dict[str, sc.Variable] = {}
    for name, coord in template.coords.items():
        if coord.ndim != 1 or coord.dim not in dims:
            continue
        size = data.sizes[coord.dim]
        edges = coord.sizes[coord.dim] == template.sizes[coord.dim] + 1
        n = size + 1 if edges else size
        if coord.dtype == sc.DType.datetime64:
            values = now_ns - np.arange(n, dtype=np.int64)[::-1] * 1_000_000_000
            coords[name] = sc.datetimes(dims=[coord.dim], values=values, unit="ns")
        elif coord.dtype in (sc.DType.float64, sc.DType.float32, sc.DType.int64, sc.DType.int32):
            step = 1.0 if coord.unit is None else 71_428_571 / max(1, size)
            coords[name] = sc.array(
                dims=[coord.dim], values=np.arange(n) * step, unit=coord.unit
            ).to(dtype=coord.dtype)
    da = sc.DataArray(data, coords=coords)
    da.coords["start_time"] = sc.scalar(now_ns - 1_000_000_000, unit="ns", dtype="int64")
    da.coords["time"] = sc.scalar(now_ns, unit="ns", dtype="int64")
    return da


def _blob(shape: Sequence[int], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """A noisy Gaussian blob (or peak) that wanders a little from call to call."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    centre = rng.normal(0, 0.1, size=len(shape))
    r2 = sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True))
    peak = 100.0 * np.exp(-r2 / 0.1)
    return np.asarray(peak + rng.poisson(5.0, size=tuple(shape)), dtype=np.float64)


class FakeFeeder:
    """Calls ``backend.feed`` at ``rate_hz`` (and heartbeats every 2 s) on a thread."""

    def __init__(
        self,
        backend: FakeBackend,
        *,
        rate_hz: float = 1.0,
        on_feed: Callable[[int], None] | None = None,
    ) -> None:
        self._backend = backend
        self._period = 1.0 / rate_hz
        self._on_feed = on_feed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-feeder", daemon=True)

    def start(self) -> FakeFeeder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        next_beat = 0.0
        deadline = time.monotonic()
        while not self._stop.is_set():
            published = self._backend.feed()
            if self._on_feed is not None:
                self._on_feed(published)
            if time.monotonic() >= next_beat:
                self._backend.heartbeat()
                next_beat = time.monotonic() + 2.0
            deadline += self._period
            self._stop.wait(max(0.0, deadline - time.monotonic()))
