"""``livedata tail``: print every result as it arrives, one line each (or JSON lines)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import numpy as np
import scipp as sc

from livedata.cli.watch import decode_result, messages, tail_consumer
from livedata.config.topics import Topic, topic_name
from livedata.kafka.settings import KafkaSettings
from livedata.protocol.errors import DecodeError


def summarise(data: sc.DataArray) -> dict[str, Any]:
    values = np.asarray(data.values, dtype=float)
    finite = values[np.isfinite(values)]
    start = int(data.coords["start_time"].value) if "start_time" in data.coords else None
    end = int(data.coords["time"].value) if "time" in data.coords else None
    return {
        "dims": dict(data.sizes),
        "unit": str(data.unit),
        "sum": float(finite.sum()) if finite.size else None,
        "start_time": start,
        "time": end,
        "age_s": round((time.time_ns() - end) / 1e9, 3) if end is not None else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="livedata tail", description=__doc__)
    p.add_argument("--instrument", default="dummy")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--output", help="only this output name")
    p.add_argument("--count", type=int, default=0, help="stop after this many results")
    args = p.parse_args(argv)
    settings = KafkaSettings.from_env()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    consumer = tail_consumer(settings, topic_name(args.instrument, Topic.DATA))
    shown = 0
    try:
        for message in messages(consumer, until=stop.is_set):
            try:
                key, data = decode_result(message.value())
            except DecodeError as err:
                print(f"undecodable result: {err}", file=sys.stderr)
                continue
            if args.output and key.output_name != args.output:
                continue
            summary = summarise(data)
            if args.json:
                record = {
                    "workflow_id": str(key.workflow_id),
                    "source_name": key.job_id.source_name,
                    "job_number": str(key.job_id.job_number),
                    "output_name": key.output_name,
                    **summary,
                }
                print(json.dumps(record), flush=True)
            else:
                print(
                    f"{key.workflow_id!s:<32} {key.job_id.source_name:<12} "
                    f"{key.output_name:<26} dims={summary['dims']} sum={summary['sum']} "
                    f"[{summary['unit']}] age={summary['age_s']}s",
                    flush=True,
                )
            shown += 1
            if args.count and shown >= args.count:
                break
    finally:
        consumer.close()
    return 0
