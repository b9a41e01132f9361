"""The live Panel/HoloViews dashboard (results, workflow control, ROIs, status)."""
