"""Prometheus metrics. With several workers each writes its own files in
PROMETHEUS_MULTIPROC_DIR (set by the supervisor) and the supervisor serves the
sum on LENSES_METRICS_LISTEN."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from sqlalchemy.orm import Session

from engine.model import Finding

from .store import after_commit

REQUESTS = Counter("lenses_requests", "gRPC calls handled, by RPC and status code", ["rpc", "code"])
LATENCY = Histogram("lenses_request_seconds", "gRPC call latency, by RPC and status code", ["rpc", "code"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
FINDINGS = Counter("lenses_findings", "Findings of stored evaluations (saves, moderations), by rule",
                   ["rule"])
ACTIONS = Counter("lenses_actions_created", "Actions created, by kind", ["kind"])
SWEEPS = Counter("lenses_sweeps", "Sweeps, by result: the daily sweep's checks (ran, skipped, "
                 "failed) and RunEscalations calls (requested)", ["result"])
SWEEP_ACTIONS = Counter("lenses_sweep_actions_created", "Actions created by sweeps")


def call(rpc: str, code: str, seconds: float) -> None:
    """Count one call."""
    REQUESTS.labels(rpc=rpc, code=code).inc()
    LATENCY.labels(rpc=rpc, code=code).observe(seconds)


def findings(rule_ids: list[str]) -> None:
    """Count the findings of a save."""
    for rule in rule_ids:
        FINDINGS.labels(rule=rule).inc()


def findings_once_stored(session: Session, found: Iterable[Finding]) -> None:
    """Count the findings of an evaluation this transaction stores, once it commits:
    never for an attempt that rolls back (a lost race, run again), and a repeated
    save stores nothing. Every stored evaluation counts (audit, moderation, review,
    inspection, placement, plan rating), so every rule's findings are counted."""
    rule_ids = [f.rule_id for f in found]
    after_commit(session, lambda: findings(rule_ids))
