"""Time of arrival at ESS: the frame it lives in, and the range a user may select."""

from __future__ import annotations

import pydantic

TOA_DIM = "time_of_arrival"
"""The dim of time-of-arrival spectra (bin edges in ns)."""

FRAME_PERIOD_NS = 71_428_571
"""ESS delivers 14 pulses per second; an event's time of arrival is measured from the
start of its pulse, so it normally lies in ``[0, 1 s / 14)``."""

TOA_MARGIN_NS = 7_142_857
"""A tenth of a frame beyond the period: electronics may stamp a slow neutron against
the previous pulse a little after the next one began. Ranges may reach into it;
anything wider is a mistake, not a selection."""

TOA_LIMIT_NS = FRAME_PERIOD_NS + TOA_MARGIN_NS


class TimeOfArrivalRange(pydantic.BaseModel):
    """A half-open time-of-arrival range ``[start_ns, stop_ns)`` within one frame."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    start_ns: int = pydantic.Field(ge=0, le=TOA_LIMIT_NS, description="Start (ns), inclusive.")
    stop_ns: int = pydantic.Field(ge=0, le=TOA_LIMIT_NS, description="Stop (ns), exclusive.")

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> TimeOfArrivalRange:
        if self.start_ns >= self.stop_ns:
            raise ValueError(f"start_ns ({self.start_ns}) must be below stop_ns ({self.stop_ns})")
        return self

    def as_tuple(self) -> tuple[int, int]:
        return self.start_ns, self.stop_ns


FULL_FRAME = TimeOfArrivalRange(start_ns=0, stop_ns=FRAME_PERIOD_NS)
"""The whole nominal frame; the default where a range is always needed."""
