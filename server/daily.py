"""The daily escalation sweep inside the server.

Every server process checks now and then; the first to insert today's row in
``sweep_runs`` runs the sweep in the same transaction, so it runs once per day
per deployment (a database lock, not a timer per process). If that process dies
mid-sweep, its transaction and its row roll back and another one takes over.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import date

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from engine.evaluate import RulesEngine

from . import actions, metrics, reviews
from .actions import Actor
from .clock import today_in_england
from .db import SweepRun
from .errors import database_error
from .store import Store

log = logging.getLogger("lenses.sweep")
DEFAULT_INTERVAL = 900.0  # seconds between checks


def interval() -> float | None:
    """Seconds between checks (LENSES_SWEEP_INTERVAL); None when LENSES_DAILY_SWEEP=0."""
    if os.environ.get("LENSES_DAILY_SWEEP", "1") in ("0", "false", "no"):
        return None
    return float(os.environ.get("LENSES_SWEEP_INTERVAL", DEFAULT_INTERVAL))


def run_once(store: Store, engine: RulesEngine, as_of: date, client: str) -> int | None:
    """Claim ``as_of`` and sweep; None if another process already has it."""
    actor = Actor(client, as_of)

    def sweep(session: Session) -> int:
        session.add(SweepRun(as_of=as_of, client=client, ran_at=actions.now()))
        session.flush()  # the claim: a second process fails here
        created = actions.sweep(session, engine, as_of, actor, reviews.sweep_panels(session))
        session.get(SweepRun, as_of).created = len(created)  # type: ignore[union-attr]
        return len(created)

    try:
        # Through the write turn like any other write (SQLite: queued, not left to
        # the busy handler); an IntegrityError is another process's claim.
        return store.run(sweep)
    except IntegrityError:
        return None


async def daily_sweeps(store: Store, engine: RulesEngine, client: str, every: float) -> None:
    """Forever: sweep today if nobody has (checked every ``every`` seconds)."""
    while True:
        today = today_in_england()
        try:
            created = await asyncio.to_thread(run_once, store, engine, today, client)
            metrics.SWEEPS.labels(result="skipped" if created is None else "ran").inc()
            if created is not None:
                metrics.SWEEP_ACTIONS.inc(created)
                log.info("daily sweep for %s created %d action(s)", today, created)
        except DBAPIError as error:  # named, never with the values (errors.database_error)
            metrics.SWEEPS.labels(result="failed").inc()
            log.error("daily sweep for %s failed: %s", today, database_error(error))
        except Exception:  # the next check tries again; the server keeps serving
            metrics.SWEEPS.labels(result="failed").inc()
            log.exception("daily sweep for %s failed", today)
        await asyncio.sleep(every)
