"""Area detector view: the sum of a camera's frames per window and since start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipp as sc

from livedata.core.values import AreaFrame
from livedata.core.workflow import OutputSpec
from livedata.workflows import outputs
from livedata.workflows.refusals import Refusals
from livedata.workflows.windowed import WindowedSum

AREA_DIMS = ("y", "x")
"""ad00 frames are row-major images: rows are ``y``, columns ``x``."""


def area_detector_outputs() -> dict[str, OutputSpec]:
    """Output templates: zero-size images on ``y``, ``x`` with pixel-index coords."""
    image = _image(np.zeros((0, 0)), outputs.index_coords(AREA_DIMS, (0, 0)))
    return {
        "cumulative": OutputSpec(
            title="Sum since start",
            template=image,
            description="Sum of all frames since the job started or was reset.",
        ),
        "current": OutputSpec(
            title="Sum in window",
            template=image,
            description="Sum of the frames of the last data window.",
        ),
    }


def _image(
    values: np.ndarray[Any, Any], coords: Mapping[str, sc.Variable], start_time: int | None = None
) -> sc.DataArray:
    # Camera intensities are ADU, not Poisson event counts (gain, dark offset), so
    # they carry no variances.
    da = sc.DataArray(
        sc.array(
            dims=list(AREA_DIMS), values=np.asarray(values, dtype=np.float64), unit=outputs.COUNTS
        ),
        coords=dict(coords),
    )
    if start_time is not None:
        da.coords["start_time"] = outputs.time_coord(start_time)
    return da


class AreaDetectorViewWorkflow:
    """Sums ad00 frames of one camera; frames of another shape or of a non-numeric
    dtype are refused one by one (the job's warning counts them)."""

    def __init__(self, *, source_name: str, shape: tuple[int, int]) -> None:
        self._source = source_name
        self._shape = tuple(shape)
        # float64 sums integer frames exactly up to 2**53 and takes float frames as is.
        self._sum = WindowedSum(self._shape, dtype=np.float64)
        self._coords = outputs.index_coords(AREA_DIMS, self._shape)
        self._refused = Refusals("frames")

    @property
    def problems(self) -> list[str]:
        """Frames refused since the job started or was reset (``ReportsProblems``)."""
        return self._refused.problems()

    def accumulate(self, data: Mapping[str, Any], *, start_time: int, end_time: int) -> None:
        window = self._sum.open(start_time)
        for frame in data[self._source]:
            try:
                array = self._checked(frame)
            except (TypeError, ValueError) as err:
                # Only this frame: the good ones of the same window are kept.
                self._refused.add(str(err))
                continue
            window += array

    def _checked(self, frame: Any) -> np.ndarray[Any, Any]:
        if not isinstance(frame, AreaFrame):
            raise TypeError(f"{self._source}: expected AreaFrame, got {type(frame).__name__}")
        array = np.asarray(frame.data)
        if array.shape != self._shape:
            raise ValueError(
                f"{self._source}: frame {frame.unique_id} has shape {array.shape}, "
                f"expected {self._shape}"
            )
        if not (np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array)):
            raise TypeError(f"{self._source}: frame {frame.unique_id} has dtype {array.dtype}")
        return array

    def finalize(self) -> Mapping[str, sc.DataArray]:
        self._sum.close()
        return {
            "cumulative": _image(self._sum.total, self._coords),
            "current": _image(self._sum.window, self._coords, start_time=self._sum.window_start),
        }

    def clear(self) -> None:
        self._sum.clear()
        self._refused.clear()
