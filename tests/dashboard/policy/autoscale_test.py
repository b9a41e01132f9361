"""Limits with hysteresis: grow at once, shrink only when it lasts; NaN and log aware."""

import numpy as np
import pytest

from livedata.dashboard.policy.autoscale import (
    AutoscalePolicy,
    AutoscaleState,
    Limits,
    autoscale,
    finite_range,
    hold,
    moved_by_user,
    release,
)

LINEAR = AutoscalePolicy(headroom=0.0, shrink_after=3)
LOG = AutoscalePolicy(log=True, headroom=0.0, shrink_after=3)


def run(policy, *frames, state=None):
    state = state or AutoscaleState()
    for frame in frames:
        state = autoscale(state, np.asarray(frame, dtype=float), policy)
    return state


def test_the_first_data_set_the_limits() -> None:
    assert run(LINEAR, [1, 5, 3]).limits == Limits(1, 5)


def test_limits_expand_at_once_on_the_side_the_data_left() -> None:
    state = run(LINEAR, [1, 5], [2, 9])
    assert state.limits == Limits(1, 9)
    state = run(LINEAR, [-4, 3], state=state)
    assert state.limits == Limits(-4, 9)


def test_limits_shrink_only_after_consecutive_well_inside_updates() -> None:
    state = run(LINEAR, [0, 100])
    state = run(LINEAR, [10, 20], [10, 20], state=state)
    assert state.limits == Limits(0, 100)
    assert state.inside_streak == 2
    state = run(LINEAR, [10, 20], state=state)
    assert state.limits == Limits(10, 20)
    assert state.inside_streak == 0


def test_one_wide_frame_resets_the_shrink_streak() -> None:
    state = run(LINEAR, [0, 100], [10, 20], [10, 20], [0, 90], [10, 20], [10, 20])
    assert state.limits == Limits(0, 100)


def test_data_spanning_most_of_the_range_never_shrink_it() -> None:
    state = run(LINEAR, [0, 100], *([[20, 80]] * 10))
    assert state.limits == Limits(0, 100)


def test_nan_and_inf_are_ignored_and_all_nan_keeps_the_limits() -> None:
    state = run(LINEAR, [np.nan, 2, np.inf, 4, -np.inf])
    assert state.limits == Limits(2, 4)
    assert run(LINEAR, [np.nan, np.nan], state=state) == state
    assert run(LINEAR, [], state=state) == state
    assert run(LINEAR, [np.nan]).limits is None


def test_log_scale_ignores_non_positive_values_and_works_in_decades() -> None:
    state = run(LOG, [0, -3, 1, 1000])
    assert state.limits == Limits(1, 1000)
    # 10..20 spans 0.3 decades of 3: well inside, shrinks after three frames.
    state = run(LOG, [10, 20], [10, 20], [10, 20], state=state)
    assert state.limits.low == pytest.approx(10)
    assert state.limits.high == pytest.approx(20)
    assert run(LOG, [0, 0, -1]).limits is None


def test_constant_data_get_a_non_empty_range() -> None:
    assert run(LINEAR, [0, 0]).limits == Limits(-0.5, 0.5)
    assert run(LINEAR, [100, 100]).limits == Limits(90, 110)
    log = run(LOG, [100, 100]).limits
    assert log.low == pytest.approx(100 / 10**0.5)
    assert log.high == pytest.approx(100 * 10**0.5)


def test_headroom_pads_but_never_below_zero_for_non_negative_data() -> None:
    policy = AutoscalePolicy(headroom=0.1)
    limits = run(policy, [0, 100]).limits
    assert limits == Limits(0, 110)
    assert run(policy, [-100, 100]).limits == Limits(-120, 120)


def test_a_precomputed_range_is_accepted() -> None:
    assert autoscale(AutoscaleState(), Limits(3, 4), LINEAR).limits == Limits(3, 4)


def test_finite_range_of_integer_and_float_arrays() -> None:
    assert finite_range(np.array([3, 1, 2])) == Limits(1, 3)
    assert finite_range(np.array([0, 5, 7]), log=True) == Limits(5, 7)
    assert finite_range(np.array([0, -1]), log=True) is None
    assert finite_range(np.zeros((0, 3))) is None
    assert finite_range(np.array([[1.0, np.nan], [np.inf, -2.0]])) == Limits(-2, 1)


def test_a_held_axis_keeps_the_operators_limits_whatever_the_data_do() -> None:
    state = hold(run(LINEAR, [0, 10]))
    # Data far outside (would grow) and well inside (would shrink): nothing moves.
    state = run(LINEAR, [-50, 500], *([[4, 5]] * 10), state=state)
    assert state.limits == Limits(0, 10)
    assert state.held


def test_a_released_axis_fits_the_next_data_afresh() -> None:
    state = hold(run(LINEAR, [0, 1000]))
    state = release(state)
    assert not state.held
    assert run(LINEAR, [4, 5], state=state).limits == Limits(4, 5)


def test_only_a_range_other_than_the_one_we_set_is_the_operators() -> None:
    assert not moved_by_user((0.0, 10.0), 0.0, 10.0)
    assert not moved_by_user((0.0, 10.0), 1e-12, 10.0 - 1e-12), "float round trip"
    assert moved_by_user((0.0, 10.0), 2.0, 8.0), "zoomed in"
    assert moved_by_user((0.0, 10.0), 3.0, 13.0), "panned"
    # Datetime axes count milliseconds since 1970: a one-second pan is still seen.
    now_ms = 1.7e12
    assert moved_by_user((now_ms - 60_000, now_ms), now_ms - 61_000, now_ms - 1_000)
    assert moved_by_user(None, 0.0, 1.0), "moved before we ever set it"
    assert not moved_by_user((0.0, 10.0), None, None)
    assert not moved_by_user((0.0, 10.0), float("nan"), 1.0)
