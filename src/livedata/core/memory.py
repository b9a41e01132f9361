"""How much memory this process holds, how much it may hold, and what an object holds.

Reads ``/proc`` directly (no psutil): the resident set size of this process, the
machine's physical memory (or its cgroup's limit, if lower), and a best-effort count
of the bytes an object graph keeps alive, for blaming a job when a service is over
its memory limit.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import re
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

import numpy as np

KIB = 1024
MIB = 1024**2
GIB = 1024**3

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

PROC_SELF_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")
"""Where this process's cgroup is named and where cgroups are mounted. A container's or
a systemd unit's memory limit (``MemoryMax=``) is on the process's own cgroup or one of
its parents, not only on the root: the OOM killer acts at the lowest of them."""

MIN_ABSOLUTE_LIMIT = 64 * MIB
"""A Python service with numpy and scipp imported is ~100 MB before any data: a smaller
absolute limit is a typo (``3`` for ``3G``), not a setting."""

ESTIMATE_MAX_OBJECTS = 1_000_000
"""Objects visited at most when estimating what a workflow holds: enough for a log of
100 k samples many times over, bounded so an estimate never takes more than ~1 s."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNIT = {"": 1, "k": KIB, "m": MIB, "g": GIB, "t": 1024 * GIB}


def parse_size(text: str) -> int:
    """Bytes from ``"4G"``, ``"512M"``, ``"1.5GiB"``, ``"300mb"`` or a plain number.

    Units are binary (``G`` = GiB), as memory is counted.
    """
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (use e.g. 4G, 512M, 1.5GiB)")
    number, unit, _ = match.groups()
    return int(float(number) * _UNIT[unit.lower()])


def process_rss_bytes(pid: int | None = None, proc: Path = Path("/proc")) -> int:
    """Resident memory of process ``pid`` (this one by default), from its ``statm`` (a
    few microseconds). Linux only.

    Raises ``ProcessLookupError`` if the process is gone, or a zombie (exited, not yet
    reaped: its ``statm`` is all zeros).
    """
    try:
        size, resident = (
            (proc / ("self" if pid is None else str(pid)) / "statm").read_text().split()[:2]
        )
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessLookupError(pid) from None
    if int(size) == 0:
        raise ProcessLookupError(pid)
    return int(resident) * PAGE_SIZE


def machine_memory_bytes(
    proc_self_cgroup: Path = PROC_SELF_CGROUP, cgroup_root: Path = CGROUP_ROOT
) -> int:
    """Physical memory, or the lowest memory limit of this process's cgroup and its
    parents if that is lower."""
    total: int = os.sysconf("SC_PHYS_PAGES") * PAGE_SIZE
    for path in cgroup_limit_files(proc_self_cgroup, cgroup_root):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" (v2) or an absurd number (v1) means no limit
            total = min(total, int(text))
    return total


def cgroup_limit_files(proc_self_cgroup: Path, cgroup_root: Path) -> list[Path]:
    """The memory-limit files of this process's cgroup and of each parent up to the root.

    cgroup v2: the line ``0::/path`` names the cgroup, its limit is ``<root>/path/memory.max``.
    cgroup v1: the line ``N:...memory...:/path``, ``<root>/memory/path/memory.limit_in_bytes``.
    Without a readable ``/proc/self/cgroup`` only the root's files are listed (a container
    with its own cgroup namespace sees its cgroup there).
    """
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    files: list[Path] = []
    v2 = [line[3:] for line in lines if line.startswith("0::")]
    v1 = [
        line.split(":", 2)[2]
        for line in lines
        if line.count(":") >= 2 and "memory" in line.split(":", 2)[1].split(",")
    ]
    for cgroup, mount, name in (
        (v2[0] if v2 else "/", cgroup_root, "memory.max"),
        (v1[0] if v1 else "/", cgroup_root / "memory", "memory.limit_in_bytes"),
    ):
        files.extend(directory / name for directory in _up_to(mount, cgroup))
    return files


