"""Total counts: how many events a source delivered, per window and since start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import scipp as sc

from livedata.core.values import EventBatch
from livedata.core.workflow import OutputSpec
from livedata.workflows import outputs
from livedata.workflows.windowed import WindowedSum


def total_counts_outputs() -> dict[str, OutputSpec]:
    template = outputs.scalar_counts(0)
    return {
        "total": OutputSpec(
            title="Total counts",
            template=template,
            description="Events received since the job started or was reset.",
        ),
        "current": OutputSpec(
            title="Counts in window",
            template=template,
            description="Events received in the last data window.",
        ),
    }


class TotalCountsWorkflow:
    """Counts every event of the source, whatever its pixel id or time of arrival."""

    def __init__(self, *, source_name: str) -> None:
        self._source = source_name
        self._counts = WindowedSum(())

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        events = data[self._source]
        if not isinstance(events, EventBatch):
            raise TypeError(f"{self._source}: expected EventBatch, got {type(events).__name__}")
        self._counts.open(start_time)[()] += len(events)

    def finalize(self) -> Mapping[str, sc.DataArray]:
        self._counts.close()
        return {
            "total": outputs.scalar_counts(int(self._counts.total)),
            "current": outputs.scalar_counts(
                int(self._counts.window), start_time=self._counts.window_start
            ),
        }

    def clear(self) -> None:
        self._counts.clear()
