import numpy as np

from livedata.workflows.windowed import WindowedSum


def test_window_joins_the_total_once_and_restarts_after_close() -> None:
    w = WindowedSum((2,))
    assert w.window_start is None
    w.open(10)[0] += 1
    w.open(10)[1] += 2  # same window until closed
    w.close()
    w.close()
    np.testing.assert_array_equal(w.total, [1, 2])
    np.testing.assert_array_equal(w.window, [1, 2])
    w.open(20)[0] += 5
    assert w.window_start == 20
    np.testing.assert_array_equal(w.window, [5, 0])
    w.close()
    np.testing.assert_array_equal(w.total, [6, 2])
    w.clear()
    assert not w.total.any()
    assert not w.window.any()
    assert w.window_start is None


def test_select_rows_carries_chosen_rows_and_the_open_window() -> None:
    w = WindowedSum((3, 2))
    w.open(10)[...] = [[1, 1], [2, 2], [3, 3]]
    w.close()
    w.open(20)[...] = [[10, 10], [20, 20], [30, 30]]
    s = w.select_rows([2, None, 0])
    assert s.window_start == 20
    np.testing.assert_array_equal(s.window, [[30, 30], [0, 0], [10, 10]])
    np.testing.assert_array_equal(s.total, [[3, 3], [0, 0], [1, 1]])
    s.open(20)[1] += 5  # still the same, open window
    s.close()
    np.testing.assert_array_equal(s.total, [[33, 33], [5, 5], [11, 11]])
    assert w.select_rows([]).total.shape == (0, 2)
