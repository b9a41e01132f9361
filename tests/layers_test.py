"""The layer contracts catch an upward import (not just pass on today's code)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(package_parent: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=package_parent,
        env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src" / "livedata", tmp_path / "livedata")
    return tmp_path


@pytest.mark.slow
def test_the_real_code_keeps_the_contracts(package_copy: Path) -> None:
    result = lint(package_copy)
    assert result.returncode == 0, result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "forbidden_import"),
    [
        ("core/batching.py", "import livedata.kafka.settings"),
        ("protocol/ev44.py", "import livedata.workflows"),
        ("core/processor.py", "import livedata.testing"),
    ],
)
def test_an_upward_import_breaks_the_check(
    package_copy: Path, module: str, forbidden_import: str
) -> None:
    path = package_copy / "livedata" / module
    path.write_text(path.read_text() + f"\n{forbidden_import}  # deliberate violation\n")
    result = lint(package_copy)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout.upper()
