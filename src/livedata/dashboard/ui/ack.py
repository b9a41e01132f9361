"""Flow control between a session and its browser: send a frame only when the last one
was drawn, and never while the browser has not even received it.

The server bumps ``seq`` with each batch of plot updates; the browser answers with
``ack = seq`` once it has painted (``requestAnimationFrame``). A session whose browser is
behind (slow machine, busy tab) skips its ticks until it catches up and then gets the
newest data: latest wins, a slow browser never builds a backlog on the server or the
websocket, and it costs the server nothing while it lags.

A hidden tab paints nothing, so it confirms only that frames *arrived* (``received``);
such a tab gets a frame now and then (``frame_due``). A browser that confirms neither is
frozen (a hung machine, a stopped process, a dead network): it gets nothing more. What a
server writes to a socket nobody reads queues in the kernel's buffers and then in
Tornado's write buffer, which has no bound, and is replayed stale when the browser wakes.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent


def frame_due(seq: int, received: int, ack: int, waited_s: float, stall_s: float) -> bool:
    """Whether a session may send its next frame: the browser drew the last one
    (``ack``), or it has had it (``received``) for ``stall_s`` without drawing it (a
    hidden tab). ``waited_s``: time since the last frame was sent."""
    if ack >= seq:
        return True
    return max(received, ack) >= seq and waited_s >= stall_s


class FrameAck(JSComponent):
    """Invisible; ``frames`` (cell frames sent so far) is mirrored to
    ``window.livedataFrames`` for tests and the benchmark."""

    seq = param.Integer(default=0)
    ack = param.Integer(default=0)
    received = param.Integer(default=0)
    """Set only by hidden tabs (a drawn frame was received too): one message per frame
    from a visible page, as before."""
    frames = param.Integer(default=0)

    _esm = """
    export function render({ model }) {
      const el = document.createElement("span");
      el.className = "ld-frame-ack";
      el.style.display = "none";
      const arrived = () => {
        if (document.hidden && model.received < model.seq) { model.received = model.seq; }
      };
      const confirm = () => {
        const seq = model.seq;
        window.livedataFrames = model.frames;
        arrived();
        requestAnimationFrame(() => { model.ack = seq; });
      };
      model.on("seq", confirm);
      // A tab hidden before it painted never runs its requestAnimationFrame.
      document.addEventListener("visibilitychange", arrived);
      model.on("remove", () => document.removeEventListener("visibilitychange", arrived));
      // Frames sent before this component rendered are confirmed at once.
      if (model.seq > model.ack) { confirm(); }
      return el;
    }
    """
