"""``make bench``, reviews part: the monthly compendium over a month's worth of data.

Never fails on speed. One line per figure: ``name value unit``; progress and
notes start with ``#``. For each backend (SQLite always, PostgreSQL when
``LENSES_TEST_POSTGRES_URL`` is set), a fresh database is seeded directly (not
through the server, as ``bench_service`` seeds its growth part) with 100,000
completed audits (10,000 with ``quick``) all completed in 2027-03, across 10
service areas of 4 teams each, with their audit_areas rows and day counts;
20,000 corrective actions due in March and April 2027 and 5,000 plan ratings
(2,000 and 500 with ``quick``). Then:

- ``GetCompendium`` for 2027-03 through a real server: median and max of 5 calls;
- ``lenses report --month 2027-03 --format text`` as a subprocess: median wall
  time of 3 runs (or, while ``report.render_text`` is missing, the data it
  gathers, ``server.cli.report_data``, in-process);
- ``report_data`` in-process, always (the report less start-up and rendering).

When the compendium takes more than 2 s, ``reviews.compendium`` is profiled
in-process: the top functions (cProfile) and the SQL statements by total time.

Run: ``python -m tests.bench_reviews [--quick]``.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url

from lenses.v1 import review_pb2, review_pb2_grpc
from tests import bench_service as bench
from tests.server_harness import LENSES, POSTGRES_URL, fresh_database

MONTH = "2027-03"
MONTH_START, MONTH_END = date(2027, 3, 1), date(2027, 3, 31)
REPORT_TODAY = date(2027, 4, 4)  # "today" of the in-process report data and profile
SERVICE_AREAS = tuple(f"RA-{i:02d}" for i in range(10))
TEAMS_PER_AREA = 4  # 40 teams
AUDITORS_PER_AREA = 4
AUDITS_PER_CASE = 4
CALLS, REPORT_RUNS = 5, 3
SLOW_MS = 2000.0  # profile the compendium beyond this
TIMEOUT = 600.0


# ----------------------------------------------------------------- seeding


def month_audits(n: int, seed: int) -> Iterator[bench.Seeded]:
    """``n`` completed audits, oldest first, completed over the days of ``MONTH``."""
    rng = random.Random(seed)
    days = sorted(rng.randrange(MONTH_END.day) for _ in range(n))
    cases = max(len(SERVICE_AREAS) * TEAMS_PER_AREA, n // AUDITS_PER_CASE)
    for i, day in enumerate(days):
        case = rng.randrange(cases)
        area = SERVICE_AREAS[case % len(SERVICE_AREAS)]
        team = f"{area}-T{case // len(SERVICE_AREAS) % TEAMS_PER_AREA}"
        yield bench.Seeded(f"R{i:07d}", case, f"aud-{area}-{rng.randrange(AUDITORS_PER_AREA)}",
                           MONTH_START + timedelta(days=day), bench.judge(rng, bench.CONCERN_SHARE),
                           area, team)


ACTION_COLUMNS = ("action_id, kind, status, owner_role, owner_id, due_on, origin_on, rule_id, "
                  "ruleset_version, subject_type, subject_id, audit_id, case_ref, provider_id, "
                  "placement_id, service_area, team, escalated_from, detail, dedupe_key, open_key, "
                  "created_on, completed_on, completed_by, outcome, withdrawn_reason, client")


def corrective_actions(n: int, seed: int) -> list[tuple]:
    """ES-01 CORRECTIVE_ACTIONs (of audits not seeded: only the actions are read) due
    over March and April 2027: 40% open, 60% completed, 3 in 10 of those after their
    due date. Columns as ``ACTION_COLUMNS``; dates as ISO strings."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        area = rng.choice(SERVICE_AREAS)
        team = f"{area}-T{rng.randrange(TEAMS_PER_AREA)}"
        due = MONTH_START + timedelta(days=rng.randrange(61))  # 2027-03-01 .. 2027-04-30
        origin = due - timedelta(days=rng.randrange(30, 60))
        audit_id, ref = f"CA{i:07d}", f"C-{rng.randrange(1_000_000):07d}"
        key = f"ES-01:CORRECTIVE_ACTION:{audit_id}"
        completed_on: date | None = None
        if rng.random() < 0.6:
            late = rng.random() < 0.3
            completed_on = due + timedelta(days=rng.randrange(1, 20) if late else -rng.randrange(0, 20))
        out.append((
            str(uuid.UUID(int=rng.getrandbits(128), version=4)), "CORRECTIVE_ACTION",
            "OPEN" if completed_on is None else "COMPLETED", "SERVICE_MANAGER", f"sm-{area}",
            due.isoformat(), origin.isoformat(), "ES-01", "bench", "AUDIT", audit_id, audit_id, ref,
            "", "", area, team, "",
            f"Case {ref} was graded DOES_NOT_MEET_GOOD on {origin}: confirm the corrective action "
            f"agreed at audit {audit_id} is completed.",
            key, key if completed_on is None else None, origin.isoformat(),
            completed_on.isoformat() if completed_on else None,
            f"sm-{area}" if completed_on else "", "", "", "bench-seed",
        ))
    return out


