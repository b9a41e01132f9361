"""Views of a detector: which bin of an output image each pixel lands in.

A :class:`PixelView` is an image (``dims``, ``shape``, ``coords``) and a table giving
each pixel's flat bin in it, or none. Every view, logical or geometric, is reduced to
that table once, when a job starts; histogramming a window is then one lookup and one
``np.bincount`` per event (``livedata.workflows.mapped_counts``), whatever the view.

Logical views work in pixel-index space (:class:`LogicalView`), in this order:

1. **fold**: reshape the bank's pixel ids (row-major) into named dims; by default the
   bank's own ``dims`` and ``shape``. One size may be ``-1``: whatever the others leave,
   so one view serves banks of different sizes;
2. **select**: keep the index range ``[start, stop)`` of some dims (a slice);
3. **sum_over**: sum some dims away;
4. **downsample**: sum blocks of ``factor`` neighbours along some dims. A last,
   incomplete block is kept: it holds fewer pixels.

Their images carry index coordinates ``0 .. n-1`` per dim, the numbers ROIs are drawn
in. Geometric projections are in ``livedata.workflows.projections``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
import scipp as sc

from livedata.workflows import outputs

IndexArray = npt.NDArray[np.intp]

MAX_VIEW_DIMS = 8
MAX_VIEW_BINS = 1 << 24
"""Bins of one view image (16.8 M): two int64 histograms of 128 MiB each at most. A
bank's identity view is as large as the bank; no instrument has more pixels."""


