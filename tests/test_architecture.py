"""The core stays free of Qt, and the window appears before torch is imported."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tempfile

import cnnviz.core


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tempfile.gettempdir(),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_core_and_cli_import_no_qt():
    modules = [m.name for m in pkgutil.walk_packages(cnnviz.core.__path__, "cnnviz.core.")]
    assert "cnnviz.core.engine" in modules and len(modules) > 15
    code = (
        "import importlib, sys\n"
        f"for name in {[*modules, 'cnnviz.cli', 'cnnviz.cli.bench']!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')))"
    )
    assert _run(code) == "[]"


def test_window_modules_do_not_import_torch():
    code = (
        "import sys\n"
        "import cnnviz.cli, cnnviz.app, cnnviz.qt.main_window\n"
        "cnnviz.cli.build_parser()\n"
        "print('torch' in sys.modules, 'torchvision' in sys.modules)"
    )
    assert _run(code) == "False False"


def test_every_package_is_installed():
    """A package missing from pyproject's list works in an editable install and breaks a
    real one (CI's): the list must name every folder with an __init__.py."""
    from pathlib import Path

    import tomllib

    root = Path(__file__).resolve().parents[1]
    listed = set(
        tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(root).parts)
        for init in (root / "cnnviz").rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
