"""Plain-text tables and the human forms of counts, durations and workflow specs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from livedata.cli.ctl.catalog import ParamRow

MAX_CELL = 60
"""Longest cell in a table; longer text (an error message) is cut with '...'."""


def cut(text: str, width: int = MAX_CELL) -> str:
    text = " ".join(text.split())  # a multi-line error must not break the table
    return text if len(text) <= width else text[: width - 3] + "..."


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, indent: str = "") -> str:
    """Columns padded to their widest cell, two spaces apart; ``None`` shows as ``-``."""
    cells = [
        [cut("-" if value is None else str(value)) for value in row] for row in [headers, *rows]
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(indent + line.rstrip() for line in lines)


def format_count(n: int) -> str:
    """``987``, ``12.3k``, ``4.56M``: compact enough for a status table."""
    if abs(n) < 10_000:
        return str(n)
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            value = n / scale
            return f"{value:.3g}{suffix}" if value < 1000 else f"{value:.0f}{suffix}"
    return str(n)  # unreachable: |n| >= 10_000 always matches "k"


def format_duration(seconds: float | None) -> str:
    """``42s``, ``5m03s``, ``2h05m``, ``3d04h``."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def render_workflow(info: Mapping[str, Any], *, indent: str = "") -> str:
    """One workflow as ``describe_workflow`` gives it, in a few readable lines."""
    pad = indent + "    "
    lines = [f"{indent}{info['workflow_id']}  {info['title']}"]
    if info.get("description"):
        lines.append(f"{pad}{info['description']}")
    lines.append(f"{pad}sources  {', '.join(info['sources'])}")
    for role, aux in info["aux_sources"].items():
        need = "required" if aux["required"] else "optional"
        lines.append(
            f"{pad}aux      {role} ({need}): one of {', '.join(aux['choices'])}"
            f" [default {aux['default']}]"
        )
    lines.append(f"{pad}params   {', '.join(info['params']) or '(none)'}")
    outputs = [
        [o["name"], o["title"], "(" + ", ".join(o["dims"]) + ")", o["unit"]]
        for o in info["outputs"]
    ]
    if outputs:
        rendered = table(["output", "title", "dims", "unit"], outputs).splitlines()
        lines += [pad + line for line in rendered]
    return "\n".join(lines)


def render_workflows(instrument: str, grouped: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    blocks = [f"instrument {instrument}: {sum(map(len, grouped.values()))} workflows"]
    for service, infos in grouped.items():
        blocks.append(f"\n{service}")
        blocks += [render_workflow(info, indent="  ") for info in infos]
    return "\n".join(blocks)


def render_params(workflow_id: str, model_name: str, rows: Sequence[ParamRow]) -> str:
    if not rows:
        return f"{workflow_id} takes no params"
    head = f"{workflow_id} params ({model_name}); set with --param KEY=VALUE:"
    body = table(
        ["key", "type", "default", "limits", "description"],
        [[r.key, r.type, r.default, r.limits, r.description] for r in rows],
        indent="  ",
    )
    return f"{head}\n{body}"
