"""The store's transactions: a read sees one snapshot; racing writers never deadlock."""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import grpc
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import RulesEngine
from lenses.v1 import action_pb2, audit_pb2
from server import actions
from server.actions import Actor
from server.audits import AuditService, _contribution
from server.db import Action, AreaDay, AuditHead, AuditorDay, SweepRun
from server.errors import Conflict, NotFound, StaleRevision, to_status
from server.store import Store
from tests.conftest import BACKENDS, RULES
from tests.server_harness import fresh_database
from tests.test_history_queries import _random_audit


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_internal_database_error_is_logged_without_the_values_written(
        backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An unexpected database error is logged for the operators, with what names the
    problem, but never the values written: a record may hold narrative text.
    (PostgreSQL's own message quotes the failing row; SQLAlchemy's adds the parameters.)"""
    marker = "narrative-MARKER-1234"
    with fresh_database(backend, tmp_path) as url:
        store = Store(url)
        try:
            # ``ran_at`` left out: a NOT NULL violation, whose message shows the row.
            with pytest.raises(IntegrityError) as raised:
                store.run(lambda session: session.execute(
                    insert(SweepRun), {"as_of": date(2026, 1, 1), "client": marker}))
            with caplog.at_level(logging.ERROR, logger="lenses.errors"):
                code, message, _ = to_status(raised.value, "req-1")
        finally:
            store.close()
    assert code == grpc.StatusCode.INTERNAL and marker not in message
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "lenses.errors"]
    assert "req-1" in logged and "IntegrityError" in logged and "sweep_runs" in logged
    assert marker not in logged and marker not in caplog.text


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_read_sees_one_snapshot_while_others_commit(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        store = Store(url)
        try:
            def count(session: Session) -> int:
                return session.scalar(select(func.count()).select_from(SweepRun)) or 0

            def read(session: Session) -> tuple[int, int]:
                before = count(session)
                store.run(lambda writer: writer.add(SweepRun(  # another transaction commits
                    as_of=date(2026, 1, 1), client="test", ran_at=datetime.now(UTC))))
                return before, count(session)

            assert store.read(read) == (0, 0)
            assert store.read(count) == 1  # a new read sees the commit
        finally:
            store.close()


THREADS, STEPS = 12, 40


@pytest.mark.parametrize("backend", BACKENDS)
def test_saves_moderations_and_completions_racing_on_two_stores(backend: str, tmp_path: Path) -> None:
    """Two stores (two servers) and many threads saving revisions, moderating and
    completing actions on the same audits: only the documented refusals happen,
    never a database error (a deadlock, say), and the day counts match a recount."""
    service = AuditService(RulesEngine.from_directory(RULES))
    actor = Actor("test", date(2026, 6, 1))
    unexpected: list[BaseException] = []
    with fresh_database(backend, tmp_path) as url:
        stores = [Store(url), Store(url)]
        try:
            def worker(index: int) -> None:
                rng, store = random.Random(index), stores[index % 2]
                for _ in range(STEPS):
                    try:
                        _one_step(rng, store, service, actor)
                    except (Conflict, StaleRevision, NotFound):
                        pass  # the API's answers to racing clients
                    except Exception as error:  # noqa: BLE001 - collected and asserted below
                        unexpected.append(error)

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert unexpected == []
            assert stores[0].read(_day_counts_off) == []
        finally:
            for store in stores:
                store.close()


def _one_step(rng: random.Random, store: Store, service: AuditService, actor: Actor) -> None:
    audit_id = f"A{rng.randrange(12)}"
    roll = rng.random()
    if roll < 0.2:
        open_ids = store.read(lambda s: list(s.scalars(
            select(Action.action_id).where(Action.status == "OPEN").limit(20))))
        if open_ids:
            request = action_pb2.CompleteActionRequest(
                action_id=rng.choice(open_ids), completed_by="x", completed_on="2026-06-01")
            store.run(lambda s: actions.complete(s, request, actor))
    elif roll < 0.35:
        moderation = audit_pb2.ModerateAuditRequest(audit_id=audit_id, moderator_id="m",
                                                     moderated_grade=rng.choice([1, 2, 3]))
        store.run(lambda s: service.moderate(s, moderation, actor))
    else:
        head = store.read(lambda s: s.get(AuditHead, audit_id))
        submission = service.prepare(_random_audit(rng, audit_id, head.revision + 1 if head else 1))
        store.run(lambda s: service.submit(s, submission, actor))


def _day_counts_off(session: Session) -> list[tuple[object, ...]]:
    """Day-count rows that differ from a recount of the audits' latest revisions."""
    area: Counter[tuple[object, ...]] = Counter()
    auditor: Counter[tuple[object, ...]] = Counter()
    for head in session.scalars(select(AuditHead)):
        counted = _contribution(head)
        if counted is not None:
            area[(counted.service_area, counted.completed_on)] += 1
            area[(counted.service_area, counted.completed_on, "good")] += counted.good
            key = (counted.service_area, counted.auditor_id, counted.completed_on)
            auditor[key] += 1
            auditor[(*key, "good")] += counted.good
    off: list[tuple[object, ...]] = []
    for day in session.scalars(select(AreaDay)):
        key = (day.service_area, day.completed_on)
        if (day.audits, day.good) != (area[key], area[(*key, "good")]):
            off.append(("area", *key, day.audits, day.good))
    for row in session.scalars(select(AuditorDay)):
        key = (row.service_area, row.auditor_id, row.completed_on)
        if (row.audits, row.good) != (auditor[key], auditor[(*key, "good")]):
            off.append(("auditor", *key, row.audits, row.good))
    return off


@pytest.mark.parametrize("backend", BACKENDS)
def test_only_sqlite_reads_are_run_on_the_event_loop(backend: str, tmp_path: Path) -> None:
    """A PostgreSQL read waits on the network at every statement: run on the server's
    event loop it would stall every other call, so only SQLite's may run there."""
    with fresh_database(backend, tmp_path) as url:
        store = Store(url)
        try:
            assert store.reads_never_wait is (backend == "sqlite")
        finally:
            store.close()


def test_after_commit_callbacks_run_once_and_only_for_the_attempt_that_commits(tmp_path: Path) -> None:
    """What a write counts (findings, actions created) is counted once it is stored:
    not for an attempt that lost a race and was run again, nor for a failed write."""
    from sqlalchemy.exc import IntegrityError

    from server.store import after_commit

    store = Store(f"sqlite:///{tmp_path}/after-commit.db")
    counted: list[str] = []
    attempts: list[int] = []

    def lose_the_first_race(session: Session) -> None:
        attempt = len(attempts) + 1
        attempts.append(attempt)
        after_commit(session, lambda: counted.append(f"attempt {attempt}"))
        if attempt == 1:
            raise IntegrityError("INSERT", {}, Exception("a racing writer got there first"))

    def fail(session: Session) -> None:
        after_commit(session, lambda: counted.append("failed write"))
        raise RuntimeError("the write fails")

    try:
        store.run(lose_the_first_race)
        with pytest.raises(RuntimeError):
            store.run(fail)
        store.run(lambda session: after_commit(session, lambda: counted.append("another")))
    finally:
        store.close()
    assert attempts == [1, 2]
    assert counted == ["attempt 2", "another"]
