"""Bin edges of a physical coordinate (wavelength, Q, d-spacing): linear or logarithmic.

:class:`CoordinateBins` is what the kernels use; :class:`Binning` is the params model a
user sends (bounded, finite, ordered), subclassed per coordinate for its unit, limits
and defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pydantic

MAX_COORDINATE_BINS = 10_000
"""Far more bins than a plot has pixels across; keeps results and kernels small (the
per-chunk ``bincount`` then stays in cache)."""

MIN_RELATIVE_BIN_WIDTH = 1e-5
"""The narrowest bin, relative to the coordinate (10 ppm; DREAM's best resolution is
~1000 ppm). Bounding it keeps the kernels' float arithmetic at least four orders of
magnitude finer than a bin, which their exact edge placement relies on."""

Scale = Literal["linear", "log"]


@dataclass(frozen=True, slots=True)
class CoordinateBins:
    """``count`` bins over the half-open range ``[start, stop)``, equal in ``x`` (linear)
    or in ``log x`` (log). ``start`` is positive: every coordinate binned here is."""

    start: float
    stop: float
    count: int
    scale: Scale = "linear"

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_COORDINATE_BINS:
            raise ValueError(f"need 1 to {MAX_COORDINATE_BINS} bins, got {self.count}")
        if not (math.isfinite(self.start) and math.isfinite(self.stop)):
            raise ValueError(f"range [{self.start}, {self.stop}) is not finite")
        if not 0 < self.start < self.stop:
            raise ValueError(f"range [{self.start}, {self.stop}) must be positive and ordered")
        if self.scale not in ("linear", "log"):
            raise ValueError(f"scale must be 'linear' or 'log', got {self.scale!r}")
        if self.relative_width() < MIN_RELATIVE_BIN_WIDTH:
            raise ValueError(
                f"{self.count} {self.scale} bins over [{self.start}, {self.stop}) are "
                f"narrower than {MIN_RELATIVE_BIN_WIDTH:g} of the coordinate"
            )

    def relative_width(self) -> float:
        """The narrowest bin's width divided by the coordinate at its upper edge."""
        if self.scale == "log":
            return -math.expm1(-math.log(self.stop / self.start) / self.count)
        return (self.stop - self.start) / self.count / self.stop

    def edges(self) -> npt.NDArray[np.float64]:
        """The ``count + 1`` edges; the first is ``start`` and the last ``stop``, exactly."""
        if self.scale == "log":
            edges = np.geomspace(self.start, self.stop, self.count + 1)
        else:
            edges = np.linspace(self.start, self.stop, self.count + 1)
        edges[0], edges[-1] = self.start, self.stop
        return edges


class Binning(pydantic.BaseModel):
    """Base of the per-coordinate binning params: ``bins`` over ``[start, stop)``.

    Subclasses redeclare the fields with the coordinate's unit, bounds and defaults;
    the checks here (ordered range, bins not absurdly narrow) apply to all of them.
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    start: float = pydantic.Field(gt=0)
    stop: float = pydantic.Field(gt=0)
    bins: int = pydantic.Field(ge=1, le=MAX_COORDINATE_BINS)
    scale: Scale = "linear"

    @pydantic.model_validator(mode="after")
    def _valid(self) -> Binning:
        self.to_bins()  # its ValueError becomes the ValidationError the client sees
        return self

    def to_bins(self) -> CoordinateBins:
        return CoordinateBins(self.start, self.stop, self.bins, self.scale)
