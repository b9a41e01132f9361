"""Items a workflow refused one at a time, reported as the job's warning.

A window joins every message of a stream; if one bad item (a frame of the wrong size,
an array on a scalar log) failed the whole window, the good items sent next to it
would be lost with it. Workflows refuse such items one by one and say so instead.
"""

from __future__ import annotations


class Refusals:
    """How many items were refused since the last ``clear``, and why the last one was."""

    def __init__(self, noun: str) -> None:
        self._noun = noun
        self.count = 0
        self.last_reason = ""

    def add(self, reason: str) -> None:
        self.count += 1
        self.last_reason = reason[:300]

    def problems(self) -> list[str]:
        """For ``ReportsProblems``: nothing, or one line with the count and last reason."""
        if not self.count:
            return []
        return [f"{self.count} {self._noun} refused, last: {self.last_reason}"]

    def clear(self) -> None:
        self.count = 0
        self.last_reason = ""