class PixelLayout(Protocol):
    """Where a detector's pixels are: ids ``first_pixel_id ..`` row-major in ``shape``.

    ``livedata.config.instrument.DetectorBank`` has this shape; the protocol keeps
    workflows independent of the config layer.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dims(self) -> tuple[str, ...]: ...

    @property
    def first_pixel_id(self) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class PixelView:
    """An output image and where each pixel of a detector lands in it.

    ``bin_of_pixel[i]`` is the flat (row-major) bin of pixel ``first_pixel_id + i``,
    or ``n_bins`` when the pixel is not in the view; ``None`` means the identity (bin
    ``i`` is pixel ``i``, the bank's own image). ``pixels_per_bin`` counts the pixels
    of each bin.
    """

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    coords: Mapping[str, sc.Variable]
    first_pixel_id: int
    n_pixels: int
    bin_of_pixel: IndexArray | None = None
    pixels_per_bin: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if len(self.dims) != len(self.shape) or not self.dims:
            raise ValueError(f"view dims {self.dims} do not match its shape {self.shape}")
        if not 0 < self.n_bins <= MAX_VIEW_BINS:
            raise ValueError(f"a view has 1 to {MAX_VIEW_BINS} bins, not {self.n_bins}")
        if self.bin_of_pixel is None:
            if self.n_bins != self.n_pixels:
                raise ValueError("an identity view has one bin per pixel")
        elif self.bin_of_pixel.shape != (self.n_pixels,):
            raise ValueError(f"need one bin per pixel ({self.n_pixels})")
        if not self.pixels_per_bin.size:
            object.__setattr__(self, "pixels_per_bin", self._count_pixels())

    @property
    def n_bins(self) -> int:
        return math.prod(self.shape)

    @property
    def is_identity(self) -> bool:
        return self.bin_of_pixel is None

    def _count_pixels(self) -> npt.NDArray[np.int64]:
        if self.bin_of_pixel is None:
            return np.ones(self.n_bins, dtype=np.int64)
        counts: npt.NDArray[np.int64] = np.bincount(self.bin_of_pixel, minlength=self.n_bins + 1)[
            : self.n_bins
        ].astype(np.int64)
        return counts


def identity_view(layout: PixelLayout) -> PixelView:
    """The bank's own image: its dims and shape, one bin per pixel."""
    shape = tuple(layout.shape)
    return PixelView(
        dims=tuple(layout.dims),
        shape=shape,
        coords=outputs.index_coords(layout.dims, shape),
        first_pixel_id=layout.first_pixel_id,
        n_pixels=math.prod(shape),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LogicalView:
    """A view in pixel-index space: fold, select, sum over, downsample (module docstring).

    Example, DREAM's mantle front layer::

        LogicalView(
            fold=(("column", 60), ("wire", 32), ("strip", 256)),
            select=(("wire", 0, 1),),
            sum_over=("wire",),
        )
    """

    fold: tuple[tuple[str, int], ...] = ()
    select: tuple[tuple[str, int, int], ...] = ()
    sum_over: tuple[str, ...] = ()
    downsample: tuple[tuple[str, int], ...] = ()

    def folded(self, layout: PixelLayout) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """Dims and shape after the fold (the bank's own without one)."""
        if not self.fold:
            return tuple(layout.dims), tuple(layout.shape)
        dims = tuple(d for d, _ in self.fold)
        sizes = [n for _, n in self.fold]
        if sizes.count(-1) == 1:
            known = math.prod(n for n in sizes if n != -1)
            total = math.prod(layout.shape)
            sizes[sizes.index(-1)] = total // known if known > 0 and total % known == 0 else 0
        return dims, tuple(sizes)

    def output_dims(self, layout: PixelLayout) -> tuple[str, ...]:
        """Dims of the view's image: the folded dims not summed over."""
        dims, _ = self.folded(layout)
        return tuple(d for d in dims if d not in self.sum_over)

    def check(self, layout: PixelLayout) -> None:
        """Raise ``ValueError`` unless this view applies to ``layout``."""
        dims, shape = self.folded(layout)
        if len(set(dims)) != len(dims) or not 0 < len(dims) <= MAX_VIEW_DIMS:
            raise ValueError(f"fold dims {dims} must be 1 to {MAX_VIEW_DIMS} distinct names")
        if math.prod(shape) != math.prod(layout.shape) or min(shape) < 1:
            raise ValueError(
                f"fold {dict(zip(dims, shape, strict=True))} does not hold the bank's "
                f"{math.prod(layout.shape)} pixels"
            )
        named = [d for d, *_ in self.select] + list(self.sum_over) + [d for d, _ in self.downsample]
        unknown = set(named) - set(dims)
        if unknown:
            raise ValueError(f"view names dims {sorted(unknown)} not in {dims}")
        for group in (
            [d for d, *_ in self.select],
            list(self.sum_over),
            [d for d, _ in self.downsample],
        ):
            if len(set(group)) != len(group):
                raise ValueError(f"a dim is named twice in {group}")
        size = dict(zip(dims, shape, strict=True))
        for dim, start, stop in self.select:
            if not 0 <= start < stop <= size[dim]:
                raise ValueError(f"select {dim}[{start}:{stop}] is empty or beyond {size[dim]}")
        for dim, factor in self.downsample:
            if factor < 1 or dim in self.sum_over:
                raise ValueError(f"downsample {dim} by {factor}: need >= 1 and a kept dim")
        if not self.output_dims(layout):
            raise ValueError("a view must keep at least one dim")

    def template(self, layout: PixelLayout) -> sc.DataArray:
        """A zero-size image on the view's dims with index coords (an output template)."""
        dims = self.output_dims(layout)
        return outputs.empty_counts(dims, index_coords_for=dims)

    def output_shape(self, layout: PixelLayout) -> tuple[int, ...]:
        dims, shape = self.folded(layout)
        size = dict(zip(dims, shape, strict=True))
        for dim, start, stop in self.select:
            size[dim] = stop - start
        for dim, factor in self.downsample:
            size[dim] = -(-size[dim] // factor)
        return tuple(size[d] for d in self.output_dims(layout))


def logical_view(layout: PixelLayout, view: LogicalView) -> PixelView:
    """Build the pixel -> bin table of ``view`` on ``layout``."""
    view.check(layout)
    dims, shape = view.folded(layout)
    out_dims, out_shape = view.output_dims(layout), view.output_shape(layout)
    n_pixels, n_bins = math.prod(shape), math.prod(out_shape)
    if n_bins > MAX_VIEW_BINS:
        raise ValueError(f"view of {n_bins} bins exceeds {MAX_VIEW_BINS}")
    selected = {dim: (start, stop) for dim, start, stop in view.select}
    factors = dict(view.downsample)
    out_stride = dict(zip(out_dims, _strides(out_shape), strict=True))
    # Bin of each pixel of the selected block, as a broadcast sum over dims.
    sub_shape = tuple(
        selected[d][1] - selected[d][0] if d in selected else n
        for d, n in zip(dims, shape, strict=True)
    )
    bins = np.zeros((1,) * len(dims), dtype=np.intp)
    for axis, dim in enumerate(dims):
        if dim in view.sum_over:
            continue
        index = np.arange(sub_shape[axis], dtype=np.intp) // factors.get(dim, 1)
        bins = bins + (index * out_stride[dim]).reshape(
            [-1 if i == axis else 1 for i in range(len(dims))]
        )
    pixel = np.arange(n_pixels, dtype=np.intp).reshape(shape)
    block = tuple(slice(*selected[d]) if d in selected else slice(None) for d in dims)
    bin_of_pixel = np.full(n_pixels, n_bins, dtype=np.intp)
    bin_of_pixel[pixel[block].reshape(-1)] = np.broadcast_to(bins, sub_shape).reshape(-1)
    return PixelView(
        dims=out_dims,
        shape=out_shape,
        coords=outputs.index_coords(out_dims, out_shape),
        first_pixel_id=layout.first_pixel_id,
        n_pixels=n_pixels,
        bin_of_pixel=bin_of_pixel,
    )


def _strides(shape: Sequence[int]) -> list[int]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return strides[::-1]
