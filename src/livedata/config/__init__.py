"""Settings, the instrument model and registry, and the built-in instruments."""
