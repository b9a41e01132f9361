"""Flow control between a session and its browser: send a frame only when the last one
was drawn.

The server bumps ``seq`` with each batch of plot updates; the browser answers with
``ack = seq`` once it has painted (``requestAnimationFrame``). A session whose browser is
behind (slow machine, busy tab) skips its ticks until it catches up and then gets the
newest data: latest wins, a slow browser never builds a backlog on the server or the
websocket, and it costs the server nothing while it lags.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent


class FrameAck(JSComponent):
    """Invisible; ``frames`` (cell frames sent so far) is mirrored to
    ``window.livedataFrames`` for tests and the benchmark."""

    seq = param.Integer(default=0)
    ack = param.Integer(default=0)
    frames = param.Integer(default=0)

    _esm = """
    export function render({ model }) {
      const el = document.createElement("span");
      el.className = "ld-frame-ack";
      el.style.display = "none";
      const confirm = () => {
        const seq = model.seq;
        window.livedataFrames = model.frames;
        requestAnimationFrame(() => { model.ack = seq; });
      };
      model.on("seq", confirm);
      // Frames sent before this component rendered are confirmed at once.
      if (model.seq > model.ack) { confirm(); }
      return el;
    }
    """