def _up_to(mount: Path, cgroup: str) -> list[Path]:
    """``mount/cgroup`` and each of its parents down to ``mount`` itself; a path that
    would leave ``mount`` (``..``) is not followed."""
    parts = [part for part in cgroup.split("/") if part and part != "."]
    if ".." in parts:
        return [mount]
    return [mount.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def describe_bytes(n: float) -> str:
    """``3.1 GiB``, ``512.0 MiB``: how the guard's messages show sizes."""
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


@dataclass(frozen=True, slots=True)
class MemoryLimit:
    """A service's memory limit: a share of the machine's memory, or an absolute size."""

    share: float | None = None
    absolute: int | None = None

    def __post_init__(self) -> None:
        if (self.share is None) == (self.absolute is None):
            raise ValueError("a memory limit is either a share of memory or a size")
        if self.share is not None and not 0.0 < self.share <= 1.0:
            raise ValueError(f"a memory share must be in (0, 1], got {self.share}")
        if self.absolute is not None and self.absolute < MIN_ABSOLUTE_LIMIT:
            raise ValueError(
                f"a memory limit under {describe_bytes(MIN_ABSOLUTE_LIMIT)} cannot be kept "
                f"by a Python service (got {self.absolute} bytes)"
            )

    @classmethod
    def parse(cls, text: str) -> MemoryLimit:
        """``0.25`` or ``25%`` (share of memory), ``3G``/``3GiB``/``512M`` (binary units).

        Raises ``ValueError`` for anything else, so a bad setting stops the service at
        start instead of letting it run unguarded.
        """
        stripped = text.strip()
        if stripped.endswith("%"):
            return cls(share=_number(stripped[:-1], text) / 100)
        if stripped[-1:].isalpha():  # a unit: an absolute size; a bare number is a share
            try:
                return cls(absolute=parse_size(stripped))
            except ValueError:
                pass  # fall through to the message that names both forms
        return cls(share=_number(stripped, text))

    def bytes_of(self, machine_bytes: int) -> int:
        """The limit in bytes on a machine (or cgroup) with ``machine_bytes`` of memory."""
        if self.absolute is not None:
            return self.absolute
        assert self.share is not None
        return int(self.share * machine_bytes)

    def __str__(self) -> str:
        if self.absolute is not None:
            return describe_bytes(self.absolute)
        return f"{self.share:.0%} of memory"


def _number(text: str, original: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"not a memory limit: {original!r} (use a share such as 0.25 or 25%, "
            "or a size such as 3G or 512M)"
        ) from None
    if value != value:  # NaN
        raise ValueError(f"not a memory limit: {original!r}")
    return value


_OPAQUE = (type, ModuleType, FunctionType, BuiltinFunctionType, MethodType)
"""Code, not state: shared by every job, never what a job accumulated."""


def estimate_nbytes(root: object, max_objects: int = ESTIMATE_MAX_OBJECTS) -> int:
    """Bytes ``root`` keeps alive, following attributes and container items.

    numpy arrays count their buffer once (a view counts the array it views), scipp
    objects their own ``__sizeof__`` (which includes their buffers), everything else
    ``sys.getsizeof``. Objects reachable twice count once. It is an estimate for
    comparing jobs, not an allocator's bill: memory held by C extensions outside Python
    objects is not seen. Walks at most ``max_objects`` objects.
    """
    seen: set[int] = set()
    todo: deque[object] = deque([root])
    total = 0
    while todo and len(seen) < max_objects:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, _OPAQUE):
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if obj.base is None:
                total += obj.nbytes
            else:
                todo.append(obj.base)  # a view keeps its base alive
            continue
        total += sys.getsizeof(obj)
        todo.extend(_referents(obj))
    return total


def _referents(obj: object) -> list[Any]:
    if isinstance(obj, str | bytes | bytearray | int | float | complex | bool):
        return []
    if type(obj).__module__.startswith("scipp._scipp"):
        return []  # scipp's own __sizeof__ already counts its buffers, coords and masks
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset | deque):
        return list(obj)
    children: list[Any] = []
    attributes = getattr(obj, "__dict__", None)
    if isinstance(attributes, dict):
        children.append(attributes)
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            value = getattr(obj, slot, None)
            if value is not None:
                children.append(value)
    return children


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        # The C library this process already loaded (no search, no subprocess).
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    return trim


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS.

    Without ``malloc_trim`` glibc keeps freed medium-sized blocks for reuse, so the
    resident size would not fall after a job's state is dropped, and a guard reading
    it would blame the next job for memory already free.
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
