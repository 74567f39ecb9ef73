"""The daily sweep runs inside the server once per day per deployment, even with
several servers on one database (the claim is a row in the database)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from lenses.v1 import action_pb2, common_pb2
from server.clock import today_in_england
from tests.api import Client, audit, submit
from tests.server_harness import fresh_database, running_server

SWEEPING = {"LENSES_DAILY_SWEEP": "1", "LENSES_SWEEP_INTERVAL": "0.2"}


def test_two_servers_sweep_today_exactly_once(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as url:
        with running_server(url) as first, first.channel() as channel:  # no daily sweep here
            overdue = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
            (action,) = [
                a
                for a in submit(Client(channel), overdue).actions
                if a.kind == common_pb2.ACTION_KIND_CORRECTIVE_ACTION
            ]
        with (
            running_server(url, **SWEEPING) as one,
            running_server(url, **SWEEPING),
            one.channel() as channel,
        ):
            deadline = time.monotonic() + 30
            escalations: list[common_pb2.Action] = []
            while time.monotonic() < deadline and not escalations:
                time.sleep(0.3)
                listed = Client(channel).actions.ListActions(
                    action_pb2.ListActionsRequest(
                        filter=common_pb2.ActionFilter(
                            kinds=[common_pb2.ACTION_KIND_CORRECTIVE_ACTION_ESCALATION]
                        )
                    )
                )
                escalations = list(listed.actions)
            time.sleep(1.0)  # both servers check several more times
            listed = Client(channel).actions.ListActions(
                action_pb2.ListActionsRequest(
                    filter=common_pb2.ActionFilter(
                        kinds=[common_pb2.ACTION_KIND_CORRECTIVE_ACTION_ESCALATION]
                    )
                )
            )
            assert [a.escalated_from for a in listed.actions] == [action.action_id]
        engine = create_engine(url)
        with engine.connect() as connection:
            runs = connection.execute(text("SELECT as_of, created FROM sweep_runs")).all()
        engine.dispose()
        assert [(str(day), created) for day, created in runs] == [(today_in_england().isoformat(), 1)]


def test_a_daily_sweep_failing_in_the_database_is_logged_by_name(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The server keeps serving, and the log names the problem as internal errors do
    (kind, code, table, statement), without the database's message or values."""
    import asyncio
    import contextlib
    import logging

    from engine import RulesEngine
    from server import daily
    from server.migrate import upgrade
    from server.store import Store
    from tests.conftest import RULES

    url = f"sqlite:///{tmp_path / 'lenses.db'}"
    upgrade(url)
    broken = create_engine(url)
    with broken.begin() as connection:
        connection.execute(text("DROP TABLE sweep_runs"))
    broken.dispose()
    store = Store(url)

    def sweep_errors() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "lenses.sweep"]

    async def two_checks_or_more() -> None:
        sweeping = asyncio.create_task(
            daily.daily_sweeps(store, RulesEngine.from_directory(RULES), "test", 0.05))
        deadline = time.monotonic() + 30
        while len(sweep_errors()) < 2 and time.monotonic() < deadline and not sweeping.done():
            await asyncio.sleep(0.05)
        sweeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeping  # an error that ended the loop is raised here

    try:
        with caplog.at_level(logging.ERROR, logger="lenses.sweep"):
            asyncio.run(two_checks_or_more())
    finally:
        store.close()
    failures = sweep_errors()
    assert len(failures) >= 2 and all(r.exc_info is None for r in failures)
    assert "OperationalError" in failures[0].getMessage() and "sweep_runs" in failures[0].getMessage()
