"""Downsampling a result that is too large for one Kafka message.

A result over the results topic's size limit (a large detector image, or a broker
configured with a small ``max.message.bytes``) is published at a lower resolution rather
than not at all: neighbouring bins of its largest dimension are combined in pairs until
it fits. Counts add up (the total is kept); any other unit is a density or a mean, and
is averaged. Bin edges keep every other edge, point coordinates take the pair's mean
(floats) or first value (integers, datetimes), and a combined bin is masked if either
part was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipp as sc

MAX_HALVINGS = 64
"""Each step halves one dimension; 64 steps reduce any array we can hold to one bin."""


@dataclass(frozen=True, slots=True)
class Downsampled:
    data: sc.DataArray
    factors: dict[str, int]
    """How many original bins each combined bin of a dimension holds (at most)."""

    def describe(self) -> str:
        """``"y/2, x/4"``: for labels and logs."""
        return ", ".join(f"{dim}/{factor}" for dim, factor in self.factors.items())


def downsample_to_fit(
    data: sc.DataArray, fits: Callable[[sc.DataArray], bool]
) -> Downsampled | None:
    """Halve the largest dimension of ``data`` until ``fits`` says it does; ``None`` if
    it cannot be made to fit (0-d, not numeric, or too large even as one bin)."""
    if not _numeric(data.data):
        return None
    factors: dict[str, int] = {}
    current = data
    for _ in range(MAX_HALVINGS):
        dim = _largest_dim(current)
        if dim is None:
            return None
        current = halve(current, dim)
        factors[dim] = factors.get(dim, 1) * 2
        if fits(current):
            return Downsampled(current, factors)
    return None


def halve(data: sc.DataArray, dim: str) -> sc.DataArray:
    """Combine neighbouring pairs of bins along ``dim`` (an odd last bin stays alone)."""
    size = data.sizes[dim]
    starts = np.arange(0, size, 2)
    extensive = data.unit == sc.units.counts
    out = sc.DataArray(_combine(data.data, dim, starts, mean=not extensive))
    for name, coord in data.coords.items():
        out.coords[name] = _coarsen_coord(coord, dim, size, starts)
    for name, mask in data.masks.items():
        if dim not in mask.dims:
            out.masks[name] = mask.copy()
            continue
        axis = mask.dims.index(dim)
        values = np.logical_or.reduceat(mask.values, starts, axis=axis)
        out.masks[name] = sc.array(dims=mask.dims, values=values)
    out.name = data.name
    return out


def _largest_dim(data: sc.DataArray) -> str | None:
    candidates = [(size, dim) for dim, size in data.sizes.items() if size > 1]
    return max(candidates)[1] if candidates else None


_NUMERIC = (sc.DType.float64, sc.DType.float32, sc.DType.int64, sc.DType.int32)


def _numeric(variable: sc.Variable) -> bool:
    return variable.dtype in _NUMERIC


def _group_sizes(
    size: int, starts: npt.NDArray[np.int64], axis: int, ndim: int
) -> npt.NDArray[np.float64]:
    counts = np.diff(np.append(starts, size)).astype(np.float64)
    shape = [1] * ndim
    shape[axis] = len(counts)
    return counts.reshape(shape)


def _combine(
    variable: sc.Variable, dim: str, starts: npt.NDArray[np.int64], *, mean: bool
) -> sc.Variable:
    """Sum (or average) groups of ``variable`` along ``dim`` starting at ``starts``."""
    axis = variable.dims.index(dim)
    size = variable.shape[axis]
    values = np.add.reduceat(variable.values, starts, axis=axis)
    variances = (
        None
        if variable.variances is None
        else np.add.reduceat(variable.variances, starts, axis=axis)
    )
    if mean:
        counts = _group_sizes(size, starts, axis, variable.ndim)
        values = values / counts
        if variances is not None:
            variances = variances / counts**2
    return sc.array(dims=variable.dims, values=values, variances=variances, unit=variable.unit)


def _coarsen_coord(
    coord: sc.Variable, dim: str, size: int, starts: npt.NDArray[np.int64]
) -> sc.Variable:
    if dim not in coord.dims:
        return coord.copy()
    axis = coord.dims.index(dim)
    if coord.shape[axis] == size + 1:  # bin edges: keep the edges between the new bins
        return _take(coord, axis, np.append(starts, size))
    if coord.dtype in (sc.DType.float64, sc.DType.float32):
        return _combine(coord, dim, starts, mean=True)
    return _take(coord, axis, starts)


def _take(coord: sc.Variable, axis: int, indices: npt.NDArray[np.int64]) -> sc.Variable:
    values = np.take(coord.values, indices, axis=axis)
    variances = None if coord.variances is None else np.take(coord.variances, indices, axis=axis)
    return sc.array(dims=coord.dims, values=values, variances=variances, unit=coord.unit)
