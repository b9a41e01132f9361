"""Fake clock, source, sink and processor satisfying the core protocols without Kafka or
time."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from livedata.core.control import CommandResponse
from livedata.core.message import Message, StreamKind
from livedata.core.results import Result
from livedata.core.service import Service
from livedata.core.status import JobStatus, ServiceStatus


class FakeClock:
    """A wall clock that moves only when told to."""

    def __init__(self, now_ns: int = 1_700_000_000_000_000_000) -> None:
        self._now = now_ns

    def now_ns(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += int(seconds * 1e9)

    def set(self, now_ns: int) -> None:
        self._now = now_ns


class StepCounter:
    """A ``Processor`` for the service loop: counts its steps, raises at step ``fail_at``
    and, once given its ``service``, asks it to stop after the third step."""

    def __init__(self, *, fail_at: int | None = None) -> None:
        self.steps = 0
        self.fail_at = fail_at
        self.shutdowns: list[str | None] = []
        """The ``error`` of each ``shutdown`` call."""
        self.service: Service | None = None

    def process(self) -> None:
        self.steps += 1
        if self.steps == self.fail_at:
            raise RuntimeError("kaput")
        if self.steps == 3 and self.service is not None:
            self.service.request_stop()

    def shutdown(self, *, error: str | None = None) -> None:
        self.shutdowns.append(error)


class FakeSource:
    """Hands out queued message lists, one list per ``get_messages`` call."""

    def __init__(self, batches: Iterable[Sequence[Message[Any]]] = ()) -> None:
        self._queue: deque[Sequence[Message[Any]]] = deque(batches)
        self.rejected: Counter[str] = Counter()
        """Pretend ingress rejections, reported through ``stats``."""

    def push(self, *messages: Message[Any]) -> None:
        self._queue.append(list(messages))

    def get_messages(self) -> Sequence[Message[Any]]:
        return self._queue.popleft() if self._queue else []

    @property
    def pending(self) -> int:
        return len(self._queue)

    def stats(self) -> Mapping[str, Any]:
        return {"rejected": dict(self.rejected), "dropped_batches": 0}


class FakeSink:
    """Keeps everything published, with views by kind."""

    def __init__(self) -> None:
        self.messages: list[Message[Any]] = []
        self.flushed = 0

    def publish(self, messages: Sequence[Message[Any]]) -> None:
        self.messages.extend(messages)

    def flush(self, timeout_s: float) -> None:
        self.flushed += 1

    def stats(self) -> Mapping[str, Any]:
        return {"produced": len(self.messages)}

    def _values(self, kind: StreamKind) -> list[Any]:
        return [m.value for m in self.messages if m.stream.kind is kind]

    @property
    def results(self) -> list[Result]:
        return self._values(StreamKind.RESULTS)

    @property
    def responses(self) -> list[CommandResponse]:
        return self._values(StreamKind.RESPONSES)

    @property
    def job_statuses(self) -> list[JobStatus]:
        return [v for v in self._values(StreamKind.STATUS) if isinstance(v, JobStatus)]

    @property
    def service_statuses(self) -> list[ServiceStatus]:
        return [v for v in self._values(StreamKind.STATUS) if isinstance(v, ServiceStatus)]

    def outputs(self, name: str) -> list[Result]:
        """Results of one output name, in publication order."""
        return [r for r in self.results if r.key.output_name == name]
