"""The fake producer's loop: one pulse at a time, in real time, every source polled."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from livedata.services.fake_producers.pacing import NS_PER_S, PacingClock, PulsePacer
from livedata.services.fake_producers.sources import Kind, Outgoing, Source
from livedata.services.fake_producers.transport import Transport

logger = structlog.get_logger(__name__)

PROGRESS_INTERVAL_S = 10.0
"""How often the producer logs what it sent."""

FLUSH_TIMEOUT_S = 5.0
"""Longest wait for queued messages on exit, inside the 5 s a stopping process gets."""


class FakeProducer:
    """Polls every source once per pulse and hands what they send to a transport."""

    def __init__(
        self,
        *,
        sources: Sequence[Source],
        transport: Transport,
        clock: PacingClock,
        progress_interval_s: float = PROGRESS_INTERVAL_S,
        cpu_seconds: Callable[[], float] = time.process_time,
    ) -> None:
        self._sources = list(sources)
        self._transport = transport
        self._clock = clock
        self._pacer = PulsePacer(clock)
        self._progress_ns = int(progress_interval_s * NS_PER_S)
        self._cpu_seconds = cpu_seconds
        self._messages: Counter[str] = Counter()
        """Messages handed to the transport, by source kind."""
        self._events: Counter[str] = Counter()
        """Events handed to the transport, by source name."""
        self._event_kinds = {s.name: s.kind for s in self._sources}
        self._pulses = 0
        """Pulses whose messages were sent."""

    def run(
        self, *, duration_s: float | None = None, should_stop: Callable[[], bool] = lambda: False
    ) -> Mapping[str, Any]:
        """Produce until ``should_stop()`` or for ``duration_s``; flush and return ``stats()``."""
        self._pacer = PulsePacer(self._clock)  # join the grid now, not when built
        start = self._clock.now_ns()
        end = None if duration_s is None else start + int(duration_s * NS_PER_S)
        mark = (start, self._cpu_seconds(), self.detector_events())
        logger.info("producer_started", sources=[f"{s.kind}:{s.name}" for s in self._sources])
        while not should_stop():
            if end is not None and self._clock.now_ns() >= end:
                break
            pulse = self._pacer.next_pulse(should_stop)
            if pulse is None or (end is not None and pulse.end_ns > end):
                break
            for source in self._sources:
                self._send(source, source.poll(pulse))
            self._pulses += 1
            self._transport.poll()
            now = self._clock.now_ns()
            if now - mark[0] >= self._progress_ns:
                mark = self._log_progress(mark, now)
        now = self._clock.now_ns()
        for source in self._sources:
            self._send(source, source.close(now))
        remaining = self._transport.flush(FLUSH_TIMEOUT_S)
        stats = self.stats()
        logger.info("producer_stopped", undelivered=remaining, **stats)
        return stats

    def detector_events(self) -> int:
        return sum(
            n for name, n in self._events.items() if self._event_kinds[name] is Kind.DETECTOR
        )

    def stats(self) -> dict[str, Any]:
        return {
            "pulses": self._pulses,
            "skipped_pulses": self._pacer.skipped,
            "clock_resyncs": self._pacer.resyncs,
            "messages": dict(self._messages),
            "events": dict(self._events),
            **self._transport.counters(),
        }

    def _send(self, source: Source, messages: list[Outgoing]) -> None:
        for m in messages:
            if self._transport.send(m.topic, m.payload, m.timestamp_ns):
                self._messages[source.kind.value] += 1
                if m.events:
                    self._events[source.name] += m.events

    def _log_progress(self, mark: tuple[int, float, int], now: int) -> tuple[int, float, int]:
        cpu = self._cpu_seconds()
        events = self.detector_events()
        elapsed = (now - mark[0]) / NS_PER_S
        counters = self._transport.counters()
        logger.info(
            "producer_progress",
            messages=sum(self._messages.values()),
            events=sum(self._events.values()),
            event_rate=round((events - mark[2]) / elapsed),
            cpu=round((cpu - mark[1]) / elapsed, 3),
            skipped_pulses=self._pacer.skipped,
            dropped=counters.get("dropped_queue_full", 0) + counters.get("produce_failed", 0),
            delivery_failed=counters.get("delivery_failed", 0),
        )
        return now, cpu, events
