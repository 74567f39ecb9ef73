"""Load with retries, for the reliability tests: many clients save audits, retry
every failure they are told is transient, and the test disrupts the server
(or its database) part-way through."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from lenses.v1 import audit_pb2, audit_pb2_grpc

# Each client its own TCP connection: gRPC otherwise shares one connection between
# channels to the same address, and every call would reach the same worker.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
RETRYABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN"})


@dataclass
class Outcome:
    """What the clients saw: acknowledged audit ids and every error code."""

    acknowledged: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


def save_with_disruption(
    address: str, messages: list[audit_pb2.CaseFileAudit], clients: int, disrupt: Callable[[], None]
) -> Outcome:
    """Save ``messages`` from ``clients`` threads; call ``disrupt`` after a quarter
    are acknowledged; retry transient failures until every save is acknowledged."""
    outcome = Outcome()
    lock = threading.Lock()

    def client(chunk: list[audit_pb2.CaseFileAudit]) -> None:
        with grpc.insecure_channel(address, options=OWN_CONNECTION) as channel:
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            for message in chunk:
                for _ in range(300):
                    try:
                        stub.SubmitAudit(audit_pb2.SubmitAuditRequest(audit=message), timeout=30)
                    except grpc.RpcError as error:
                        with lock:
                            outcome.errors[error.code().name] += 1
                        if error.code().name not in RETRYABLE:
                            raise
                        time.sleep(0.1)
                        continue
                    with lock:
                        outcome.acknowledged.append(message.audit_id)
                    break

    threads = [threading.Thread(target=client, args=(messages[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    while len(outcome.acknowledged) < len(messages) // 4 and any(t.is_alive() for t in threads):
        time.sleep(0.05)
    disrupt()
    for thread in threads:
        thread.join(300)
    return outcome


def stored_counts(url: str) -> tuple[Counter[str], Counter[str]]:
    """Revisions stored per audit, and corrective actions per audit."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        revisions = Counter(
            row[0] for row in connection.execute(text("SELECT audit_id FROM audit_revisions"))
        )
        corrective = Counter(
            row[0]
            for row in connection.execute(
                text("SELECT audit_id FROM actions WHERE kind = 'CORRECTIVE_ACTION'")
            )
        )
    engine.dispose()
    return revisions, corrective
