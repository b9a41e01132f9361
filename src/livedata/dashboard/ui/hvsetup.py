"""Loading HoloViews' bokeh backend once, before any element gets options."""

from __future__ import annotations

from typing import Any

import holoviews as hv

_renderer: Any = None


def ensure_holoviews() -> Any:
    """The bokeh renderer in server mode (registers HoloViews' bokeh backend once)."""
    global _renderer
    if _renderer is None:
        import holoviews.plotting.bokeh  # noqa: F401 - registers the backend

        hv.Store.set_current_backend("bokeh")
        _renderer = hv.renderer("bokeh").instance(mode="server")
    return _renderer
