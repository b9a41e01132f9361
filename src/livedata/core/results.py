"""What a job publishes: one DataArray per output, named by its result key."""

from __future__ import annotations

from dataclasses import dataclass

import scipp as sc

from livedata.core.identity import ResultKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """One output of one job; ``data`` carries 0-d ``start_time`` and ``time`` coords."""

    key: ResultKey
    data: sc.DataArray
    title: str = ""
    """Human-readable name of the output (the da00 signal's label)."""
