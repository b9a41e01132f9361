"""What an instrument offers: finding a workflow, checking a request, describing specs.

Everything is checked here, before anything is sent: an unknown workflow, a source the
workflow does not accept, or params its model rejects never reach Kafka.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic

from livedata.cli.ctl.errors import UsageError
from livedata.core.identity import WorkflowId
from livedata.core.workflow import WorkflowRegistry, WorkflowSpec

MAX_SHOWN_INPUT = 60
"""Characters of a rejected value echoed back in a validation error."""


def find_spec(registry: WorkflowRegistry, instrument: str, text: str) -> WorkflowSpec:
    """The spec for ``inst/name/version``, or for a bare ``name`` (its newest version)."""
    known = ", ".join(sorted(str(w) for w in registry)) or "none"
    hint = f"known: {known} (see: livedata ctl workflows --instrument {instrument})"
    if "/" in text:
        try:
            workflow_id = WorkflowId.parse(text)
        except ValueError:
            raise UsageError(
                f"workflow {text!r} is neither 'instrument/name/version' nor a name; {hint}"
            ) from None
        if workflow_id.instrument != instrument:
            raise UsageError(
                f"workflow {text} belongs to instrument {workflow_id.instrument!r}, "
                f"not {instrument!r}; add --instrument {workflow_id.instrument}"
            )
        if workflow_id in registry:
            return registry[workflow_id].spec
        raise UsageError(f"unknown workflow {text} for instrument {instrument}; {hint}")
    matches = [spec for spec in registry.specs() if spec.workflow_id.name == text]
    if not matches:
        raise UsageError(f"unknown workflow {text!r} for instrument {instrument}; {hint}")
    return max(matches, key=lambda spec: spec.workflow_id.version)


def check_sources(spec: WorkflowSpec, sources: Sequence[str], *, all_sources: bool) -> list[str]:
    """The sources to start for, in order, each once; all of them must be accepted."""
    if all_sources:
        return list(spec.source_names)
    if not sources:
        raise UsageError("give --source NAME (repeatable) or --all-sources")
    unknown = [s for s in sources if s not in spec.source_names]
    if unknown:
        raise UsageError(
            f"{spec.workflow_id} does not accept source(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(spec.source_names)}"
        )
    return list(dict.fromkeys(sources))


def check_aux(spec: WorkflowSpec, aux: Mapping[str, str]) -> None:
    """Refuse unknown roles and streams a role does not allow (defaults fill the rest)."""
    try:
        spec.resolve_aux_sources(aux)
    except ValueError as err:
        roles = ", ".join(spec.aux_sources) or "none"
        raise UsageError(f"--aux for {spec.workflow_id}: {err} (roles: {roles})") from None


def validate_params(spec: WorkflowSpec, params: Mapping[str, Any]) -> None:
    """Validate params against the workflow's model, as the service will."""
    try:
        model = spec.params.model_validate(dict(params))
    except pydantic.ValidationError as err:
        lines = [f"invalid params for {spec.workflow_id}:"]
        lines += [f"  {problem}" for problem in describe_errors(err)]
        lines.append(f"see: livedata ctl workflow {spec.workflow_id} --schema")
        raise UsageError("\n".join(lines)) from None
    bad = _non_finite(model.model_dump())
    if bad:
        raise UsageError(f"invalid params for {spec.workflow_id}: {bad} is not a finite number")


def describe_errors(error: pydantic.ValidationError) -> list[str]:
    """Each problem as ``field: message (got value)``."""
    out = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "params"
        text = f"{where}: {problem['msg']}"
        if problem["type"] not in ("missing", "extra_forbidden") and "input" in problem:
            shown = json.dumps(problem["input"], default=repr)
            if len(shown) > MAX_SHOWN_INPUT:
                shown = shown[: MAX_SHOWN_INPUT - 3] + "..."
            text += f" (got {shown})"
        out.append(text)
    return out


