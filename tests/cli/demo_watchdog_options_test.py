"""``livedata demo``'s watchdog options: on by default, times configurable and checked."""

import argparse

import pytest

from livedata.cli.demo import add_watchdog_options, watchdog_policy
from livedata.services.watchdog import WatchdogPolicy


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_watchdog_options(p)
    return p.parse_args(argv)


def test_the_watchdog_is_on_by_default_with_the_default_policy() -> None:
    args = parse()
    assert args.watchdog is True
    assert watchdog_policy(args) == WatchdogPolicy()


def test_no_watchdog_turns_it_off() -> None:
    assert parse("--no-watchdog").watchdog is False


def test_times_are_configurable() -> None:
    args = parse("--watchdog-stale-s", "45", "--watchdog-window-s", "900")
    assert watchdog_policy(args) == WatchdogPolicy(stale_s=45, window_s=900)


@pytest.mark.parametrize("value", ["0", "-5", "nan", "soon"])
def test_nonsense_times_are_refused(value: str) -> None:
    with pytest.raises(SystemExit):
        parse("--watchdog-stale-s", value)
