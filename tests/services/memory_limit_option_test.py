"""``--memory-limit``: how a service is told its memory guard's limit."""

import pytest

from livedata.core.memory import GIB, MemoryLimit
from livedata.core.memory_guard import DEFAULT_MEMORY_LIMIT
from livedata.services.runner import MEMORY_LIMIT_ENV, ServiceOptions, parser


def limit_of(*argv: str):
    return parser("detector_data").parse_args(["--instrument", "dummy", *argv]).memory_limit


def test_every_service_is_guarded_by_default(monkeypatch) -> None:
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    assert limit_of() == DEFAULT_MEMORY_LIMIT == MemoryLimit(share=0.25)
    assert ServiceOptions(service_name="x", instrument="y").memory_limit == DEFAULT_MEMORY_LIMIT


def test_the_limit_comes_from_the_option_or_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "3G")
    assert limit_of() == MemoryLimit(absolute=3 * GIB)
    assert limit_of("--memory-limit", "40%") == MemoryLimit(share=0.4)
    assert limit_of("--memory-limit", "off") is None


def test_a_bad_limit_stops_the_service_at_start(monkeypatch, capsys) -> None:
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        limit_of("--memory-limit", "3")
    assert exit_info.value.code == 2
    assert "memory share must be in (0, 1]" in capsys.readouterr().err
