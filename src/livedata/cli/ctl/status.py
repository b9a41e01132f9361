"""``ctl status``: services and jobs as their heartbeats describe them.

Reads the heartbeat topic from a little in the past (``LOOKBACK_S``) and for a short
gather period, so one run shows every live worker and job, plus the ones that fell
silent or stopped within the last minute. ``--watch`` keeps reading and redraws.
"""

from __future__ import annotations

import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition

from livedata.cli.ctl.board import (
    FORGET_AFTER_S,
    JOB_STALE_S,
    NS,
    StatusBoard,
    render_status,
    status_document,
)
from livedata.cli.watch import messages, tail_consumer
from livedata.config.topics import Topic, topic_name
from livedata.kafka.settings import KafkaSettings
from livedata.protocol.errors import DecodeError
from livedata.protocol.heartbeats import decode_heartbeat

GATHER_S = 2.5
"""Heartbeats come every 2 s: 2.5 s hears every live worker and job at least once."""

LOOKBACK_S = JOB_STALE_S
"""History read on start: a job is stale after 60 s, so anything older is just gone."""

MAX_BACKLOG_MESSAGES = 20_000
"""Bound on the history read: 100 jobs beat 3000 times a minute; this caps the cost if a
broker answers a time lookup with an old offset."""

METADATA_TIMEOUT_S = 5.0

CLEAR_SCREEN = "\x1b[H\x1b[2J"


def heartbeat_consumer(settings: KafkaSettings, topic: str, *, lookback_s: float) -> Consumer:
    """A consumer of the heartbeat topic from ``lookback_s`` ago (bounded)."""
    consumer = tail_consumer(settings, topic)
    partition = TopicPartition(topic, 0)
    try:
        low, high = consumer.get_watermark_offsets(partition, timeout=METADATA_TIMEOUT_S)
        start = high
        if lookback_s > 0:
            since_ms = int((time.time() - lookback_s) * 1000)
            found = consumer.offsets_for_times(
                [TopicPartition(topic, 0, since_ms)], timeout=METADATA_TIMEOUT_S
            )[0].offset
            if 0 <= found < high:
                start = max(found, high - MAX_BACKLOG_MESSAGES, low)
        consumer.assign([TopicPartition(topic, 0, start)])
    except BaseException:
        consumer.close()
        raise
    return consumer


class HeartbeatReader:
    """Feeds a board from the heartbeat topic; counts what it could not decode."""

    def __init__(self, consumer: Consumer, *, since_ns: int) -> None:
        self.board = StatusBoard()
        self.undecodable = 0
        self._consumer = consumer
        self._since_ns = since_ns

    def read_until(self, deadline: float) -> None:
        """Read until ``time.monotonic()`` passes ``deadline``."""
        for message in messages(self._consumer, until=lambda: time.monotonic() >= deadline):
            sent_ns = message.timestamp()[1] * 1_000_000
            if sent_ns < self._since_ns:
                continue  # older than asked for (a broker may round a time lookup down)
            try:
                heartbeat = decode_heartbeat(message.value() or b"")
            except DecodeError:
                self.undecodable += 1
                continue
            self.board.observe(heartbeat, sent_ns)

    def close(self) -> None:
        self._consumer.close()


def run_status(
    settings: KafkaSettings,
    instrument: str,
    *,
    as_json: bool,
    watch: bool,
    interval_s: float,
    lookback_s: float = LOOKBACK_S,
) -> int:
    topic = topic_name(instrument, Topic.HEARTBEAT)
    reader = HeartbeatReader(
        heartbeat_consumer(settings, topic, lookback_s=lookback_s),
        since_ns=time.time_ns() - int(lookback_s * NS),
    )
    tty = sys.stdout.isatty()
    try:
        reader.read_until(time.monotonic() + GATHER_S)
        _show(reader, instrument, as_json=as_json, redraw=watch and tty)
        while watch:
            reader.read_until(time.monotonic() + interval_s)
            reader.board.forget_older_than(time.time_ns() - int(FORGET_AFTER_S * NS))
            _show(reader, instrument, as_json=as_json, redraw=tty)
    except KeyboardInterrupt:
        if not watch:
            raise
        # Ctrl-C is how --watch ends: the last table stays on screen, exit 0.
    finally:
        reader.close()
    return 0


def _show(reader: HeartbeatReader, instrument: str, *, as_json: bool, redraw: bool) -> None:
    now = time.time_ns()
    snapshot = reader.board.snapshot(now)
    if as_json:
        # One document per line: a script reads the first, or each one while watching.
        print(json.dumps(status_document(instrument, snapshot, now)), flush=True)
        return
    text = render_status(instrument, snapshot)
    stamp = time.strftime("%H:%M:%S")
    header = f"livedata status of {instrument} at {stamp}"
    if reader.undecodable:
        header += f" ({reader.undecodable} undecodable heartbeats ignored)"
    if redraw:
        print(CLEAR_SCREEN + header + "\n\n" + text, flush=True)
    else:
        print(header + "\n\n" + text + "\n", flush=True)
