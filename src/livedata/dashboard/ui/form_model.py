"""What a params form shows, read from a pydantic params model (no Panel here).

:func:`describe` turns a model class into a tree of :class:`FieldSpec` (numbers with
their bounds, enums and literals as choices, booleans, strings, nested models as
groups, optional fields); :func:`errors_by_path` files a ``ValidationError``'s messages
under the field they belong to, so the form can show each next to its widget.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import annotated_types
import pydantic
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from livedata.dashboard.contract import InvalidParams

Kind = Literal["int", "float", "bool", "choice", "str", "model", "json"]

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldSpec:
    """One field of a params form."""

    name: str
    path: Path
    """Where the value lives in the params mapping (``("toa_range", "start_ns")``)."""
    kind: Kind
    label: str
    description: str = ""
    default: Any = None
    """The default value (a plain mapping for models); ``None`` when there is none."""
    required: bool = False
    optional: bool = False
    """``None`` is a valid value (the field is ``X | None``)."""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[tuple[str, Any], ...] = ()
    """(label, value) pairs of a choice field."""
    children: tuple[FieldSpec, ...] = field(default_factory=tuple)

    @property
    def bounds_text(self) -> str:
        """The allowed range, as a hint (``"1 … 10000"``, ``"> 0"``), or ``""``."""
        low = _fmt(self.ge) if self.ge is not None else _fmt(self.gt)
        high = _fmt(self.le) if self.le is not None else _fmt(self.lt)
        low_op = "≥" if self.ge is not None else ">"
        high_op = "≤" if self.le is not None else "<"
        if low and high:
            return f"{low} … {high}"
        if low:
            return f"{low_op} {low}"
        if high:
            return f"{high_op} {high}"
        return ""


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe(model: type[pydantic.BaseModel], prefix: Path = ()) -> tuple[FieldSpec, ...]:
    """The form fields of ``model``, in declaration order, nested models as groups."""
    return tuple(_field(name, info, (*prefix, name)) for name, info in model.model_fields.items())


def _field(name: str, info: FieldInfo, path: Path) -> FieldSpec:
    annotation, optional = _unwrap_optional(info.annotation)
    label = info.title or name.replace("_", " ")
    description = info.description or ""
    default = _default(info)
    common: dict[str, Any] = {
        "name": name,
        "path": path,
        "label": label,
        "description": description,
        "required": info.is_required(),
        "optional": optional,
    }
    bounds = _bounds(info.metadata)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        if isinstance(default, pydantic.BaseModel):
            default = default.model_dump(mode="json")
        return FieldSpec(
            kind="model", default=default, children=describe(annotation, path), **common
        )
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices = tuple((str(m.name), m.value) for m in annotation)
        if isinstance(default, enum.Enum):
            default = default.value
        return FieldSpec(kind="choice", default=default, choices=choices, **common)
    if origin is Literal:
        choices = tuple((str(v), v) for v in typing.get_args(annotation))
        return FieldSpec(kind="choice", default=default, choices=choices, **common)
    if annotation is bool:
        return FieldSpec(kind="bool", default=bool(default), **common)
    if annotation is int:
        return FieldSpec(kind="int", default=default, **common, **bounds)
    if annotation is float:
        return FieldSpec(kind="float", default=default, **common, **bounds)
    if annotation is str:
        return FieldSpec(kind="str", default=default, **common)
    return FieldSpec(kind="json", default=default, **common)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); ``Annotated[X, ...]`` -> X; anything else unchanged."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            inner, _ = _unwrap_optional(args[0])
            return inner, optional
        return annotation, optional
    return annotation, False


def _default(info: FieldInfo) -> Any:
    if info.default is not PydanticUndefined:
        return info.default
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, attr.capitalize())):
                out[attr] = getattr(item, attr)
        if isinstance(item, annotated_types.Interval):
            out.update({k: v for k, v in vars(item).items() if v is not None})
    return out


def iter_fields(fields: tuple[FieldSpec, ...]) -> typing.Iterator[FieldSpec]:
    """Every field, depth first (groups before their children)."""
    for spec in fields:
        yield spec
        yield from iter_fields(spec.children)


def errors_by_path(error: BaseException, fields: tuple[FieldSpec, ...]) -> dict[Path, list[str]]:
    """Messages of a validation error, filed under the deepest known field of each.

    Errors of the model as a whole (cross-field validators) land under ``()``. The
    backend's ``InvalidParams`` (dotted paths, ``"<root>"``) and pydantic's
    ``ValidationError`` are understood; any other error lands under ``()`` with its text.
    """
    known = {spec.path for spec in iter_fields(fields)}
    problems = getattr(error, "problems", None)
    if isinstance(error, InvalidParams) or isinstance(problems, Mapping):
        items = [
            (() if loc == ROOT else tuple(str(loc).split(".")), str(msg))
            for loc, msg in dict(problems or {}).items()
        ]
    else:
        validation = _validation_error(error)
        if validation is None:
            return {(): [str(error)]}
        items = [
            (tuple(str(part) for part in item["loc"]), str(item["msg"]))
            for item in validation.errors(include_url=False)
        ]
    out: dict[Path, list[str]] = {}
    for loc, msg in items:
        out.setdefault(_known_prefix(loc, known), []).append(msg.removeprefix("Value error, "))
    return out or {(): [str(error)]}


ROOT = "<root>"
"""``InvalidParams``' name for the params model as a whole."""


def _known_prefix(loc: tuple[str, ...], known: set[Path]) -> Path:
    """The deepest field of the form that ``loc`` lies in (``()`` if none)."""
    names = {part for path in known for part in path}
    # Unions add the member's type name to ``loc``: skip parts that name no field.
    parts = tuple(p for p in loc if p in names)
    for n in range(len(parts), 0, -1):
        if parts[:n] in known:
            return parts[:n]
    return ()


def _validation_error(error: BaseException | None) -> pydantic.ValidationError | None:
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, pydantic.ValidationError):
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def parse_json_field(text: str) -> Any:
    """The value of a free-form field (lists, mappings): JSON, or the text itself."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
