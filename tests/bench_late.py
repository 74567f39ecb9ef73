"""Back-dated saves (part of ``make bench``): what running the later audits' history
rules again costs a save (``server/late.py``). Never fails on speed.

In-process, one save at a time, on SQLite (and PostgreSQL when
``LENSES_TEST_POSTGRES_URL`` is set). A service area holds N completed audits of N
cases with PLANS below good, one a day; each timed save is a new case's audit
with PLANS below good. The baseline is that save dated after them all (date order:
no later audit); the measured one is the same save dated before them all, so
that all N later audits hold it in their ES-03 window and are run again
(``LATER_AUDITS_LIMIT`` caps N). Prints the median save and its ratio to the
baseline, for N = 20 and 200.

A deep dive's completion recorded late (``late.after_deep_dive_completed``): a
service area's N concern audits over 80 days, saved in date order, opened a deep
dive on the third; its completion, dated the day after that, runs ES-03 again for the audits
dated from then on (the first opens a second deep dive, which covers the rest).
The baseline is the same completion dated after them all (nothing to run again).
Median of a few, each on a service area of its own.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from google.protobuf import json_format
from sqlalchemy import select

from engine import RulesEngine
from lenses.v1 import action_pb2, audit_pb2, common_pb2
from server.actions import Actor
from server.audits import AuditService
from server.db import Action
from server.store import Store
from tests.api import GOOD
from tests.conftest import RULES
from tests.server_harness import POSTGRES_URL, fresh_database

FIRST_DAY = date(2026, 3, 1)
SAVES = 15
COMPLETIONS = 5


def concern(audit_id: str, case: str, service_area: str, day: date) -> audit_pb2.CaseFileAudit:
    """A completed audit with PLANS below good."""
    message = json_format.ParseDict(GOOD, audit_pb2.CaseFileAudit())
    message.audit_id, message.revision, message.case_ref = audit_id, 1, case
    message.service_area, message.completed_on = service_area, day.isoformat()
    message.lookback_from = (day - timedelta(days=180)).isoformat()
    for judgement in message.areas:
        if judgement.area == common_pb2.AREA_PLANS:
            judgement.grade = common_pb2.GRADE_DOES_NOT_MEET_GOOD
    return message


def median_save_ms(store: Store, service: AuditService, messages: list[audit_pb2.CaseFileAudit]) -> float:
    actor = Actor("bench", date.today())
    times = []
    for message in messages:
        submission = service.prepare(message)
        start = time.perf_counter()
        store.run(lambda session, s=submission: service.submit(session, s, actor))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench(backend: str, later: int) -> None:
    service = AuditService(RulesEngine.from_directory(RULES))
    with tempfile.TemporaryDirectory(prefix="lenses-bench-") as tmp, \
            fresh_database(backend, Path(tmp)) as url:
        store = Store(url)
        area = "SA-late"
        stored = [concern(f"L-{i}", f"C-{i}", area, FIRST_DAY + timedelta(days=i % 80))
                  for i in range(later)]
        median_save_ms(store, service, stored)  # the later audits, in date order
        in_order = [concern(f"D-{i}", f"CD-{i}", area, FIRST_DAY + timedelta(days=85))
                    for i in range(SAVES)]
        back_dated = [concern(f"B-{i}", f"CB-{i}", area, FIRST_DAY - timedelta(days=1))
                      for i in range(SAVES)]
        # Back-dated first: the in-date-order saves would be later audits of theirs.
        measured = median_save_ms(store, service, back_dated)
        baseline = median_save_ms(store, service, in_order)
        store.close()
    name = f"late.{backend}.back_dated_save_{later}_later"
    print(f"{name}.p50 {measured:.1f} ms", flush=True)
    print(f"{name}.vs_in_date_order {measured / baseline:.1f} x (in date order {baseline:.1f} ms)",
          flush=True)


def completion_ms(store: Store, service: AuditService, area: str, later: int, late: bool) -> float:
    """One deep dive's completion, timed, in a new service area of ``later`` concern audits."""
    actor = Actor("bench", date.today())
    # In date order (none of them is a back-dated save), over 80 days.
    median_save_ms(store, service, [concern(f"{area}-{i}", f"{area}-C{i}", area,
                                            FIRST_DAY + timedelta(days=i * 80 // later))
                                    for i in range(later)])
    ((dive, raised_on),) = store.read(lambda session: session.execute(
        select(Action.action_id, Action.origin_on).where(
            Action.service_area == area, Action.kind == "DEEP_DIVE_AUDIT")).all())
    done_on = raised_on + timedelta(days=1) if late else FIRST_DAY + timedelta(days=90)
    request = action_pb2.CompleteActionRequest(action_id=dive, completed_by="bench",
                                               completed_on=done_on.isoformat())
    start = time.perf_counter()
    store.run(lambda session: service.complete_action(session, request, actor))
    return (time.perf_counter() - start) * 1000


def bench_completion(backend: str, later: int) -> None:
    service = AuditService(RulesEngine.from_directory(RULES))
    with tempfile.TemporaryDirectory(prefix="lenses-bench-") as tmp, \
            fresh_database(backend, Path(tmp)) as url:
        store = Store(url)
        measured = statistics.median(completion_ms(store, service, f"SA-done-late-{i}", later, True)
                                     for i in range(COMPLETIONS))
        baseline = statistics.median(completion_ms(store, service, f"SA-done-{i}", later, False)
                                     for i in range(COMPLETIONS))
        store.close()
    name = f"late.{backend}.deep_dive_completed_late_{later}_later"
    print(f"{name}.p50 {measured:.1f} ms", flush=True)
    print(f"{name}.vs_none_to_run_again {measured / baseline:.1f} x (none {baseline:.1f} ms)",
          flush=True)


def main(quick: bool = False) -> None:
    print("# back-dated saves: the later audits' history rules run again", flush=True)
    logging.getLogger("lenses.history").setLevel(logging.ERROR)  # one line per re-run otherwise
    for backend in ("sqlite", "postgres") if POSTGRES_URL else ("sqlite",):
        for later in (20,) if quick else (20, 200):
            bench(backend, later)
            bench_completion(backend, later)


if __name__ == "__main__":
    import sys

    main(quick="--quick" in sys.argv)
