"""Supervised workers (``lenses serve``): LENSES_WORKERS processes share one port
(SO_REUSEPORT, gRPC's default on Linux); a worker that dies is replaced; SIGTERM
is forwarded so every worker drains its in-flight calls. Metrics of all workers
are served here on LENSES_METRICS_LISTEN.

A worker is a separate Python process (``python -m server.worker``): nothing
gRPC is started in this process before the workers exist. A worker that keeps
dying (the database is down, the rules folder broke) is restarted ever more
slowly, not in a tight loop; a worker whose supervisor is gone stops by itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from .config import Settings

log = logging.getLogger("lenses.supervisor")
READY = "lenses: worker serving on "
GRACE = 15.0
TICK = 0.2  # seconds between checks on the workers
MAX_RESTART_DELAY = 10.0
STABLE_AFTER = 30.0  # seconds: a worker that ran this long died for a new reason


def restart_delay(quick_deaths: int) -> float:
    """How long to wait before replacing a worker that has died ``quick_deaths``
    times in a row within ``STABLE_AFTER`` of its start: the first at once (a
    crash mid-load), then doubling up to ``MAX_RESTART_DELAY`` (a worker that
    cannot start would otherwise be restarted five times a second, forever)."""
    if quick_deaths <= 1:
        return 0.0
    return min(MAX_RESTART_DELAY, TICK * 2 ** (quick_deaths - 2))


@dataclass
class Worker:
    """One worker process and whether it has reported ready."""

    index: int
    process: subprocess.Popen[str]
    ready: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    quick_deaths: int = 0  # deaths in a row, each within STABLE_AFTER of a start
    restart_at: float | None = None  # once it has died: when to start its replacement


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host.strip("[]"), 0))
        return int(probe.getsockname()[1])


class Supervisor:
    """Starts, watches and stops the workers."""

    def __init__(self, settings: Settings, out: TextIO) -> None:
        self.settings = settings
        self.out = out
        host, port = settings.listen.rsplit(":", 1)
        self.host = host
        self.port = int(port) if port != "0" else _free_port(host)
        self.metrics_dir = tempfile.mkdtemp(prefix="lenses-metrics-")
        self.workers: list[Worker] = []
        # A plain flag, not a threading.Event: the signal handler sets it on the main
        # thread, which may be inside Event.wait holding the Event's lock, and the
        # handler would then wait for that lock forever.
        self.stopping = False
        self.signalled = False  # a stop was asked for (SIGTERM, SIGINT), not a failure
        self.command = [sys.executable, "-m", "server.worker"]

    def _environment(self, index: int) -> dict[str, str]:
        # Every setting, flags included: a worker reads its settings from the environment.
        return {**os.environ, **self.settings.to_env(), "LENSES_LISTEN": f"{self.host}:{self.port}",
                "LENSES_WORKER_INDEX": str(index), "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir,
                "LENSES_SUPERVISOR_PID": str(os.getpid())}

    def _spawn(self, index: int, quick_deaths: int = 0) -> Worker:
        process = subprocess.Popen(self.command, stdout=subprocess.PIPE, text=True,
                                   env=self._environment(index))
        worker = Worker(index, process, quick_deaths=quick_deaths)
        threading.Thread(target=self._follow, args=(worker,), daemon=True).start()
        return worker

    @staticmethod
    def _follow(worker: Worker) -> None:
        """Read the worker's stdout: its ready line, then anything else (so it never blocks)."""
        assert worker.process.stdout is not None
        for line in worker.process.stdout:
            if line.startswith(READY):
                worker.ready.set()

    def start(self) -> bool:
        """Start every worker; False if one could not start (it reported why)."""
        self.workers = [self._spawn(i) for i in range(self.settings.workers)]
        for worker in self.workers:
            while not worker.ready.wait(0.1):
                if worker.process.poll() is not None or self.stopping:
                    self.stop()
                    return False
        try:
            self._serve_metrics()
        except OSError as exc:  # e.g. the port is taken: no worker may outlive the supervisor
            log.error("cannot serve metrics on %s: %s", self.settings.metrics_listen, exc)
            self.stop()
            return False
        self.out.write(f"lenses: serving on {self.host}:{self.port} ({len(self.workers)} workers)\n")
        self.out.flush()
        return True

    def _serve_metrics(self) -> None:
        if not self.settings.metrics_listen:
            return
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.metrics_dir)
        host, port = self.settings.metrics_listen.rsplit(":", 1)
        start_http_server(int(port), addr=host.strip("[]"), registry=registry)
        log.info("metrics on http://%s/metrics", self.settings.metrics_listen)

    def watch(self) -> None:
        """Replace workers that die (see ``restart_delay``), until asked to stop."""
        while not self.stopping:
            now = time.monotonic()
            for slot, worker in enumerate(self.workers):
                code = worker.process.poll()
                if code is None:
                    continue
                if worker.restart_at is None:
                    worker.restart_at = self._died(worker, code, now)
                if now >= worker.restart_at and not self.stopping:
                    self.workers[slot] = self._spawn(worker.index, worker.quick_deaths)
            time.sleep(TICK)  # a signal's handler runs, then the sleep goes on (PEP 475)

    def _died(self, worker: Worker, code: int, now: float) -> float:
        """Note a worker's death; when to start its replacement."""
        quick = now - worker.started < STABLE_AFTER
        worker.quick_deaths = worker.quick_deaths + 1 if quick else 1
        delay = restart_delay(worker.quick_deaths)
        log.error("worker %d (pid %d) exited with %s; starting another in %.1f s", worker.index,
                  worker.process.pid, code, delay)
        self._forget(worker.process.pid)
        return now + delay

    def _forget(self, pid: int) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path=self.metrics_dir)

    def request_stop(self, *_: object) -> None:
        """The signal handler: only asks. ``watch`` returns and ``run`` then stops the
        workers, so none can be started after the others were told to stop. It takes
        no lock: it runs on the main thread, between any two of its steps."""
        self.signalled = True
        self.stopping = True

    def stop(self) -> None:
        """Forward SIGTERM; give the workers GRACE seconds to drain, then kill."""
        self.stopping = True
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        for worker in self.workers:
            try:
                worker.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                worker.process.kill()


def run(settings: Settings, out: TextIO) -> int:
    """``lenses serve``: supervise the workers until SIGTERM or SIGINT."""
    return supervise(Supervisor(settings, out))


def supervise(supervisor: Supervisor) -> int:
    """Start the workers and keep them until SIGTERM or SIGINT: 0 once stopped as
    asked (also while starting), 2 if a worker could not start."""
    previous = {number: signal.signal(number, supervisor.request_stop)
                for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not supervisor.start():
            if supervisor.signalled:  # e.g. a deployment stopped it while it started
                log.info("stopped while starting, as asked")
                return 0
            return 2
        supervisor.watch()
        supervisor.stop()
        return 0
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        shutil.rmtree(supervisor.metrics_dir, ignore_errors=True)
