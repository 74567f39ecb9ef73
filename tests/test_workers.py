"""Supervised workers: a worker killed with SIGKILL in the middle of a load loses
no acknowledged save and is replaced; metrics add up across workers."""

from __future__ import annotations

import logging
import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.api import audit
from tests.conftest import BACKENDS
from tests.load import RETRYABLE, save_with_disruption, stored_counts
from tests.server_harness import fresh_database, running_server

CLIENTS, SAVES = 16, 2000


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (the workers of a supervisor)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killed_worker_loses_no_acknowledged_save(backend: str, tmp_path: Path) -> None:
    messages = [
        audit(
            ("PLANS",) if i % 4 == 0 else (),
            overall="DOES_NOT_MEET_GOOD" if i % 4 == 0 else "MEETS_GOOD",
            completedOn="2026-01-15",
        )
        for i in range(SAVES)
    ]
    port = _free_port()
    with fresh_database(backend, tmp_path) as url:
        with running_server(
            url,
            log_path=tmp_path / "server.log",
            LENSES_WORKERS="2",
            LENSES_METRICS_LISTEN=f"127.0.0.1:{port}",
        ) as server:
            workers = children(server.process.pid)
            assert len(workers) == 2
            outcome = save_with_disruption(
                server.address, messages, CLIENTS, lambda: os.kill(workers[0], signal.SIGKILL)
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(children(server.process.pid)) < 2:
                time.sleep(0.2)
            replaced = children(server.process.pid)
            scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        stored, corrective = stored_counts(url)
    assert len(replaced) == 2 and workers[0] not in replaced
    assert len(outcome.acknowledged) == SAVES
    assert set(outcome.errors) <= RETRYABLE, outcome.errors
    assert all(stored[audit_id] == 1 for audit_id in outcome.acknowledged)
    assert max(corrective.values()) == 1 and len(corrective) == SAVES // 4
    submitted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in scraped.splitlines()
        if line.startswith("lenses_requests_total{")
        and 'rpc="AuditService.SubmitAudit"' in line
        and 'code="OK"' in line
    )
    assert submitted >= SAVES - 20  # the killed worker's counts since its last write may be lost
    timed = [line for line in scraped.splitlines() if line.startswith("lenses_request_seconds_count{")
             and 'rpc="AuditService.SubmitAudit"' in line]
    assert timed and all('code="' in line for line in timed)  # latency per RPC and status


def _save_at_once(address: str, message: object, copies: int) -> list[object]:
    """``copies`` SubmitAudit calls of ``message`` released together, each on its own
    connection; their replies."""
    import threading

    import grpc

    from lenses.v1 import audit_pb2, audit_pb2_grpc

    start = threading.Barrier(copies)
    replies: list[object] = []

    def save() -> None:
        with grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            start.wait(timeout=30)
            replies.append(audit_pb2_grpc.AuditServiceStub(channel).SubmitAudit(
                audit_pb2.SubmitAuditRequest(audit=message), timeout=30))

    threads = [threading.Thread(target=save) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return replies


@pytest.mark.parametrize("backend", BACKENDS)
def test_findings_are_counted_once_per_saved_revision(backend: str, tmp_path: Path) -> None:
    """The same first save sent twice at once: one is stored, the other loses the race
    on the unique revision and is answered as a repeat; its findings are not counted."""
    port = _free_port()
    messages = [audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
                for _ in range(10)]
    findings = 0
    with fresh_database(backend, tmp_path) as url, running_server(
            url, log_path=tmp_path / "server.log", LENSES_WORKERS="2",
            LENSES_METRICS_LISTEN=f"127.0.0.1:{port}") as server:
        for message in messages:
            first, second = _save_at_once(server.address, message, 2)
            assert first == second
            findings += len(first.findings)  # type: ignore[attr-defined]
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in scraped.splitlines()
                  if line.startswith("lenses_findings_total{"))
    assert counted == findings, (counted, findings)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its new parent to reap it has ended)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    """A supervisor killed with SIGKILL cannot stop its workers: they notice and stop,
    rather than serve the shared port beside the next supervisor's workers."""
    with fresh_database("sqlite", tmp_path) as url, running_server(
            url, log_path=tmp_path / "server.log", LENSES_WORKERS="2") as server:
        workers = children(server.process.pid)
        assert len(workers) == 2
        os.kill(server.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.2)
        left = [pid for pid in workers if _alive(pid)]
        for pid in left:  # clean up after a failure
            os.kill(pid, signal.SIGKILL)
    assert left == []
    assert "the supervisor (pid" in (tmp_path / "server.log").read_text()


