"""HTML that changes often (a cell's state and data age, job rows, status tables),
written into the page without re-laying it out.

When a Panel HTML pane's text changes, bokeh recomputes the layout of the page around
it (it measures the new text, forcing style recalculation of every shadow root): with
a few cells updating their age every second that was most of the browser's work, and
made the first frame of a page take seconds. This component only replaces its
element's content; the browser's own CSS layout does the rest.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent


class LiveHTML(JSComponent):
    html = param.String(default="")

    _esm = """
    export function render({ model }) {
      const el = document.createElement("span");
      el.style.display = "block";
      el.style.width = "100%";
      el.innerHTML = model.html;
      model.on("html", () => { el.innerHTML = model.html; });
      return el;
    }
    """
