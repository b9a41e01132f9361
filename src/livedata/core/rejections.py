"""The messages a service's ingress refused, by reason, read from its heartbeat.

A service reports them in ``ServiceStatus.stream_stats["ingress"]["rejected"]`` as
``{stream: {reason: count}}``. Both status views (the dashboard's status tab and
``livedata ctl status``) show them by reason, most frequent first, with the routine
skips left out. The heartbeat is untrusted JSON: a counter of an unexpected shape is
skipped, never fatal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROUTINE_REJECTIONS = frozenset({"not_wanted"})
"""Ingress reasons that are not problems: a shared topic carries streams others read."""


@dataclass(frozen=True, slots=True)
class ReasonCount:
    reason: str
    total: int
    streams: Mapping[str, int]
    """The count under each stream the reason was counted for."""


def rejections_by_reason(stream_stats: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """``{reason: {stream: count}}`` of the messages a service's ingress refused, routine
    skips (``not_wanted``) and counters that are not positive integers left out."""
    ingress = stream_stats.get("ingress")
    rejected = ingress.get("rejected") if isinstance(ingress, Mapping) else None
    out: dict[str, dict[str, int]] = {}
    if not isinstance(rejected, Mapping):
        return out
    for stream, reasons in rejected.items():
        if not isinstance(reasons, Mapping):
            continue
        for reason, count in reasons.items():
            if reason in ROUTINE_REJECTIONS or isinstance(count, bool):
                continue
            if isinstance(count, int) and count > 0:
                out.setdefault(str(reason), {})[str(stream)] = count
    return out


def ranked_rejections(stream_stats: Mapping[str, Any]) -> list[ReasonCount]:
    """Each reason with its total, most frequent first (ties by name)."""
    counts = [
        ReasonCount(reason=reason, total=sum(streams.values()), streams=streams)
        for reason, streams in rejections_by_reason(stream_stats).items()
    ]
    return sorted(counts, key=lambda count: (-count.total, count.reason))


def rejected_total(stream_stats: Mapping[str, Any]) -> int:
    """All the messages ``rejections_by_reason`` counts: the figure a status table shows
    next to them, so the two never disagree."""
    return sum(sum(streams.values()) for streams in rejections_by_reason(stream_stats).values())
