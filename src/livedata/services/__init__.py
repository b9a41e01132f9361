"""The processing services, one module (and OS process) each, and their shared wiring."""
