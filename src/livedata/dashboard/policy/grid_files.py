"""Where grids live: templates shipped with an instrument, and grids users save.

Templates are YAML files in the ``grids/`` folder of the instrument's package
(``livedata/config/instruments/<name>/grids/*.yaml``), read through
``importlib.resources`` so they work from a wheel too. User grids are files
``<base>/<instrument>/<name>.yaml`` under a base directory (``LIVEDATA_GRID_DIR``, else
``~/.local/share/livedata/grids``). Names come from users: they are allow-listed and the
resolved path must stay inside the base directory, so no name reaches another file.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from livedata.config.instrument import Instrument
from livedata.dashboard.policy.grid import (
    MAX_GRID_FILE_BYTES,
    Grid,
    GridError,
    grid_from_yaml,
    grid_to_yaml,
)

GRID_DIR_ENV = "LIVEDATA_GRID_DIR"
DEFAULT_GRID_DIR = Path("~/.local/share/livedata/grids")

TEMPLATE_FOLDER = "grids"
SUFFIX = ".yaml"

MAX_GRID_NAME = 64
_NAME_RE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_GRID_NAME - 1}}}$")
"""Grid and instrument names as path parts: no separators, no leading dot, no ``..``."""


def check_name(name: str, what: str = "grid name") -> str:
    """``name`` if it is a safe single path part; raises ``GridError`` otherwise."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise GridError(
            f"{what} {name!r} must be 1-{MAX_GRID_NAME} letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


def grid_dir(env: Mapping[str, str] | None = None) -> Path:
    """The base directory of user grids (not created here)."""
    env = os.environ if env is None else env
    configured = env.get(GRID_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else DEFAULT_GRID_DIR.expanduser()


class GridLibrary:
    """The grids users saved, per instrument, under one base directory."""

    def __init__(self, base: Path | None = None) -> None:
        self.base = (base if base is not None else grid_dir()).expanduser()

    def path(self, instrument: str, name: str) -> Path:
        """The file of grid ``name``; raises ``GridError`` for a name that would leave
        the base directory."""
        check_name(instrument, "instrument name")
        check_name(name)
        base = self.base.resolve()
        path = (base / instrument / f"{name}{SUFFIX}").resolve()
        if not path.is_relative_to(base):
            raise GridError(f"grid {name!r} would be stored outside {base}")
        return path

    def names(self, instrument: str) -> list[str]:
        folder = self.path(instrument, "x").parent
        if not folder.is_dir():
            return []
        return sorted(
            p.stem for p in folder.iterdir() if p.suffix == SUFFIX and _NAME_RE.match(p.stem)
        )

    def load(self, instrument: str, name: str) -> Grid:
        path = self.path(instrument, name)
        try:
            with path.open("rb") as f:
                text = f.read(MAX_GRID_FILE_BYTES + 1)
        except FileNotFoundError:
            raise GridError(f"no saved grid {name!r} for {instrument}") from None
        return grid_from_yaml(text, instrument=instrument)

    def save(self, instrument: str, name: str, grid: Grid) -> Path:
        """Write atomically (a reader never sees half a file); returns the path."""
        path = self.path(instrument, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(grid_to_yaml(grid))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def delete(self, instrument: str, name: str) -> bool:
        path = self.path(instrument, name)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True


def _template_folder(instrument: Instrument) -> Traversable | None:
    """The ``grids`` folder of the package that built ``instrument`` (found from its
    workflow builder, so an instrument renamed for a test still finds its templates)."""
    module = getattr(instrument.build_workflows, "__module__", None)
    while module:
        try:
            folder = resources.files(module) / TEMPLATE_FOLDER
        except (ModuleNotFoundError, TypeError):
            folder = None
        if folder is not None and folder.is_dir():
            return folder
        module = module.rpartition(".")[0] if "." in module else None
        if module in (None, "livedata.config.instruments", "livedata.config", "livedata"):
            return None
    return None


def template_names(instrument: Instrument) -> list[str]:
    """Names of the grid templates an instrument ships (file stems), sorted."""
    folder = _template_folder(instrument)
    if folder is None:
        return []
    return sorted(
        entry.name.removesuffix(SUFFIX)
        for entry in folder.iterdir()
        if entry.name.endswith(SUFFIX) and _NAME_RE.match(entry.name.removesuffix(SUFFIX))
    )


def load_template(instrument: Instrument, name: str) -> Grid:
    """One shipped template, for ``instrument``; raises ``GridError`` if absent or bad."""
    check_name(name, "template name")
    folder = _template_folder(instrument)
    entry = None if folder is None else folder / f"{name}{SUFFIX}"
    if entry is None or not entry.is_file():
        raise GridError(f"instrument {instrument.name} ships no grid template {name!r}")
    return grid_from_yaml(entry.read_bytes(), instrument=instrument.name)
