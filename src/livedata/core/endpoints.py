"""The two seams between a processor and the outside: where messages come from and go."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from livedata.core.message import Message


class MessageSource(Protocol):
    """Decoded messages, already routed to internal streams."""

    def get_messages(self) -> Sequence[Message[Any]]:
        """Return what arrived since the last call; may wait briefly when nothing did."""
        ...

    def stats(self) -> Mapping[str, Any]:
        """Counters for the heartbeat: dropped batches, rejected messages by reason."""
        ...


class MessageSink(Protocol):
    """Takes results, command responses and status reports (``Message`` values)."""

    def publish(self, messages: Sequence[Message[Any]]) -> None: ...

    def flush(self, timeout_s: float) -> None:
        """Deliver what is queued, waiting at most ``timeout_s``."""
        ...

    def stats(self) -> Mapping[str, Any]:
        """Counters for the heartbeat: produced, failed deliveries, dropped messages."""
        ...


@runtime_checkable
class ReportsBufferedBytes(Protocol):
    """Optional for a source, sink or batcher: the bytes it holds now in its bounded
    buffers (queued payloads, an open window). The memory guard does not blame a job for
    memory these hold; they drain by themselves. Must be cheap (read once a second)."""

    def buffered_bytes(self) -> int: ...
