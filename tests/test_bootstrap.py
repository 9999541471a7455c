"""scripts/bootstrap mends a venv that a first run left without pip.

A Ctrl-C during the first `python -m venv` leaves .venv/bin/python but no pip,
and every later bootstrap then failed at `pip install`. The script is run as a
process, on a copy with a one-module project, so the test installs nothing big.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TINY_PROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "tiny-bootstrap-check"
version = "0"

[project.optional-dependencies]
dev = []

[tool.setuptools]
py-modules = ["tiny"]
"""


def _bootstrap(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(project / "scripts/bootstrap")],
        cwd=project,
        env={"PATH": "/usr/bin:/bin", "HOME": str(project), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_venv_without_pip_is_made_again_and_installed(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/bootstrap", tmp_path / "scripts/bootstrap")
    (tmp_path / "pyproject.toml").write_text(TINY_PROJECT)
    (tmp_path / "tiny.py").write_text("ANSWER = 42\n")
    # What an interrupted first run leaves: an interpreter, no pip.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", ".venv"], cwd=tmp_path, check=True
    )
    venv_python = tmp_path / ".venv/bin/python"
    assert subprocess.run([venv_python, "-m", "pip", "--version"], capture_output=True).returncode

    first = _bootstrap(tmp_path)

    assert first.returncode == 0, first.stderr
    assert "incomplete (no working pip)" in first.stderr
    imported = subprocess.run(
        [venv_python, "-c", "import tiny; print(tiny.ANSWER)"], capture_output=True, text=True
    )
    assert imported.stdout.strip() == "42", imported.stderr
    # A second run finds the stamp and does nothing.
    second = _bootstrap(tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stderr == ""
