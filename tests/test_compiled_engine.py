"""The engine compiled with mypyc (tools/compile_engine.py, run by ``make install``):
what runs is built from the sources on disk, or the sources themselves.

Python imports ``facts.cpython-311-….so`` in preference to ``facts.py``; an edited
source must never silently not run. Each test here imports a copy of the engine in
a fresh interpreter."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine import _compiled
from tests.conftest import ROOT

ENGINE = ROOT / "engine"
COMPILED = (ENGINE / _compiled.RECORD).exists()
needs_build = pytest.mark.skipif(not COMPILED, reason="the engine is not compiled here "
                                 "(`make install` compiles it)")

PROBE = "import engine.facts, sys; print(engine.facts.__file__)"


def _engine_copy(tmp_path: Path) -> Path:
    shutil.copytree(ENGINE, tmp_path / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "engine"


def _import(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(tmp_path)})


@needs_build
def test_the_compiled_modules_are_what_runs() -> None:
    for name in _compiled.MODULES:
        module = importlib.import_module(f"engine.{name}")
        assert not str(module.__file__).endswith(".py"), module.__file__


@needs_build
def test_an_edited_source_stops_the_stale_compiled_engine_from_loading(tmp_path: Path) -> None:
    engine = _engine_copy(tmp_path)
    assert _import(tmp_path).returncode == 0
    facts = engine / "facts.py"
    facts.write_text(facts.read_text() + "\n# an edit\n")
    result = _import(tmp_path)
    assert result.returncode != 0
    assert "engine/facts.py changed since the engine was compiled" in result.stderr
    assert "make install" in result.stderr


@needs_build
def test_an_extension_the_build_did_not_make_stops_the_engine_loading(tmp_path: Path) -> None:
    engine = _engine_copy(tmp_path)
    stray = next(engine.glob("scoring.*.so"))
    shutil.copy(stray, engine / stray.name.replace("scoring", "loader"))
    result = _import(tmp_path)
    assert result.returncode != 0 and "loader." in result.stderr, result.stderr


@needs_build
def test_extensions_without_their_record_stop_the_engine_loading(tmp_path: Path) -> None:
    engine = _engine_copy(tmp_path)
    (engine / _compiled.RECORD).unlink()
    result = _import(tmp_path)
    assert result.returncode != 0 and _compiled.RECORD in result.stderr, result.stderr


def test_without_extensions_the_sources_run(tmp_path: Path) -> None:
    engine = _engine_copy(tmp_path)
    for extension in engine.glob("*.so"):
        extension.unlink()
    (engine / _compiled.RECORD).unlink(missing_ok=True)
    result = _import(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("engine/facts.py")
