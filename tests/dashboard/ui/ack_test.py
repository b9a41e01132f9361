"""When a session may send its browser the next frame (``ack.frame_due``)."""

from __future__ import annotations

from livedata.dashboard.ui.ack import frame_due

STALL_S = 10.0


def test_a_browser_that_drew_the_last_frame_gets_the_next_at_once() -> None:
    assert frame_due(seq=0, received=0, ack=0, waited_s=0.0, stall_s=STALL_S)
    assert frame_due(seq=7, received=0, ack=7, waited_s=0.0, stall_s=STALL_S)


def test_a_browser_still_drawing_waits() -> None:
    assert not frame_due(seq=7, received=7, ack=6, waited_s=1.0, stall_s=STALL_S)


def test_a_hidden_tab_that_received_the_frame_gets_one_now_and_then() -> None:
    assert not frame_due(seq=7, received=7, ack=3, waited_s=STALL_S - 0.1, stall_s=STALL_S)
    assert frame_due(seq=7, received=7, ack=3, waited_s=STALL_S, stall_s=STALL_S)


def test_a_frozen_browser_gets_nothing_however_long_it_waits() -> None:
    # It confirmed frame 6 (drawn) but never even the arrival of frame 7.
    assert not frame_due(seq=7, received=0, ack=6, waited_s=3600.0, stall_s=STALL_S)
    assert not frame_due(seq=7, received=6, ack=6, waited_s=3600.0, stall_s=STALL_S)
