"""Conformance with operations.md where it names commands, settings and targets:
``lenses test [DIR]`` ("the rule test cases in rules/tests/ (or DIR)"), settings
``lenses serve`` cannot use refused at the start (exit 2, naming the variable),
and ``make proto`` on a fresh clone."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, RULES

LENSES = Path(sys.executable).parent / "lenses"


def _lenses(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LENSES), *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)


def _environment(**extra: str) -> dict[str, str]:
    """This process's environment without any LENSES_* setting, plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("LENSES_")}, **extra}


# ------------------------------------------------------------- lenses test DIR


def test_test_runs_the_cases_of_a_tests_folder_given_as_dir() -> None:
    """``lenses test rules/tests`` runs the cases in that folder (against the rules
    around it), as ``lenses test rules`` does."""
    result = _lenses("test", RULES / "tests")
    assert result.returncode == 0, result.stderr[-2000:]
    assert ", 0 failed" in result.stdout and "rules error" not in result.stderr


def test_test_of_the_current_folder_inside_rules_tests() -> None:
    """``lenses test .`` from inside rules/tests: "." has no name to recognise."""
    result = subprocess.run([str(LENSES), "test", "."], capture_output=True, text=True,
                            timeout=120, cwd=RULES / "tests")
    assert result.returncode == 0, result.stderr[-2000:]
    assert ", 0 failed" in result.stdout


def test_bracketed_ipv6_and_host_names_are_addresses() -> None:
    from server.config import Settings

    for listen in ("[::1]:50051", "localhost:0", ":50051", "0.0.0.0:50051"):
        Settings(listen=listen).check_serving()


def test_test_of_a_tests_folder_fails_when_a_parameter_changed(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    params = rules / "params.yaml"
    params.write_text(params.read_text().replace("shortcomings_threshold: 3", "shortcomings_threshold: 4"))
    result = _lenses("test", rules / "tests")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "FAIL" in result.stdout and "GC-06" in result.stdout


# ------------------------------------------------- settings lenses serve cannot use


@pytest.mark.parametrize(("args", "env", "reason"), [
    (["--listen", "127.0.0.1"], {}, "LENSES_LISTEN must be host:port"),
    (["--listen", "127.0.0.1:abc"], {}, "LENSES_LISTEN must be host:port"),
    ([], {"LENSES_LISTEN": "127.0.0.1:70000"}, "LENSES_LISTEN must be host:port"),
    (["--metrics-listen", "127.0.0.1"], {}, "LENSES_METRICS_LISTEN must be host:port"),
    ([], {"LENSES_METRICS_LISTEN": "nonsense"}, "LENSES_METRICS_LISTEN must be host:port"),
    ([], {"LENSES_LOG_FORMAT": "xml"}, "LENSES_LOG_FORMAT must be one of text, json"),
    (["--listen", "::1"], {}, "LENSES_LISTEN must be host:port"),  # host ":", port 1
])
def test_an_address_or_log_format_the_server_cannot_use_stops_the_start(
        tmp_path: Path, args: list[str], env: dict[str, str], reason: str) -> None:
    """Checked before anything else (here before the missing database): no traceback
    once workers have started, no JSON logs silently left as text."""
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    result = _lenses("serve", "--database-url", url, "--workers", "1", *args,
                     env=_environment(LENSES_DAILY_SWEEP="0", **env))
    assert result.returncode == 2, result.stderr[-2000:]
    assert reason in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------ make proto, fresh


def test_make_proto_works_before_make_install(tmp_path: Path) -> None:
    """operations.md expects ``make proto``; on a fresh clone (no .venv yet) it makes
    the virtualenv it needs instead of asking for ``make install`` first. The
    "python3" here makes a venv whose python is this one (no download), which has the
    generators already: their install branch runs on every fresh clone instead
    (``make install`` calls ``make proto`` on a new venv; ``.ci/run`` does that)."""
    venv = tmp_path / "venv"
    fake_python = tmp_path / "python3"
    wrapper = f'#!/bin/sh\\nexec {sys.executable} "$@"\\n'
    fake_python.write_text(
        "#!/bin/sh\n"
        '[ "$1" = "-m" ] && [ "$2" = "venv" ] || exit 3\n'
        'mkdir -p "$3/bin"\n'
        f"printf '{wrapper}' > \"$3/bin/python\"\n"
        'chmod +x "$3/bin/python"\n')
    fake_python.chmod(fake_python.stat().st_mode | stat.S_IXUSR)
    gen = tmp_path / "gen"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    result = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "proto",
                             f"VENV={venv}", f"GEN={gen}", f"PYTHON={fake_python}"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]
    assert (venv / "bin" / "python").exists()
    for name in ("audit_pb2.py", "audit_pb2_grpc.py", "audit_pb2.pyi", "common_pb2.py"):
        assert (gen / "lenses" / "v1" / name).exists(), name