RATING_COLUMNS = "rating_id, case_ref, plan_type, rating, rated_on, rated_by, team, service_area"


def plan_ratings(n: int, seed: int) -> list[tuple]:
    """RAG ratings, 4 in 5 rated in ``MONTH``, the rest in the fortnights either side."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        area = rng.choice(SERVICE_AREAS)
        if rng.random() < 0.8:
            rated = MONTH_START + timedelta(days=rng.randrange(MONTH_END.day))
        else:
            rated = rng.choice((MONTH_START - timedelta(days=rng.randrange(1, 15)),
                                MONTH_END + timedelta(days=rng.randrange(1, 15))))
        out.append((f"PR{i:07d}", f"C-{rng.randrange(1_000_000):07d}",
                    rng.choice(("CARE_PLAN", "CP_PLAN")), rng.choice(("RED", "AMBER", "AMBER", "GREEN")),
                    rated.isoformat(), f"iro-{rng.randrange(30):02d}",
                    f"{area}-T{rng.randrange(TEAMS_PER_AREA)}", area))
    return out


def insert(backend: str, url: str, tables: Sequence[tuple[str, str, list[tuple]]]) -> None:
    """Rows into tables, in one transaction: executemany (SQLite) or COPY then
    VACUUM ANALYZE (PostgreSQL). No value holds a tab, a newline or a backslash."""
    if backend == "sqlite":
        lite = sqlite3.connect(str(make_url(url).database), isolation_level=None)
        try:
            lite.execute("BEGIN")
            for table, columns, rows in tables:
                marks = ", ".join("?" * len(columns.split(",")))
                lite.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            lite.execute("COMMIT")
            lite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            lite.close()
        return
    import psycopg  # PostgreSQL only

    conninfo = bench.postgres_conninfo(url)
    with psycopg.connect(conninfo) as connection:  # commits on leaving
        cursor = connection.cursor()
        for table, columns, rows in tables:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write("".join("\t".join("\\N" if v is None else str(v) for v in row) + "\n"
                                   for row in rows))
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE " + ", ".join(table for table, _, _ in tables))


def seed_month(backend: str, url: str, audits: int, actions: int, ratings: int) -> None:
    bench.seed(backend, url, month_audits(audits, seed=audits), bench.Seeding(bench.Records()), 25_000)
    insert(backend, url, [("actions", ACTION_COLUMNS, corrective_actions(actions, seed=actions)),
                          ("plan_ratings", RATING_COLUMNS, plan_ratings(ratings, seed=ratings))])


# ----------------------------------------------------------------- measuring


def timed(work: Callable[[], Any], times: int) -> tuple[list[float], Any]:
    """Milliseconds of each of ``times`` runs, and the last result."""
    spent, result = [], None
    for _ in range(times):
        began = time.perf_counter()
        result = work()
        spent.append((time.perf_counter() - began) * 1000)
    return spent, result


def in_process(url: str, work: Callable[[Any], Any]) -> Any:
    """``work(session)`` in a read transaction of a ``server.store.Store`` of ``url``."""
    from server.store import Store

    store = Store(url)
    try:
        return store.read(work)
    finally:
        store.close()


def report_data(session: Any) -> Any:
    from server.cli import report_data

    return report_data(session, MONTH, "", REPORT_TODAY)


def compendium(session: Any) -> Any:
    from server import reviews

    return reviews.compendium(session, MONTH, MONTH_START, MONTH_END, "", REPORT_TODAY)


def profile_compendium(url: str) -> None:
    """cProfile of ``reviews.compendium`` in-process, and its SQL by statement."""
    from server.store import Store

    store = Store(url)
    statements: dict[str, list[float]] = {}

    @event.listens_for(store._read_engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["began"] = time.perf_counter()

    @event.listens_for(store._read_engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.setdefault(" ".join(statement.split()), []).append(
            time.perf_counter() - conn.info.pop("began"))

    profiler = cProfile.Profile()
    try:
        store.read(lambda session: profiler.runcall(compendium, session))
    finally:
        store.close()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
    print("# profile of reviews.compendium (cumulative):")
    for line in out.getvalue().splitlines():
        if line.strip():
            print(f"#   {line}")
    total = sum(sum(times) for times in statements.values())
    print(f"# SQL: {sum(len(t) for t in statements.values())} statements, {total * 1000:.0f} ms; "
          "the costliest:")
    for statement, times in sorted(statements.items(), key=lambda item: -sum(item[1]))[:8]:
        print(f"#   {sum(times) * 1000:8.0f} ms  {len(times):4d}x  {statement[:400]}")
    print(flush=True)


def bench_backend(backend: str, audits: int, actions: int, ratings: int) -> None:
    label = f"{audits}_audits"
    with tempfile.TemporaryDirectory(prefix="lenses-bench-") as tmp, \
            fresh_database(backend, Path(tmp)) as url:
        began = time.perf_counter()
        seed_month(backend, url, audits, actions, ratings)
        print(f"# {backend}: seeded {audits} audits ({audits * 12} audit_areas rows), {actions} "
              f"corrective actions and {ratings} plan ratings in {time.perf_counter() - began:.1f} s",
              flush=True)

        # (a) GetCompendium through a real server.
        with bench.server_on(url, Path(tmp) / "server.log") as server, \
                contextlib.closing(bench.channels(server.address, 1)[0]) as channel:
            call = review_pb2_grpc.ReviewServiceStub(channel).GetCompendium
            spent, result = timed(lambda: call(review_pb2.GetCompendiumRequest(month=MONTH),
                                               timeout=TIMEOUT), CALLS)
        teams = sum(len(entry.teams) for entry in result.service_areas)
        counted = sum(entry.indicators.audits_completed for entry in result.service_areas)
        due = sum(entry.indicators.corrective_actions_due for entry in result.service_areas)
        print(f"# {backend}: the compendium has {len(result.service_areas)} service areas, {teams} teams, "
              f"{counted} audits, {due} corrective actions due; "
              f"{len(result.SerializeToString()) // 1024} KiB; calls: "
              + ", ".join(f"{ms:.0f}" for ms in spent) + " ms", flush=True)
        median = statistics.median(spent)
        print(f"reviews.{backend}.GetCompendium_{label}.median {median:.0f} ms")
        print(f"reviews.{backend}.GetCompendium_{label}.max {max(spent):.0f} ms", flush=True)

        # (b) lenses report, a process of its own.
        command = [str(LENSES), "report", "--month", MONTH, "--format", "text"]
        environment = {**os.environ, "LENSES_DATABASE_URL": url}
        runs: list[float] = []
        failure = ""
        for _ in range(REPORT_RUNS):
            began = time.perf_counter()
            done = subprocess.run(command, env=environment, capture_output=True, text=True,
                                  timeout=TIMEOUT)
            runs.append((time.perf_counter() - began) * 1000)
            if done.returncode != 0:
                failure = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                break
        if not failure:
            print(f"# {backend}: lenses report: {len(done.stdout.splitlines())} lines; runs: "
                  + ", ".join(f"{ms:.0f}" for ms in runs) + " ms", flush=True)
            print(f"reviews.{backend}.report_{label}.median {statistics.median(runs):.0f} ms", flush=True)
        elif "render_text" in failure:
            print(f"# {backend}: lenses report failed ({failure}); measuring its data "
                  "(server.cli.report_data) in-process instead", flush=True)
        else:
            print(f"# {backend}: lenses report failed: {failure}", flush=True)

        # report_data in-process: the report's queries, without start-up and rendering.
        gathered = in_process(url, lambda session: timed(lambda: report_data(session), REPORT_RUNS)[0])
        print(f"reviews.{backend}.report_data_{label}.median {statistics.median(gathered):.0f} ms",
              flush=True)

        if median > SLOW_MS:
            print(f"# {backend}: GetCompendium took more than {SLOW_MS / 1000:.0f} s: profiling "
                  "reviews.compendium in-process", flush=True)
            profile_compendium(url)


def main(quick: bool = False) -> None:
    began = time.perf_counter()
    audits, actions, ratings = (10_000, 2_000, 500) if quick else (100_000, 20_000, 5_000)
    print(f"# lenses reviews bench — {date.today()} — {'quick' if quick else 'full'}: {audits} audits "
          f"in {MONTH}, {len(SERVICE_AREAS)} service areas, {len(SERVICE_AREAS) * TEAMS_PER_AREA} teams",
          flush=True)
    backends = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
    for backend in backends:
        bench_backend(backend, audits, actions, ratings)
    if not POSTGRES_URL:
        print("# postgres skipped: LENSES_TEST_POSTGRES_URL is not set")
    print(f"# done in {time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
