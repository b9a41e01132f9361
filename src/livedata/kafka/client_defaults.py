"""Client settings shared by livedata's producers and consumers."""

RECONNECT_BACKOFF_MAX_MS = 2000
"""Longest pause between attempts to reach a broker that is away (librdkafka: 10 s), so
clients are back within ~2 s of the broker (QUALITY.md: resume within ~15 s)."""