def test_restart_delay_grows_for_a_worker_that_keeps_dying() -> None:
    from server.supervisor import MAX_RESTART_DELAY, restart_delay

    delays = [restart_delay(n) for n in range(1, 12)]
    assert delays[0] == 0  # a worker that died once (a crash mid-load) is replaced at once
    assert all(a < b for a, b in zip(delays[1:], delays[2:7], strict=False))
    assert delays[-1] == MAX_RESTART_DELAY


def test_a_worker_that_cannot_start_is_not_restarted_in_a_tight_loop(
        caplog: pytest.LogCaptureFixture) -> None:
    """Workers that die at once (as when the database is down) are replaced ever more
    slowly: each replacement waits ``restart_delay`` more than the last, rather than
    one being started at every check (every TICK)."""
    import shutil
    import sys
    import threading

    from server.config import Settings
    from server.supervisor import TICK, Supervisor, restart_delay

    def deaths() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "exited with 3" in r.getMessage()]

    supervisor = Supervisor(Settings(listen="127.0.0.1:0", workers=1), sys.stdout)
    supervisor.command = [sys.executable, "-c", "raise SystemExit(3)"]
    try:
        with caplog.at_level(logging.ERROR, logger="lenses.supervisor"):
            supervisor.workers = [supervisor._spawn(0)]
            watching = threading.Thread(target=supervisor.watch)
            watching.start()
            deadline = time.monotonic() + 30  # five deaths take about 2.5 s unloaded
            while len(deaths()) < 5 and time.monotonic() < deadline and watching.is_alive():
                time.sleep(0.05)
            supervisor.request_stop()
            watching.join(10)
        supervisor.stop()
    finally:
        shutil.rmtree(supervisor.metrics_dir, ignore_errors=True)
    noted = [r.created for r in deaths()]
    assert len(noted) >= 5, [r.getMessage() for r in deaths()]
    # The replacement for the n-th death starts restart_delay(n) after it is noted, and
    # its own death is noted a check later at the soonest: load only widens the gaps.
    gaps = [later - earlier for earlier, later in zip(noted, noted[1:], strict=False)]
    assert all(gap >= restart_delay(n) for n, gap in enumerate(gaps, start=1)), gaps
    assert gaps[3] >= 4 * TICK, gaps  # a tight loop replaces the worker at every check
    assert not watching.is_alive()


_SIGNAL_RACE = """
import random, shutil, signal, sys
import server.supervisor as supervisor
from server.config import Settings

supervisor.TICK = 0.00005  # the loop's checks as often as can be: the race comes soon
for trial in range(3000):
    s = supervisor.Supervisor(Settings(listen="127.0.0.1:0", workers=1), sys.stdout)
    signal.signal(signal.SIGALRM, s.request_stop)
    signal.setitimer(signal.ITIMER_REAL, random.uniform(0.0001, 0.002))
    s.watch()  # no workers: returns once the handler has run
    shutil.rmtree(s.metrics_dir, ignore_errors=True)
print("stopped every time")
"""


def test_a_stop_signal_never_deadlocks_the_supervisor() -> None:
    """The handler runs on the main thread between any two of its steps, also while
    ``watch`` waits: it must take no lock that ``watch`` may hold (with a
    threading.Event it hung within a few hundred signals)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _SIGNAL_RACE], capture_output=True, text=True,
                            timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0 and "stopped every time" in result.stdout, result.stderr[-2000:]


def test_a_stop_asked_for_while_starting_is_a_clean_stop(caplog: pytest.LogCaptureFixture) -> None:
    """SIGTERM while the workers start (a deployment rolling back) stops them and
    exits 0 with a line saying so; it was exit 2, the code of a worker that could
    not start, with nothing logged."""
    import sys
    import threading

    from server.config import Settings
    from server.supervisor import Supervisor, supervise

    supervisor = Supervisor(Settings(listen="127.0.0.1:0", workers=1), sys.stdout)
    supervisor.command = [sys.executable, "-c", "import time; time.sleep(60)"]  # never ready
    threading.Timer(1.0, supervisor.request_stop).start()
    with caplog.at_level(logging.INFO, logger="lenses.supervisor"):
        code = supervise(supervisor)
    assert code == 0 and "stopped while starting" in caplog.text
    assert all(worker.process.poll() is not None for worker in supervisor.workers)


def test_a_worker_that_cannot_start_still_fails_the_start() -> None:
    import sys

    from server.config import Settings
    from server.supervisor import Supervisor, supervise

    supervisor = Supervisor(Settings(listen="127.0.0.1:0", workers=1), sys.stdout)
    supervisor.command = [sys.executable, "-c", "raise SystemExit(3)"]
    assert supervise(supervisor) == 2
