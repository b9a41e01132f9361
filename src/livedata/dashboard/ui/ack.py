"""Flow control between a session and its browser: send a frame only when the last one
was drawn, and never while the browser has not even received it.

The server bumps ``seq`` with each batch of plot updates; the browser answers with
``ack = seq`` once it has painted (``requestAnimationFrame``). A session whose browser is
behind (slow machine, busy tab) skips its ticks until it catches up and then gets the
newest data: latest wins, a slow browser never builds a backlog on the server or the
websocket, and it costs the server nothing while it lags.

A hidden tab paints nothing, so it confirms only that frames *arrived* (``received``, at
once when hidden, and by any page that has not drawn a frame a second after it came);
such a page gets a frame now and then (``frame_due``). A browser that confirms neither
is frozen (a hung machine, a stopped process, a dead network: no timer runs there
either): it gets nothing more. What a
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


RECEIVED_AFTER_MS = 1000
"""A frame not drawn this long after it arrived is confirmed as received only: a page
that keeps not drawing (hidden, or its rendering stalled) then gets a frame every
``STALL_S`` instead of none, as a hidden tab does."""


class FrameAck(JSComponent):
    """Invisible; ``frames`` (cell frames sent so far) is mirrored to
    ``window.livedataFrames`` for tests and the benchmark."""

    seq = param.Integer(default=0)
    ack = param.Integer(default=0)
    received = param.Integer(default=0)
    """Set only when a frame is not drawn within ``RECEIVED_AFTER_MS`` (a hidden tab, a
    page the browser does not paint): a page that draws sends one message per frame."""
    frames = param.Integer(default=0)

    _esm = (
        f"const RECEIVED_AFTER_MS = {RECEIVED_AFTER_MS};"
        """
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
        // Not drawn a second later (rendering stalled, a tab the browser does not
        // paint): say at least that it arrived. A frozen browser runs no timer either.
        setTimeout(() => {
          if (model.ack < seq && model.received < seq) { model.received = seq; }
        }, RECEIVED_AFTER_MS);
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
    )