def _non_finite(value: Any, where: str = "params") -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{where}.{key}")
        if found:
            return found
    return None


# -- descriptions ----------------------------------------------------------------


def describe_workflow(spec: WorkflowSpec) -> dict[str, Any]:
    """A spec as plain JSON: id, title, sources, aux roles, param names and outputs."""
    return {
        "workflow_id": str(spec.workflow_id),
        "service": spec.service,
        "title": spec.title,
        "description": spec.description,
        "sources": list(spec.source_names),
        "aux_sources": {
            role: {
                "choices": list(aux.choices),
                "default": aux.choices[0],
                "required": aux.required,
                "description": aux.description,
            }
            for role, aux in spec.aux_sources.items()
        },
        "params": list(spec.params.model_fields),
        "outputs": [
            {
                "name": name,
                "title": output.title,
                "dims": list(output.template.dims),
                "unit": None if output.template.unit is None else str(output.template.unit),
            }
            for name, output in spec.outputs.items()
        ],
    }


def workflows_by_service(registry: WorkflowRegistry) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for spec in sorted(registry.specs(), key=lambda s: (s.service, s.workflow_id)):
        grouped.setdefault(spec.service, []).append(describe_workflow(spec))
    return grouped


@dataclass(frozen=True, slots=True)
class ParamRow:
    """One settable param, named as ``--param`` takes it (dotted when nested)."""

    key: str
    type: str
    default: str
    limits: str
    description: str


_LIMITS = (
    ("minimum", ">="),
    ("exclusiveMinimum", ">"),
    ("maximum", "<="),
    ("exclusiveMaximum", "<"),
    ("minLength", "min length"),
    ("maxLength", "max length"),
    ("minItems", "min items"),
    ("maxItems", "max items"),
    ("pattern", "pattern"),
)


def param_rows(schema: Mapping[str, Any]) -> list[ParamRow]:
    """Flatten a pydantic JSON schema into rows, nested models as dotted keys."""
    defs: Mapping[str, Any] = schema.get("$defs", {})

    def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
        for _ in range(32):  # a self-referencing model must not loop forever
            ref = node.get("$ref")
            if not isinstance(ref, str):
                break
            target = defs.get(ref.rsplit("/", 1)[-1], {})
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def type_of(node: Mapping[str, Any]) -> str:
        node = resolve(node)
        if "anyOf" in node:
            return " | ".join(type_of(option) for option in node["anyOf"])
        if "enum" in node:
            return "one of " + ", ".join(json.dumps(v) for v in node["enum"])
        if "const" in node:
            return json.dumps(node["const"])
        kind = node.get("type", "any")
        if kind == "array":
            return f"list[{type_of(node.get('items', {}))}]"
        if kind == "object" and "properties" in node:
            return str(node.get("title", "object"))
        return str(kind)

    def object_part(node: Mapping[str, Any]) -> Mapping[str, Any] | None:
        node = resolve(node)
        if "properties" in node:
            return node
        for option in node.get("anyOf", []):
            found = object_part(option)
            if found is not None:
                return found
        return None

    rows: list[ParamRow] = []

    def walk(obj: Mapping[str, Any], prefix: str, depth: int) -> None:
        required = set(obj.get("required", []))
        for name, node in obj.get("properties", {}).items():
            full = resolve(node)
            if "default" in node:
                default = json.dumps(node["default"])
            else:
                default = "(required)" if name in required else ""
            limits = ", ".join(f"{label} {full[key]}" for key, label in _LIMITS if key in full)
            rows.append(
                ParamRow(
                    key=prefix + name,
                    type=type_of(node),
                    default=default,
                    limits=limits,
                    description=str(full.get("description", "")).split("\n")[0],
                )
            )
            nested = object_part(node)
            if nested is not None and depth < 8:
                walk(nested, f"{prefix}{name}.", depth + 1)

    walk(resolve(schema), "", 0)
    return rows
