"""Exit codes of ``livedata ctl`` and the error that means "you asked for something wrong"."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
"""A command was refused (ERR), went unanswered, or Kafka could not be reached."""
EXIT_USAGE = 2
"""Bad arguments or params: detected locally, nothing was sent."""


class UsageError(ValueError):
    """The user's input is wrong; the text says what and how to fix it."""
