"""Scaling with workers (part of ``make bench``): SubmitAudit requests/s with 16
clients against 1 and 2 supervised workers, the load generator on the same
machine. Never fails on speed."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import grpc

from lenses.v1 import audit_pb2, audit_pb2_grpc
from tests.api import audit
from tests.server_harness import fresh_database, running_server

CLIENTS = 16
# Each client its own TCP connection: gRPC otherwise shares one connection between
# channels to the same address, and every call would reach the same worker.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def submit_rate(address: str, messages: list[audit_pb2.CaseFileAudit]) -> float:
    """Requests per second saving ``messages`` with CLIENTS threads, one channel each."""
    chunks = [messages[i::CLIENTS] for i in range(CLIENTS)]

    def client(chunk: list[audit_pb2.CaseFileAudit]) -> None:
        with grpc.insecure_channel(address, options=OWN_CONNECTION) as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            for message in chunk:
                stub.SubmitAudit(audit_pb2.SubmitAuditRequest(audit=message), timeout=60)

    threads = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(messages) / (time.perf_counter() - start)


def main(quick: bool = False) -> None:
    count = 400 if quick else 2000
    backends = ["sqlite"] + (["postgres"] if os.environ.get("LENSES_TEST_POSTGRES_URL") else [])
    for backend in backends:
        rates = {}
        for workers in (1, 2):
            messages = [
                audit(("PLANS",) if i % 3 == 0 else (), completedOn="2026-01-15") for i in range(count)
            ]
            with (
                tempfile.TemporaryDirectory() as tmp,
                fresh_database(backend, Path(tmp)) as url,
                running_server(url, log_path=Path(tmp) / "server.log", LENSES_WORKERS=str(workers)) as server,
            ):
                submit_rate(server.address, messages[:50])  # warm up every worker's connections
                rates[workers] = submit_rate(server.address, messages[50:])
            print(f"workers.{backend}.SubmitAudit.c16.w{workers}.rps {rates[workers]:.0f} req/s", flush=True)
        print(f"workers.{backend}.SubmitAudit.c16.ratio_2_vs_1 {rates[2] / rates[1]:.2f} x")


if __name__ == "__main__":
    main()
