"""Memory readings, limits and the size estimate the memory guard blames jobs with."""

import mmap
import os
from collections import deque
from dataclasses import dataclass

import numpy as np
import pytest
import scipp as sc

from livedata.core.accumulators import LogSeries
from livedata.core.memory import (
    GIB,
    MIB,
    MemoryLimit,
    describe_bytes,
    estimate_nbytes,
    machine_memory_bytes,
    parse_size,
    process_rss_bytes,
    release_freed_memory,
)

PAGE = os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.25", MemoryLimit(share=0.25)),
        ("1", MemoryLimit(share=1.0)),
        ("25%", MemoryLimit(share=0.25)),
        (" 50 % ", MemoryLimit(share=0.5)),
        ("3G", MemoryLimit(absolute=3 * GIB)),
        ("3GiB", MemoryLimit(absolute=3 * GIB)),
        ("1.5gb", MemoryLimit(absolute=int(1.5 * GIB))),
        ("512M", MemoryLimit(absolute=512 * MIB)),
        ("1T", MemoryLimit(absolute=1024 * GIB)),
    ],
)
def test_limits_parse_as_shares_or_sizes(text, expected) -> None:
    assert MemoryLimit.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "lots", "0", "-0.5", "1.5", "150%", "nan", "3", "3X", "1K", "2M", "1e9"]
)
def test_nonsense_limits_are_refused(text) -> None:
    with pytest.raises(ValueError, match="memory"):
        MemoryLimit.parse(text)


def test_a_share_is_taken_of_the_machine_and_a_size_is_absolute() -> None:
    assert MemoryLimit(share=0.25).bytes_of(16 * GIB) == 4 * GIB
    assert MemoryLimit(absolute=3 * GIB).bytes_of(16 * GIB) == 3 * GIB
    assert str(MemoryLimit(share=0.25)) == "25% of memory"
    assert str(MemoryLimit(absolute=3 * GIB)) == "3.0 GiB"


def test_a_limit_is_a_share_or_a_size_not_both() -> None:
    with pytest.raises(ValueError, match="either"):
        MemoryLimit(share=0.5, absolute=GIB)
    with pytest.raises(ValueError, match="either"):
        MemoryLimit()


def test_sizes_read_as_operators_expect() -> None:
    assert describe_bytes(3.1 * GIB) == "3.1 GiB"
    assert describe_bytes(512 * MIB) == "512.0 MiB"
    assert describe_bytes(2048) == "2.0 KiB"
    assert describe_bytes(100) == "100 B"


def test_rss_is_the_second_field_of_statm_in_pages(tmp_path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "statm").write_text("50000 1234 300 10 0 4000 0\n")
    assert process_rss_bytes(42, proc=tmp_path) == 1234 * PAGE


def test_a_gone_or_zombie_process_has_no_rss(tmp_path) -> None:
    with pytest.raises(ProcessLookupError):
        process_rss_bytes(43, proc=tmp_path)
    (tmp_path / "44").mkdir()
    (tmp_path / "44" / "statm").write_text("0 0 0 0 0 0 0\n")  # exited, not reaped
    with pytest.raises(ProcessLookupError):
        process_rss_bytes(44, proc=tmp_path)


def test_rss_of_this_process_grows_with_what_it_touches() -> None:
    # A fresh anonymous mapping: a numpy array could reuse pages malloc already holds
    # resident (a free chunk left in the heap by earlier tests), and RSS would not move.
    with mmap.mmap(-1, 64 * MIB) as ballast:
        before = process_rss_bytes()
        ballast.write(b"\x01" * (64 * MIB))
        assert process_rss_bytes() - before > 48 * MIB


def fake_cgroups(tmp_path, own_cgroup: str, limits: dict[str, str]):
    """A fake ``/proc/self/cgroup`` naming ``own_cgroup`` and a cgroup tree with a
    ``memory.max`` holding each value of ``limits`` (keyed by cgroup path)."""
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(own_cgroup)
    root = tmp_path / "cgroup"
    for path, value in limits.items():
        directory = root / path.strip("/")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "memory.max").write_text(f"{value}\n")
    return proc, root


def test_machine_memory_is_capped_by_the_root_cgroup_limit(tmp_path) -> None:
    physical = os.sysconf("SC_PHYS_PAGES") * PAGE
    proc, root = fake_cgroups(tmp_path, "0::/\n", {"/": "max"})
    assert machine_memory_bytes(proc, root) == physical
    (root / "memory.max").write_text(f"{2 * GIB}\n")
    assert machine_memory_bytes(proc, root) == min(physical, 2 * GIB)


