"""``lenses serve`` configuration (operations.md): every flag reaches every worker
process, and a setting the server cannot use, or a database without every
migration, stops it at the start with the reason (exit 2) instead of serving
wrongly."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
import yaml

from lenses.v1 import audit_pb2, audit_pb2_grpc, rules_pb2, rules_pb2_grpc
from tests.api import audit
from tests.conftest import ROOT
from tests.server_harness import LENSES

TOKEN = "a-token-for-the-case-management-system"


def _environment(**extra: str) -> dict[str, str]:
    """This process's environment without any LENSES_* setting, plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("LENSES_")}, **extra}


def _migrated(path: Path) -> str:
    url = f"sqlite:///{path}"
    subprocess.run([str(LENSES), "migrate", "--database-url", url], check=True,
                   capture_output=True, timeout=120, env=_environment())
    return url


@contextmanager
def _serving(args: list[str], cwd: Path, log: Path) -> Iterator[tuple[str, str]]:
    """``lenses serve ARGS`` run from ``cwd``: (its address, its "serving" line)."""
    with open(log, "w") as errors:
        process = subprocess.Popen([str(LENSES), "serve", "--listen", "127.0.0.1:0", *args],
                                   stdout=subprocess.PIPE, stderr=errors, text=True, cwd=cwd,
                                   env=_environment(LENSES_DAILY_SWEEP="0"))
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("lenses: serving on "), log.read_text()[-2000:]
            yield line.split()[3], line
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_flags_reach_every_worker(tmp_path: Path) -> None:
    """Run from another folder with no LENSES_* variables: the database, rules, tokens
    and log format given as flags are what both workers use."""
    url = _migrated(tmp_path / "flags.db")
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"clients": [{
        "name": "cms", "token_sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
        "roles": ["case-management"]}]}))
    elsewhere = tmp_path / "elsewhere"  # no rules/ here: the default folder would not load
    elsewhere.mkdir()
    log = tmp_path / "server.log"
    args = ["--database-url", url, "--rules", str(ROOT / "rules"), "--tokens-file", str(tokens),
            "--log-format", "json", "--workers", "2"]
    saved = []
    with _serving(args, elsewhere, log) as (address, line):
        assert "(2 workers)" in line
        for _ in range(8):  # a connection each: both workers answer some
            with grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                with pytest.raises(grpc.RpcError) as refused:
                    rules_pb2_grpc.RulesServiceStub(channel).GetRuleset(rules_pb2.GetRulesetRequest())
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
                message = audit()
                audit_pb2_grpc.AuditServiceStub(channel).SubmitAudit(
                    audit_pb2.SubmitAuditRequest(audit=message),
                    metadata=[("authorization", f"Bearer {TOKEN}")], timeout=30)
                saved.append(message.audit_id)
    with sqlite3.connect(tmp_path / "flags.db") as db:
        stored = {row[0] for row in db.execute("SELECT audit_id FROM audit_heads")}
    assert stored == set(saved)
    workers = {json.loads(entry)["logger"] for entry in log.read_text().splitlines()
               if entry.startswith("{")}
    assert "lenses.calls" in workers  # the workers' call lines are JSON


def test_workers_zero_means_one_per_cpu(tmp_path: Path) -> None:
    url = _migrated(tmp_path / "zero.db")
    with _serving(["--database-url", url, "--workers", "0"], ROOT, tmp_path / "server.log") as (_, line):
        assert f"({os.cpu_count()} workers)" in line


@pytest.mark.parametrize(("args", "env", "reason"), [
    (["--workers", "-1"], {}, "must not be negative"),
    ([], {"LENSES_WORKERS": "two"}, "LENSES_WORKERS must be a whole number"),
    (["--tls-key", "server.key"], {}, "need LENSES_TLS_CERT"),
    ([], {"LENSES_TLS_CLIENT_CA": "ca.pem"}, "need LENSES_TLS_CERT"),
    (["--tls-cert", "server.pem"], {}, "needs LENSES_TLS_KEY"),
])
def test_a_setting_the_server_cannot_use_stops_the_start(
        tmp_path: Path, args: list[str], env: dict[str, str], reason: str) -> None:
    url = _migrated(tmp_path / "settings.db")
    result = subprocess.run([str(LENSES), "serve", "--listen", "127.0.0.1:0", "--database-url", url, *args],
                            capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env=_environment(**env))
    assert result.returncode == 2, result.stderr[-2000:]
    assert reason in result.stderr and "Traceback" not in result.stderr


def test_a_rules_folder_that_does_not_load_stops_the_start_clearly(tmp_path: Path) -> None:
    """The reason, with the file and line, before any worker starts; no traceback."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    params = rules / "params.yaml"
    params.write_text(params.read_text().replace("shortcomings_threshold: 3",
                                                 "shortcomings_threshold: three"))
    url = _migrated(tmp_path / "rules.db")
    result = subprocess.run([str(LENSES), "serve", "--listen", "127.0.0.1:0", "--database-url", url,
                             "--rules", str(rules)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, env=_environment())
    assert result.returncode == 2, result.stderr[-2000:]
    assert "params.yaml:" in result.stderr and "shortcomings_threshold" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [
    ["serve", "--listen", "127.0.0.1:0"], ["sweep", "--as-of", "2026-01-31"],
    ["report", "--month", "2026-01"],
])
def test_a_database_without_every_migration_is_refused(tmp_path: Path, command: list[str]) -> None:
    """Never SERVING (or sweeping, or reporting) on a schema this version does not know."""
    missing = tmp_path / "never-migrated.db"
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    for path in (missing, empty):
        result = subprocess.run([str(LENSES), *command, "--database-url", f"sqlite:///{path}"],
                                capture_output=True, text=True, timeout=60, cwd=ROOT, env=_environment())
        assert result.returncode == 2, result.stderr[-2000:]
        assert "lenses migrate" in result.stderr and "Traceback" not in result.stderr
    assert not missing.exists()  # not created by the attempt


def test_a_metrics_port_in_use_stops_the_start_and_every_worker(tmp_path: Path) -> None:
    import socket

    url = _migrated(tmp_path / "metrics.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = subprocess.Popen(
            [str(LENSES), "serve", "--listen", "127.0.0.1:0", "--database-url", url,
             "--metrics-listen", f"127.0.0.1:{port}", "--workers", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env=_environment(LENSES_DAILY_SWEEP="0"))
        _, errors = process.communicate(timeout=60)
    assert process.returncode == 2, errors[-2000:]
    assert "cannot serve metrics" in errors
    assert _processes_with(f"LENSES_DATABASE_URL={url}") == []  # no worker left behind


def _processes_with(variable: str) -> list[int]:
    """The live processes whose environment has ``variable`` (NAME=value)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environment = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if variable.encode() in environment:
                found.append(int(entry.name))
    return found
