"""``livedata ctl``: the argument parser and one handler per sub-command.

Kafka settings come from ``KAFKA_*`` environment variables only (never flags, so no
secret shows in the process list). Exit codes: 0 ok, 1 refused / unanswered / Kafka
unreachable, 2 bad arguments or params (found locally; nothing was sent).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from livedata.cli.ctl import catalog, commands, params
from livedata.cli.ctl.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from livedata.cli.ctl.render import render_params, render_workflow, render_workflows
from livedata.config.instrument import Instrument
from livedata.config.registry import UnknownInstrumentError, available_instruments, load_instrument
from livedata.core.control import JobAction, RunPolicy, Schedule
from livedata.kafka.command_client import Answers, CommandNotSentError
from livedata.kafka.settings import DEFAULT_BOOTSTRAP, KafkaSettings, SettingsError
from livedata.services.logging import configure_logging

LOG_LEVEL = "WARNING"
"""ctl's own output is the point; the Kafka clients' routine events (topics assigned,
followed through a rotation) would only bury it. Problems still show, on stderr."""

DEFAULT_TIMEOUT_S = 10.0
"""How long to wait for answers: a loaded service answers within a second or two."""

Loader = Callable[[str], Instrument]


def positive(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="livedata ctl",
        description="Start, stop and inspect livedata jobs (Kafka from KAFKA_* variables).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inst = argparse.ArgumentParser(add_help=False)
    inst.add_argument("--instrument", default="dummy", help="instrument name (default: dummy)")
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", help="print one JSON document")
    wait = argparse.ArgumentParser(add_help=False)
    wait.add_argument("--timeout", type=positive, default=DEFAULT_TIMEOUT_S, metavar="SECONDS")

    sub.add_parser("instruments", parents=[out], help="list installed instruments")
    sub.add_parser("workflows", parents=[inst, out], help="list the instrument's workflows")
    w = sub.add_parser("workflow", parents=[inst, out], help="show one workflow or its params")
    w.add_argument("workflow_id", metavar="WORKFLOW_ID", help="inst/name/version or name")
    w.add_argument("--schema", action="store_true", help="the params and their limits")

    s = sub.add_parser("start", parents=[inst, out, wait], help="start a job")
    s.add_argument("workflow_id", metavar="WORKFLOW_ID", help="inst/name/version or name")
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("--source", action="append", default=[], metavar="NAME")
    which.add_argument("--all-sources", action="store_true")
    s.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--params-file", type=Path, metavar="FILE", help="JSON or YAML")
    s.add_argument("--aux", action="append", default=[], metavar="ROLE=STREAM")
    s.add_argument("--start", metavar="TIME", help="data time to start (ISO or ns)")
    s.add_argument("--end", metavar="TIME", help="data time to end (ISO or ns)")
    s.add_argument(
        "--run-policy", choices=[p.value for p in RunPolicy], default=RunPolicy.KEEP.value
    )

    for action in JobAction:
        a = sub.add_parser(action.value, parents=[inst, out, wait], help=f"{action.value} jobs")
        target = a.add_mutually_exclusive_group(required=True)
        target.add_argument("--job", action="append", default=[], metavar="SOURCE/JOB_NUMBER")
        target.add_argument("--workflow", metavar="WORKFLOW_ID", help="all jobs of a workflow")
        target.add_argument("--all", action="store_true", help="all jobs of the instrument")

    st = sub.add_parser("status", parents=[inst, out], help="services and jobs (heartbeats)")
    st.add_argument("--watch", action="store_true", help="keep redrawing until Ctrl-C")
    st.add_argument("--interval", type=positive, default=2.0, metavar="SECONDS")

    sub.add_parser("tail", add_help=False, help="print results as they arrive (livedata tail)")
    return p


def main(argv: Sequence[str] | None = None, *, load: Loader = load_instrument) -> int:
    """Run one sub-command; ``load`` builds an instrument by name (tests pass their own)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["tail"]:
        configure_logging(level=LOG_LEVEL)
        return _tail(args_list[1:])
    args = build_parser().parse_args(args_list)
    configure_logging(level=LOG_LEVEL)  # to stderr: stdout may be JSON for a script
    try:
        return HANDLERS[args.command](args, load)
    except (UsageError, UnknownInstrumentError, SettingsError) as err:
        _error(str(err))
        return EXIT_USAGE
    except CommandNotSentError as err:
        _error(f"{err} (is the broker reachable? KAFKA_BOOTSTRAP_SERVERS)")
        return EXIT_FAILED
    except KafkaException as err:
        _error(explain_kafka_error(err, getattr(args, "instrument", None)))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


_MISSING_TOPIC = {"_UNKNOWN_PARTITION", "_UNKNOWN_TOPIC", "UNKNOWN_TOPIC_OR_PART"}
_NO_BROKER = {"_ALL_BROKERS_DOWN", "_TRANSPORT", "_TIMED_OUT", "_RESOLVE"}


