"""Nothing in livedata turns data into code, and user-named files stay in their folder.

A static scan of ``src/livedata``: YAML is read with ``yaml.safe_load`` only (no
``load``, ``full_load`` or ``unsafe_load``, which can build Python objects), there is
no pickle or marshal, no ``eval``/``exec``, no shell, and modules are imported by name
only from the CLI's fixed table. Plus: names of grid templates, which come from users
of the dashboard, cannot reach a file outside the instrument's ``grids`` folder.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import livedata
from livedata.config.registry import load_instrument
from livedata.dashboard.policy.grid import GridError
from livedata.dashboard.policy.grid_files import load_template

SRC = Path(livedata.__file__).parent

UNSAFE_YAML = {"load", "load_all", "full_load", "full_load_all", "unsafe_load", "unsafe_load_all"}
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "marshal", "shelve", "cloudpickle", "jsonpickle"}
IMPORT_BY_NAME_ALLOWED = {"cli/main.py"}  # a fixed table of subcommand modules


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        yield str(path.relative_to(SRC)), ast.parse(path.read_text(), filename=str(path))


MODULES = dict(_modules())


def _calls(tree: ast.Module) -> Iterator[ast.Call]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return "?"


def test_the_scan_sees_the_source() -> None:
    assert "dashboard/policy/grid.py" in MODULES
    assert len(MODULES) > 50


def test_yaml_is_only_ever_safe_loaded() -> None:
    unsafe = [
        f"{name}:{call.lineno}"
        for name, tree in MODULES.items()
        for call in _calls(tree)
        if isinstance(call.func, ast.Attribute)
        and call.func.attr in UNSAFE_YAML
        and _dotted(call.func.value) == "yaml"
    ]
    loaders = [
        f"{name}:{call.lineno}"
        for name, tree in MODULES.items()
        for call in _calls(tree)
        if any(keyword.arg == "Loader" for keyword in call.keywords)
    ]
    from_imports = [
        f"{name}:{node.lineno}"
        for name, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module == "yaml"
        and any(alias.name in UNSAFE_YAML or alias.name.endswith("Loader") for alias in node.names)
    ]
    assert (unsafe, loaders, from_imports) == ([], [], [])
    assert any(
        isinstance(call.func, ast.Attribute) and call.func.attr == "safe_load"
        for tree in MODULES.values()
        for call in _calls(tree)
    )


def test_no_module_deserialises_python_objects() -> None:
    imports = []
    for name, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imports += [(name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imports.append((name, node.module))
    assert [(n, m) for n, m in imports if m.split(".")[0] in UNSAFE_MODULES] == []


def test_no_eval_exec_or_shell() -> None:
    found = []
    for name, tree in MODULES.items():
        for call in _calls(tree):
            callee = _dotted(call.func)
            if callee in {"eval", "exec", "compile", "os.system", "os.popen", "__import__"}:
                found.append(f"{name}:{call.lineno} {callee}")
            shell = [k for k in call.keywords if k.arg == "shell"]
            if shell and not (
                isinstance(shell[0].value, ast.Constant) and not shell[0].value.value
            ):
                found.append(f"{name}:{call.lineno} shell=")
    assert found == []


def test_modules_are_imported_by_name_only_from_the_cli_table() -> None:
    users = {
        name
        for name, tree in MODULES.items()
        for call in _calls(tree)
        if _dotted(call.func) in {"importlib.import_module", "import_module"}
    }
    assert users <= IMPORT_BY_NAME_ALLOWED


@pytest.mark.parametrize(
    "name",
    [
        "../dream/grids/default",
        "../../instrument",
        "/etc/passwd",
        "..",
        ".hidden",
        "default/../../x",
        "default\x00",
        "~root",
        "a" * 65,
    ],
)
def test_a_template_name_cannot_leave_the_grids_folder(name: str) -> None:
    dummy = load_instrument("dummy")
    with pytest.raises(GridError, match="template name"):
        load_template(dummy, name)
