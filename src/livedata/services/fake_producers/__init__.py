"""Fake instrument data on Kafka: detector and monitor events, logs, camera frames, runs.

Modules, from the numbers up: ``pacing`` (the 14 Hz pulse grid in wall-clock time),
``event_pools``, ``log_profiles``, ``area_frames``, ``run_cycle`` (pure generators,
no Kafka), ``sources`` (generators encoded for their topics), ``transport`` (Kafka),
``producer`` (the real-time loop) and ``cli`` (``python -m livedata.services.fake_producers``,
also ``livedata fake``).
"""

from livedata.services.fake_producers.cli import main

__all__ = ["main"]
