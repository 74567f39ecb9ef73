"""Supervised workers (``lenses serve``): LENSES_WORKERS processes share one port
(SO_REUSEPORT, gRPC's default on Linux); a worker that dies is replaced; SIGTERM
is forwarded so every worker drains its in-flight calls. Metrics of all workers
are served here on LENSES_METRICS_LISTEN.

A worker is a separate Python process (``python -m server.worker``): nothing
gRPC is started in this process before the workers exist.
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


@dataclass
class Worker:
    """One worker process and whether it has reported ready."""

    index: int
    process: subprocess.Popen[str]
    ready: threading.Event = field(default_factory=threading.Event)


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
        self.stopping = False

    def _environment(self, index: int) -> dict[str, str]:
        # Every setting, flags included: a worker reads its settings from the environment.
        return {**os.environ, **self.settings.to_env(), "LENSES_LISTEN": f"{self.host}:{self.port}",
                "LENSES_WORKER_INDEX": str(index), "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir}

    def _spawn(self, index: int) -> Worker:
        process = subprocess.Popen([sys.executable, "-m", "server.worker"], stdout=subprocess.PIPE,
                                   text=True, env=self._environment(index))
        worker = Worker(index, process)
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
                if worker.process.poll() is not None:
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
        """Replace workers that die, until asked to stop."""
        while not self.stopping:
            for slot, worker in enumerate(self.workers):
                code = worker.process.poll()
                if code is not None and not self.stopping:
                    log.error("worker %d (pid %d) exited with %s; starting another", worker.index,
                              worker.process.pid, code)
                    self._forget(worker.process.pid)
                    self.workers[slot] = self._spawn(worker.index)
            time.sleep(0.2)

    def _forget(self, pid: int) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path=self.metrics_dir)

    def stop(self, *_: object) -> None:
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
    supervisor = Supervisor(settings, out)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    try:
        if not supervisor.start():
            return 2
        supervisor.watch()
        return 0
    finally:
        shutil.rmtree(supervisor.metrics_dir, ignore_errors=True)