def explain_kafka_error(err: KafkaException, instrument: str | None) -> str:
    """Say what a Kafka error means for the user, keeping librdkafka's text."""
    error = err.args[0] if err.args else None
    name = error.name() if isinstance(error, KafkaError) else ""
    detail = error.str() if isinstance(error, KafkaError) else str(err)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP
    if name in _MISSING_TOPIC:
        return (
            f"instrument {instrument}'s topics do not exist on {bootstrap}: no livedata stack "
            f"for it has run there ({detail})"
        )
    if name in _NO_BROKER:
        return f"cannot reach the Kafka broker at {bootstrap} ({detail})"
    return f"Kafka: {detail}"


def _error(text: str) -> None:
    print(f"livedata ctl: error: {text}", file=sys.stderr, flush=True)


def _tail(argv: list[str]) -> int:
    from livedata.cli import tail

    previous = signal.getsignal(signal.SIGINT)
    try:
        return tail.main(argv)
    finally:
        signal.signal(signal.SIGINT, previous)  # tail installs its own Ctrl-C handler


def _print_json(document: Any) -> None:
    print(json.dumps(document), flush=True)


def cmd_instruments(args: argparse.Namespace, load: Loader) -> int:
    names = available_instruments()
    if args.json:
        _print_json({"instruments": names})
    else:
        print("\n".join(names) if names else "no instruments installed")
    return EXIT_OK


def cmd_workflows(args: argparse.Namespace, load: Loader) -> int:
    instrument = load(args.instrument)
    grouped = catalog.workflows_by_service(instrument.build_workflows(instrument))
    if args.json:
        _print_json({"instrument": instrument.name, "services": grouped})
    else:
        print(render_workflows(instrument.name, grouped))
    return EXIT_OK


def cmd_workflow(args: argparse.Namespace, load: Loader) -> int:
    instrument = load(args.instrument)
    registry = instrument.build_workflows(instrument)
    spec = catalog.find_spec(registry, instrument.name, args.workflow_id)
    if args.schema:
        schema = spec.params.model_json_schema()
        if args.json:
            _print_json(schema)
        else:
            rows = catalog.param_rows(schema)
            print(render_params(str(spec.workflow_id), spec.params.__name__, rows))
    elif args.json:
        _print_json(catalog.describe_workflow(spec))
    else:
        print(render_workflow(catalog.describe_workflow(spec)))
    return EXIT_OK


def cmd_start(args: argparse.Namespace, load: Loader) -> int:
    instrument = load(args.instrument)
    spec = catalog.find_spec(
        instrument.build_workflows(instrument), instrument.name, args.workflow_id
    )
    sources = catalog.check_sources(spec, args.source, all_sources=args.all_sources)
    base = params.load_params_file(args.params_file) if args.params_file else {}
    values = params.parse_param_args(args.param, base)
    catalog.validate_params(spec, values)
    aux = params.parse_assignments(args.aux, "--aux")
    catalog.check_aux(spec, aux)
    schedule = Schedule(
        start_time=None if args.start is None else params.parse_time(args.start, "--start"),
        end_time=None if args.end is None else params.parse_time(args.end, "--end"),
    )
    if (
        schedule.start_time is not None
        and schedule.end_time is not None
        and schedule.start_time > schedule.end_time
    ):
        raise UsageError("--start is after --end")
    built = commands.build_start(
        spec,
        sources,
        params=values,
        aux=aux,
        schedule=schedule,
        run_policy=RunPolicy(args.run_policy),
    )
    commands.check_wire(built)
    settings = KafkaSettings.from_env()
    answers = commands.send_start(settings, built, timeout_s=args.timeout)
    outcome = commands.start_outcome(spec, built, answers, timeout_s=args.timeout)
    return outcome.emit(as_json=args.json)


def cmd_job_action(args: argparse.Namespace, load: Loader) -> int:
    action = JobAction(args.command)
    instrument = load(args.instrument)
    service = None
    if args.job:
        built = commands.build_job_commands(action, jobs=[commands.parse_job(j) for j in args.job])
    elif args.workflow:
        spec = catalog.find_spec(
            instrument.build_workflows(instrument), instrument.name, args.workflow
        )
        service = spec.service
        built = commands.build_job_commands(action, workflow_id=spec.workflow_id)
    else:
        built = commands.build_job_commands(action)
    commands.check_wire(built)
    settings = KafkaSettings.from_env()
    answers = commands.send_job_commands(settings, instrument.name, built, timeout_s=args.timeout)
    if isinstance(answers, Answers):
        outcome = commands.job_outcome(
            built, answers, timeout_s=args.timeout, instrument=instrument.name
        )
    else:
        outcome = commands.broadcast_outcome(
            built[0], answers, timeout_s=args.timeout, instrument=instrument.name, service=service
        )
    return outcome.emit(as_json=args.json)


def cmd_status(args: argparse.Namespace, load: Loader) -> int:
    from livedata.cli.ctl.status import run_status

    instrument = load(args.instrument)
    return run_status(
        KafkaSettings.from_env(),
        instrument.name,
        as_json=args.json,
        watch=args.watch,
        interval_s=args.interval,
    )


HANDLERS: dict[str, Callable[[argparse.Namespace, Loader], int]] = {
    "instruments": cmd_instruments,
    "workflows": cmd_workflows,
    "workflow": cmd_workflow,
    "start": cmd_start,
    **{action.value: cmd_job_action for action in JobAction},
    "status": cmd_status,
}