def test_a_systemd_units_memory_max_counts(tmp_path) -> None:
    physical = os.sysconf("SC_PHYS_PAGES") * PAGE
    unit = "/system.slice/livedata-detector.service"
    proc, root = fake_cgroups(
        tmp_path,
        f"0::{unit}\n",
        {"/": "max", "/system.slice": "max", unit: str(64 * MIB)},
    )
    assert machine_memory_bytes(proc, root) == min(physical, 64 * MIB)


def test_the_lowest_limit_of_the_cgroup_and_its_parents_counts(tmp_path) -> None:
    physical = os.sysconf("SC_PHYS_PAGES") * PAGE
    proc, root = fake_cgroups(
        tmp_path,
        "0::/user.slice/app.scope\n",
        {"/user.slice": str(96 * MIB), "/user.slice/app.scope": str(GIB)},
    )
    assert machine_memory_bytes(proc, root) == min(physical, 96 * MIB)


def test_a_cgroup_v1_memory_limit_counts(tmp_path) -> None:
    physical = os.sysconf("SC_PHYS_PAGES") * PAGE
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n")
    limit = tmp_path / "cgroup" / "memory" / "docker" / "abc" / "memory.limit_in_bytes"
    limit.parent.mkdir(parents=True)
    limit.write_text(f"{80 * MIB}\n")
    assert machine_memory_bytes(proc, tmp_path / "cgroup") == min(physical, 80 * MIB)


def test_a_cgroup_path_cannot_leave_the_cgroup_mount(tmp_path) -> None:
    physical = os.sysconf("SC_PHYS_PAGES") * PAGE
    outside = tmp_path / "memory.max"
    outside.write_text(f"{70 * MIB}\n")
    proc, root = fake_cgroups(tmp_path, "0::/../\n", {"/": "max"})
    assert machine_memory_bytes(proc, root) == physical


def test_without_proc_self_cgroup_the_root_limit_counts(tmp_path) -> None:
    physical = os.sysconf("SC_PHYS_PAGES") * PAGE
    _, root = fake_cgroups(tmp_path, "", {"/": str(90 * MIB)})
    assert machine_memory_bytes(tmp_path / "absent", root) == min(physical, 90 * MIB)


@dataclass
class Holder:
    arrays: list
    note: str = "x"


class Slotted:
    __slots__ = ("data",)

    def __init__(self, data) -> None:
        self.data = data


def test_estimate_counts_arrays_in_attributes_and_containers() -> None:
    state = Holder(arrays=[np.ones(1_000_000), {"k": np.ones(500_000)}])
    assert 12_000_000 <= estimate_nbytes(state) < 12_100_000


def test_estimate_counts_a_shared_array_once_and_a_view_as_its_base() -> None:
    base = np.ones(1_000_000)
    state = Holder(arrays=[base, base, base[10:20]])
    assert 8_000_000 <= estimate_nbytes(state) < 8_100_000


def test_estimate_follows_slots_deques_and_scipp_objects() -> None:
    da = sc.DataArray(
        sc.ones(dims=["x"], shape=[1_000_000]),
        coords={"x": sc.arange("x", 1_000_000.0)},
    )
    state = Slotted(deque([da]))
    assert 16_000_000 <= estimate_nbytes(state) < 16_100_000


def test_estimate_sees_a_log_series_fill_up() -> None:
    series = LogSeries(capacity=10_000)
    empty = estimate_nbytes(series)
    for i in range(10_000):
        series.add(i, float(i))
    assert estimate_nbytes(series) - empty > 10_000 * 24  # a float object each


def test_estimate_skips_code_and_stops_at_its_object_budget() -> None:
    assert estimate_nbytes(Holder(arrays=[np, sc, print, Holder])) < 1000
    many = Holder(arrays=[np.ones(1000) for _ in range(100)])
    assert estimate_nbytes(many, max_objects=10) < estimate_nbytes(many)


def test_released_memory_goes_back_to_the_os() -> None:
    # Medium blocks between small ones still in use: after free() glibc keeps the
    # blocks' pages for reuse (the heap top cannot shrink) until told to trim.
    blocks, pins = [], []
    for _ in range(12_000):
        blocks.append(b"x" * 16_000)
        pins.append(b"y" * 600)
    held = process_rss_bytes()
    del blocks
    release_freed_memory()
    assert held - process_rss_bytes() > 100 * MIB


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4G", 4 * GIB),
        ("4GiB", 4 * GIB),
        ("4gb", 4 * GIB),
        ("512M", 512 * MIB),
        ("1.5G", int(1.5 * GIB)),
        (" 300 MiB ", 300 * MIB),
        ("1048576", 1048576),
        ("2048k", 2 * MIB),
    ],
)
def test_sizes_are_read_in_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "four gigabytes", "-1G", "4X", "1e9"])
def test_a_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)
