"""The Panel/HoloViews user interface: one shared server state, one light view per session."""
