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
