"""Database connections and transactions.

SQLite (the embedded default) serialises writers: every write transaction
starts with ``BEGIN IMMEDIATE`` so two writers never deadlock upgrading a read
lock, and waits up to 30 s for the lock; reads use their own connections and
never take it (WAL). On PostgreSQL, reads run at REPEATABLE READ (one snapshot),
and writes that must commit in order go through ``at_commit``.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .migrate import ensure_sqlite_folder

T = TypeVar("T")
RETRIES_ON_CONFLICT = 3
# Any constant: the key of the PostgreSQL advisory lock that puts committing writers in line.
COMMIT_ORDER_LOCK = 7_321_001
_AT_COMMIT = "lenses_at_commit"

# Turns: transaction-scoped PostgreSQL advisory locks with two-int keys, (space, hash
# of a name), apart from the one-int COMMIT_ORDER_LOCK. The spaces: a service area's
# and a case's history (audits.py), a provider (providers.py), a later audit's
# decision log (late.py).
AREA_TURNS, CASE_TURNS, PROVIDER_TURNS, LOG_TURNS = 1, 2, 3, 4
_TAKE_TURN = text("SELECT pg_advisory_xact_lock(:space, hashtext(:name))")


def takes_turns(session: Session) -> bool:
    """Whether writers take turns: on PostgreSQL (SQLite has one writer at a time)."""
    return session.get_bind().dialect.name == "postgresql"


def take_turn(session: Session, space: int, name: str) -> None:
    """Wait until no other transaction holds this turn, then hold it until this one
    ends (PostgreSQL; nothing on SQLite). A hash collision only makes two names wait
    for each other."""
    if takes_turns(session):
        session.execute(_TAKE_TURN, {"space": space, "name": name})


def at_commit(session: Session, write: Callable[[Session], None]) -> None:
    """Run ``write`` as this transaction's last statements, just before it commits.

    Those final writes run holding (on PostgreSQL) a transaction-scoped lock until
    the commit, so transactions that have them commit one at a time, in the order
    they take it: action events get sequence numbers in commit order, and rows every
    save updates (the day counts) are locked only by the transaction that is about to
    commit, so no save waits on another's row lock while that one waits for the
    lock. The lock is held for a few statements and the commit. (SQLite already
    serialises writers.)
    """
    session.info.setdefault(_AT_COMMIT, []).append(write)


@event.listens_for(Session, "before_commit")
def _final_writes(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the final writes belong to the outer commit
    writes = session.info.pop(_AT_COMMIT, None)
    if not writes:
        return
    # Everything else first: a row this transaction changes must be locked before it
    # queues for the lock, or it could wait there while the holder waits for that row.
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": COMMIT_ORDER_LOCK})
    for write in writes:
        write(session)
    session.flush()


_AFTER_COMMIT = "lenses_after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once this transaction has committed; never if it rolls back
    (a save retried after losing a race, say): for counting what a write did."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, []):
        callback()


@event.listens_for(Session, "after_rollback")
def _forget_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


def make_engine(url: str, for_writes: bool = True) -> Engine:
    """An SQLAlchemy engine for ``url`` with the settings each backend needs.

    ``hide_parameters``: a database error's text (logged with an internal error)
    would otherwise carry the statement's values, such as a stored record with
    narrative text (operations.md: logs never contain it)."""
    if url.startswith("sqlite"):
        ensure_sqlite_folder(url)
        # As many pooled connections as request threads: a connection opened beyond the
        # pool is closed after one use, and a new one re-reads the schema and pragmas.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=20, max_overflow=10, hide_parameters=True)
        _sqlite_transactions(engine, "BEGIN IMMEDIATE" if for_writes else "BEGIN")
        return engine
    return create_engine(url, pool_size=20, max_overflow=10, pool_pre_ping=True, hide_parameters=True)


def _sqlite_transactions(engine: Engine, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL is set once by ``lenses migrate`` and kept in the file; switching here
        # needs an exclusive lock, which two workers starting together would race for.
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


# PostgreSQL's deadlock_detected and serialization_failure: the transaction was
# aborted because of another one, and can simply run again.
_ABORTED_FOR_ANOTHER = frozenset({"40P01", "40001"})


def _lost_a_race(error: DBAPIError) -> bool:
    return isinstance(error, IntegrityError) or \
        getattr(error.orig, "sqlstate", None) in _ABORTED_FOR_ANOTHER


class WriteTurn:
    """Serialises SQLite writers: threads on a lock, processes on ``flock``."""

    def __init__(self, url: str) -> None:
        self._threads = threading.Lock()
        path = url.removeprefix("sqlite:///")
        self._file = open(f"{path}.write-lock", "a") if path and ":memory:" not in path else None  # noqa: SIM115

    def __enter__(self) -> None:
        self._threads.acquire()
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._threads.release()


class Store:
    """The database: one engine, transactions on demand."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite: reads get their own connections with a plain BEGIN, so that in
        # WAL mode they never queue behind writers for the write lock.
        # PostgreSQL: REPEATABLE READ, so a read's statements all see one snapshot (at the
        # default READ COMMITTED each statement would see the commits made meanwhile).
        self._read_engine = (make_engine(url, for_writes=False) if url.startswith("sqlite")
                             else self.engine.execution_options(isolation_level="REPEATABLE READ"))
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)
        # A SQLite read is CPU work on a local file, and in WAL mode it never waits for
        # a writer's lock; a PostgreSQL read waits for the server at every statement.
        self.reads_never_wait = url.startswith("sqlite")
        # SQLite has one writer at a time; its busy handler retries by sleeping and is
        # unfair (a writer could wait seconds). Writers queue on a lock instead: a
        # thread lock within this process, a file lock (flock) across the workers.
        self._write_turn: AbstractContextManager[object] = (
            WriteTurn(url) if url.startswith("sqlite") else contextlib.nullcontext())

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits together, or not at all."""
        with self._sessions() as session, session.begin():
            yield session

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction, retried when a unique constraint shows
        that a concurrent writer got there first (it then sees that writer's rows),
        or when PostgreSQL broke a deadlock between two writers' row locks by
        aborting this one."""
        for attempt in range(RETRIES_ON_CONFLICT):
            try:
                with self._write_turn, self.transaction() as session:
                    return work(session)
            except DBAPIError as error:
                if not _lost_a_race(error) or attempt == RETRIES_ON_CONFLICT - 1:
                    raise
        raise AssertionError("unreachable")

    def read(self, work: Callable[[Session], T]) -> T:
        """Run read-only ``work`` (one consistent snapshot)."""
        with self._read_sessions() as session, session.begin():
            return work(session)

    def close(self) -> None:
        """Release every connection."""
        self.engine.dispose()
        self._read_engine.dispose()
