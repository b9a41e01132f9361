"""``livedata``: one entry point for every process and tool.

Sub-commands are imported only when chosen, so ``livedata --help`` stays instant.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("livedata.cli.demo", "run the whole stack for one instrument"),
    "broker": ("livedata.cli.broker", "run the embedded Kafka-compatible broker"),
    "service": ("livedata.services.runner", "run one processing service"),
    "fake": ("livedata.services.fake_producers", "publish fake instrument data"),
    "tail": ("livedata.cli.tail", "print results as they arrive"),
    "ctl": ("livedata.cli.ctl", "start, stop and inspect jobs; show service status"),
    "dashboard": ("livedata.cli.dashboard", "serve the live dashboard on 127.0.0.1:5009"),
    "dashboard-user": ("livedata.cli.dashboard_user", "add, remove and list dashboard users"),
}


def usage() -> str:
    lines = ["usage: livedata <command> [options]", "", "commands:"]
    lines += [f"  {name:<14} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'livedata <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0
    if args[0] == "--version":
        from livedata import __version__

        print(__version__)
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"livedata: unknown command {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    import importlib

    module = importlib.import_module(command[0])
    entry: Callable[[Sequence[str]], int] = module.main
    return entry(args[1:])


if __name__ == "__main__":
    sys.exit(main())
