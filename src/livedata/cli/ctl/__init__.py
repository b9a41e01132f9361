"""``livedata ctl``: start, stop and inspect jobs of a running stack from a terminal.

Every sub-command is in its own module; what needs no Kafka (parsing, validation,
tables) is pure and unit-tested, the rest talks to the broker named by ``KAFKA_*``.
"""

from livedata.cli.ctl.app import main

__all__ = ["main"]
