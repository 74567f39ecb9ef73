"""The store's transactions: a read sees one snapshot, on every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db import SweepRun
from server.store import Store
from tests.conftest import BACKENDS
from tests.server_harness import fresh_database


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
