"""``make bench``, service and growth parts: a real server over loopback.

Never fails on speed. One line per figure: ``name value unit``; progress and
notes start with ``#``. For each backend (SQLite always, PostgreSQL when
``LENSES_TEST_POSTGRES_URL`` is set):

- **service**: ``Echo`` (the floor: a trivial RPC whose payload is the bytes
  of a real ``SubmitAuditRequest``), ``EvaluateAudit``, ``SubmitAudit`` (every
  request a new completed audit) and ``ListActions`` (one populated service
  area, 50 a page), with 1 and 16 client threads (one channel, so one
  connection, per thread): requests/s, p50 and p99 latency, and each RPC's
  requests/s against the floor at 16 clients;
- **growth**: ``SubmitAudit`` latency, one save at a time, into existing
  service areas and cases after seeding the database directly (not through
  the server) with N completed audits over the two years before: N = 1,000
  and N = 1,000,000 (20,000 with ``quick``). Seeding writes what saving them
  would: audit_revisions, audit_heads, audit_concerns, audit_areas (12 rows an
  audit) and the area_days / auditor_days counts; not evaluations or actions.

Run: ``python -m tests.bench_service [--quick]``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from sqlalchemy.engine import make_url

from engine.model import AREAS, AT_LEAST_GOOD
from lenses.v1 import (
    action_pb2,
    action_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    common_pb2,
    diagnostics_pb2,
    diagnostics_pb2_grpc,
)
from server.audits import redact
from tests.api import GOOD
from tests.server_harness import POSTGRES_URL, RunningServer, fresh_database, running_server

TEMPLATE = json_format.ParseDict(GOOD, audit_pb2.CaseFileAudit())
STRANDS = tuple(n.removeprefix("STRAND_") for n in common_pb2.Strand.keys()[1:])
AGE_BANDS = tuple(n.removeprefix("AGE_BAND_") for n in common_pb2.AgeBand.keys()[1:])
TEMPLATE_AREAS = tuple(common_pb2.Area.Name(a.area).removeprefix("AREA_") for a in TEMPLATE.areas)
GOOD_GRADES = ("MEETS_GOOD", "MEETS_GOOD", "EXCEEDS_GOOD")
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]  # a connection of its own
TIMEOUT = 120.0

# The shape of the stored history (growth) and of the audits the clients send.
SERVICE_AREAS = tuple(f"SA-{i:02d}" for i in range(50))
AUDITORS_PER_AREA = 4  # 200 auditors, each in one service area
HISTORY_DAYS = 730
CONCERN_SHARE = 0.2  # audits with areas below good


# ----------------------------------------------------------------- audits


@dataclass(frozen=True)
class Judgement:
    """What one audit says: its overall grade and its areas below good."""

    overall: str
    below: tuple[str, ...]


def judge(rng: random.Random, concern_share: float) -> Judgement:
    """A mix of good and below-good audits: ``concern_share`` of them have 1-3
    areas below good, and those with 2 or more are graded below good overall."""
    if rng.random() >= concern_share:
        return Judgement(rng.choice(GOOD_GRADES), ())
    below = tuple(rng.sample(AREAS, rng.choice((1, 1, 1, 2, 2, 3))))
    return Judgement("DOES_NOT_MEET_GOOD" if len(below) > 1 else "MEETS_GOOD", below)


def case_area(case: int) -> str:
    return SERVICE_AREAS[case % len(SERVICE_AREAS)]


def case_ref(case: int) -> str:
    return f"C-{case:07d}"


def auditor(case: int, rng: random.Random) -> str:
    return f"aud-{case % len(SERVICE_AREAS) + len(SERVICE_AREAS) * rng.randrange(AUDITORS_PER_AREA):03d}"


def new_audit(audit_id: str, case: int, auditor_id: str, completed_on: date,
              judgement: Judgement, service_area: str | None = None,
              team: str | None = None) -> audit_pb2.CaseFileAudit:
    """A completed audit like the good example, for ``case``, graded ``judgement``."""
    message = audit_pb2.CaseFileAudit()
    message.CopyFrom(TEMPLATE)
    message.audit_id, message.revision, message.case_ref = audit_id, 1, case_ref(case)
    message.service_area = service_area or case_area(case)
    message.team = team or f"{message.service_area}-T{case % 2}"
    message.strand = common_pb2.Strand.Value("STRAND_" + STRANDS[case % len(STRANDS)])
    message.age_band = common_pb2.AgeBand.Value("AGE_BAND_" + AGE_BANDS[case % len(AGE_BANDS)])
    message.auditor_id = auditor_id
    message.completed_on = completed_on.isoformat()
    message.lookback_from = (completed_on - timedelta(days=180)).isoformat()
    message.overall_grade = common_pb2.Grade.Value("GRADE_" + judgement.overall)
    for area in message.areas:
        if common_pb2.Area.Name(area.area).removeprefix("AREA_") in judgement.below:
            area.grade = common_pb2.GRADE_DOES_NOT_MEET_GOOD
    return message


def audit_stream(prefix: str, cases: Sequence[int], completed_on: date, concern_share: float,
                 seed: int, service_area: str | None = None) -> Iterator[audit_pb2.CaseFileAudit]:
    """New audits (unique ids) of the given cases, in turn."""
    rng = random.Random(seed)
    for i in itertools.count():
        case = rng.choice(cases)
        yield new_audit(f"{prefix}-{i:06d}", case, auditor(case, rng), completed_on,
                        judge(rng, concern_share), service_area)


# ---------------------------------------------------------------- timing


@dataclass
class Figures:
    """One RPC at one concurrency level."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def channels(address: str, count: int) -> list[grpc.Channel]:
    opened = [grpc.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(count)]
    for channel in opened:
        grpc.channel_ready_future(channel).result(timeout=30)
        diagnostics_pb2_grpc.DiagnosticsServiceStub(channel).Echo(
            diagnostics_pb2.EchoRequest(payload=b"warm"), timeout=TIMEOUT)
    return opened


def drive(chans: Sequence[grpc.Channel], method: Callable[[grpc.Channel], Callable[..., Any]],
          requests: Sequence[Any]) -> Figures:
    """Send every request once, from one thread per channel, each thread taking
    the next unsent request; latency of each call, throughput over the whole run."""
    calls = [method(channel) for channel in chans]
    latencies = [0.0] * len(requests)
    errors: list[grpc.RpcError] = []
    counter = itertools.count()  # next() on it is atomic under the GIL
    start_line = threading.Barrier(len(chans) + 1)

    def client(call: Callable[..., Any]) -> None:
        start_line.wait()
        while (k := next(counter)) < len(requests):
            began = time.perf_counter()
            try:
                call(requests[k], timeout=TIMEOUT)
            except grpc.RpcError as error:
                errors.append(error)
            latencies[k] = time.perf_counter() - began

    threads = [threading.Thread(target=client, args=(call,), daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        first = errors[0]
        print(f"# {len(errors)} calls failed; first: {first.code()} {first.details()}", flush=True)
    ordered = sorted(latencies)
    return Figures(len(requests) / elapsed, percentile(ordered, 0.50) * 1000,
                   percentile(ordered, 0.99) * 1000, len(errors))


def report(name: str, figures: Figures) -> None:
    print(f"{name}.rps {figures.rps:.0f} req/s")
    print(f"{name}.p50 {figures.p50_ms:.1f} ms")
    print(f"{name}.p99 {figures.p99_ms:.1f} ms", flush=True)


def echo(channel: grpc.Channel) -> Callable[..., Any]:
    return diagnostics_pb2_grpc.DiagnosticsServiceStub(channel).Echo


def evaluate(channel: grpc.Channel) -> Callable[..., Any]:
    return audit_pb2_grpc.AuditServiceStub(channel).EvaluateAudit


def submit(channel: grpc.Channel) -> Callable[..., Any]:
    return audit_pb2_grpc.AuditServiceStub(channel).SubmitAudit


def list_actions(channel: grpc.Channel) -> Callable[..., Any]:
    return action_pb2_grpc.ActionServiceStub(channel).ListActions


@contextlib.contextmanager
def server_on(url: str, log: Path) -> Iterator[RunningServer]:
    """``running_server``, its log in ``log`` rather than among the figures."""
    with running_server(url, log_path=log) as server:
        yield server


# ---------------------------------------------------------------- service


def bench_service(backend: str, count: int, populate: int) -> None:
    """Echo, EvaluateAudit, SubmitAudit and ListActions at 1 and 16 clients."""
    today = date.today()
    cases = list(range(8 * 40))  # 8 service areas (SA-00..SA-07), 40 cases each
    list_area = SERVICE_AREAS[0]
    with tempfile.TemporaryDirectory(prefix="lenses-bench-") as tmp, \
            fresh_database(backend, Path(tmp)) as url, server_on(url, Path(tmp) / "server.log") as server:
        # Populate one service area with actions (half the audits below good), warming up the server.
        fill = audit_stream("FILL", [c for c in cases if case_area(c) == list_area], today, 1.0, 11)
        with contextlib.ExitStack() as stack:
            warm = channels(server.address, 16)
            for channel in warm:
                stack.callback(channel.close)
            drive(warm, submit, [audit_pb2.SubmitAuditRequest(audit=next(fill)) for _ in range(populate)])
            page = list_actions(warm[0])(action_pb2.ListActionsRequest(
                filter=common_pb2.ActionFilter(service_area=list_area), page_size=1000), timeout=TIMEOUT)
            print(f"# {backend}: {populate} audits saved into {list_area}; it has "
                  f"{len(page.actions)}{'+' if page.next_page_token else ''} actions", flush=True)
        evaluations = audit_stream("EVAL", cases, today, 0.4, 12)
        submissions = audit_stream("SUB", cases, today, 0.4, 13)
        listing = action_pb2.ListActionsRequest(filter=common_pb2.ActionFilter(service_area=list_area),
                                                page_size=50)
        rps: dict[str, float] = {}
        for concurrency in (1, 16):
            submit_requests = [audit_pb2.SubmitAuditRequest(audit=next(submissions)) for _ in range(count)]
            payload = submit_requests[0].SerializeToString()
            workloads = [
                ("Echo", echo, [diagnostics_pb2.EchoRequest(payload=payload)] * count),
                ("EvaluateAudit", evaluate,
                 [audit_pb2.EvaluateAuditRequest(audit=next(evaluations)) for _ in range(count)]),
                ("SubmitAudit", submit, submit_requests),
                ("ListActions", list_actions, [listing] * count),
            ]
            with contextlib.ExitStack() as stack:
                opened = channels(server.address, concurrency)
                for channel in opened:
                    stack.callback(channel.close)
                for rpc, method, requests in workloads:
                    print(f"# {backend}: {rpc} x{count}, {concurrency} clients", flush=True)
                    figures = drive(opened, method, requests)
                    report(f"service.{backend}.c{concurrency}.{rpc}", figures)
                    rps[f"{rpc}.c{concurrency}"] = figures.rps
        floor = rps["Echo.c16"]
        for rpc, label in (("EvaluateAudit", "evaluate"), ("SubmitAudit", "submit"), ("ListActions", "list")):
            print(f"service.{backend}.{label}_vs_floor_16 {rps[f'{rpc}.c16'] / floor:.3f} x", flush=True)


# ----------------------------------------------------------------- growth


SLOTS = ("aid", "case", "area", "team", "strand", "age", "auditor", "completed", "lookback", "overall")


class Records:
    """The stored record (redacted proto3 JSON, as ``SubmitAudit`` writes it) of a
    seeded audit, from literal pieces cached per set of areas below good."""

    def __init__(self) -> None:
        message = audit_pb2.CaseFileAudit()
        message.CopyFrom(TEMPLATE)
        body = json_format.MessageToDict(redact(message))
        body.update(auditId="@aid@", revision="1", caseRef="@case@", serviceArea="@area@",
                    team="@team@", strand="@strand@", ageBand="@age@", auditorId="@auditor@",
                    completedOn="@completed@", lookbackFrom="@lookback@", overallGrade="@overall@")
        for area in body["areas"]:
            area["grade"] = f"@{area['area']}@"
        self.text = json.dumps(body)  # the separators of MessageToJson(indent=None)
        self.pieces: dict[tuple[str, ...], list[str]] = {}

    def record(self, below: tuple[str, ...], *values: str) -> str:
        """The record with ``values`` in the order of ``SLOTS``."""
        pieces = self.pieces.get(below)
        if pieces is None:
            text = self.text
            for area in TEMPLATE_AREAS:
                grade = "GRADE_DOES_NOT_MEET_GOOD" if area in below else "GRADE_MEETS_GOOD"
                text = text.replace(f"@AREA_{area}@", grade)
            pieces = []
            for slot in SLOTS:  # in the order they appear in the text
                before, text = text.split(f"@{slot}@")
                pieces += [before, ""]
            pieces.append(text)
            self.pieces[below] = pieces
        filled = pieces.copy()
        filled[1::2] = values
        return "".join(filled)


@dataclass(frozen=True)
class Seeded:
    """One seeded audit: its rows in audit_revisions, audit_heads, audit_concerns,
    audit_areas, and its part of area_days and auditor_days."""

    audit_id: str
    case: int
    auditor_id: str
    completed_on: date
    judgement: Judgement
    service_area: str
    team: str


def seeded(n: int, cases: int, before: date, seed: int) -> Iterator[Seeded]:
    """``n`` completed audits, oldest first, over the ``HISTORY_DAYS`` before ``before``."""
    rng = random.Random(seed)
    days = sorted((rng.randrange(1, HISTORY_DAYS + 1) for _ in range(n)), reverse=True)
    dates = {d: before - timedelta(days=d) for d in range(1, HISTORY_DAYS + 1)}
    for i, day in enumerate(days):
        case = rng.randrange(cases)
        area = case_area(case)
        yield Seeded(f"S{i:07d}", case, auditor(case, rng), dates[day], judge(rng, CONCERN_SHARE),
                     area, f"{area}-T{case % 2}")


@dataclass
class Seeding:
    """One database's seeding: the records, and what it accumulates over the batches
    (the calibration day counts, inserted once every batch is stored)."""

    records: Records
    # (service_area, completed_on) and (service_area, auditor_id, completed_on) -> [audits, good]
    area_days: dict[tuple[str, ...], list[int]] = field(default_factory=dict)
    auditor_days: dict[tuple[str, ...], list[int]] = field(default_factory=dict)

    def count(self, area: str, auditor_id: str, completed: str, good: int) -> None:
        """What ``_count`` adds when a completed audit is saved."""
        for counts, key in ((self.area_days, (area, completed)),
                            (self.auditor_days, (area, auditor_id, completed))):
            entry = counts.get(key)
            if entry is None:
                counts[key] = [1, good]
            else:
                entry[0] += 1
                entry[1] += good

    def day_rows(self) -> Rows:
        return Rows(area_days=[(*key, *counts) for key, counts in self.area_days.items()],
                    auditor_days=[(*key, *counts) for key, counts in self.auditor_days.items()])


@dataclass
class Rows:
    """The rows of a batch of seeded audits (or the day counts), table by table."""

    revisions: list[tuple] = field(default_factory=list)
    heads: list[tuple] = field(default_factory=list)
    concerns: list[tuple] = field(default_factory=list)
    areas: list[tuple] = field(default_factory=list)
    area_days: list[tuple] = field(default_factory=list)
    auditor_days: list[tuple] = field(default_factory=list)


def rows(audits: Sequence[Seeded], seeding: Seeding) -> Rows:
    """Dates and times as ISO strings; NULL as None. Counts each audit into ``seeding``'s
    day counts (call it from one thread at a time)."""
    out = Rows()
    for a in audits:
        area, ref, team = a.service_area, case_ref(a.case), a.team
        strand, age = STRANDS[a.case % len(STRANDS)], AGE_BANDS[a.case % len(AGE_BANDS)]
        completed, overall, below = a.completed_on.isoformat(), a.judgement.overall, a.judgement.below
        record = seeding.records.record(below, a.audit_id, ref, area, team, "STRAND_" + strand,
                                        "AGE_BAND_" + age, a.auditor_id, completed,
                                        (a.completed_on - timedelta(days=180)).isoformat(),
                                        "GRADE_" + overall)
        out.revisions.append((a.audit_id, 1, "COMPLETED", hashlib.sha256(record.encode()).hexdigest(),
                              record, "bench-seed", f"{completed} 12:00:00.000000"))
        out.heads.append((a.audit_id, 1, "COMPLETED", ref, area, team, a.auditor_id, strand, age,
                          completed, overall, None, overall, None))
        out.concerns.extend((a.audit_id, area, name, ref, completed, strand, age)
                            for name in TEMPLATE_AREAS if name in below)  # in the audit's order
        out.areas.extend((a.audit_id, area, team, name,
                          "DOES_NOT_MEET_GOOD" if name in below else "MEETS_GOOD", completed)
                         for name in TEMPLATE_AREAS)  # in the audit's order, as saves add them
        seeding.count(area, a.auditor_id, completed, int(overall in AT_LEAST_GOOD))
    return out


TABLES = (  # table, columns, field of Rows
    ("audit_revisions", "audit_id, revision, status, content_digest, record, client, created_at",
     "revisions"),
    ("audit_heads", "audit_id, revision, status, case_ref, service_area, team, auditor_id, strand, "
     "age_band, completed_on, overall_grade, moderated_grade, effective_grade, evaluation_id", "heads"),
    ("audit_concerns", "audit_id, service_area, area, case_ref, completed_on, strand, age_band",
     "concerns"),
    ("audit_areas", "audit_id, service_area, team, area, grade, completed_on", "areas"),
)
DAY_TABLES = (
    ("area_days", "service_area, completed_on, audits, good", "area_days"),
    ("auditor_days", "service_area, auditor_id, completed_on, audits, good", "auditor_days"),
)


def built(audits: Iterator[Seeded], seeding: Seeding, size: int,
          finish: Callable[[Rows], Any] = lambda rows: rows) -> Iterator[Any]:
    """``finish(rows(batch))`` for each batch of ``size`` audits, the next batch
    built in a thread while the caller stores this one."""

    def build() -> Any:
        part = list(itertools.islice(audits, size))
        return finish(rows(part, seeding)) if part else None

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(build)
        while (ready := pending.result()) is not None:
            pending = pool.submit(build)
            yield ready


def seed_sqlite(url: str, audits: Iterator[Seeded], seeding: Seeding, batch: int) -> None:
    """executemany, one transaction per batch, no fsync while seeding; the day counts last."""
    connection = sqlite3.connect(str(make_url(url).database), isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-400000")  # 400 MB while the indexes fill

        def store(part: Rows, tables: Sequence[tuple[str, str, str]]) -> None:
            connection.execute("BEGIN")
            for table, columns, name in tables:
                marks = ", ".join("?" * len(columns.split(",")))
                connection.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                                       getattr(part, name))
            connection.execute("COMMIT")

        for part in built(audits, seeding, batch):
            store(part, TABLES)
        store(seeding.day_rows(), DAY_TABLES)  # every batch counted
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def copy_text(part: Rows, tables: Sequence[tuple[str, str, str]] = TABLES) -> list[str]:
    """Each table's rows in COPY text format (no seeded value holds a tab,
    a newline or a backslash)."""
    return ["".join("\t".join("\\N" if v is None else str(v) for v in row) + "\n"
                    for row in getattr(part, name)) for _, _, name in tables]


def postgres_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seed_postgres(url: str, audits: Iterator[Seeded], seeding: Seeding, batch: int) -> None:
    """COPY, one transaction per batch, the day counts last; then VACUUM ANALYZE,
    as a live database would be."""
    import psycopg  # PostgreSQL only

    conninfo = postgres_conninfo(url)
    with psycopg.connect(conninfo) as connection:
        # The seeded rows are consistent by construction: skip the per-row foreign key triggers.
        connection.execute("SET session_replication_role = replica")
        connection.execute("SET synchronous_commit = off")
        with connection.cursor() as cursor:
            for texts in built(audits, seeding, batch, copy_text):
                for (table, columns, _), text in zip(TABLES, texts, strict=True):
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        copy.write(text)
                connection.commit()
            for (table, columns, _), text in zip(DAY_TABLES, copy_text(seeding.day_rows(), DAY_TABLES),
                                                 strict=True):
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(text)
            connection.commit()
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE " + ", ".join(t for t, _, _ in TABLES + DAY_TABLES))


def seed(backend: str, url: str, audits: Iterator[Seeded], seeding: Seeding, batch: int) -> None:
    """Store ``audits`` as saving them through the server would (without evaluations or actions)."""
    (seed_sqlite if backend == "sqlite" else seed_postgres)(url, audits, seeding, batch)


def bench_growth(backend: str, sizes: Sequence[int], saves: int, warmup: int) -> None:
    """SubmitAudit latency, one save at a time, after seeding ``n`` audits directly."""
    records = Records()
    today = date.today()
    p50: dict[int, float] = {}
    for n in sizes:
        cases = max(len(SERVICE_AREAS), n // 4)  # about 4 audits per case, whatever n
        label = f"N{n}"
        with tempfile.TemporaryDirectory(prefix="lenses-bench-") as tmp, \
                fresh_database(backend, Path(tmp)) as url:
            began = time.perf_counter()
            seed(backend, url, seeded(n, cases, today, seed=n), Seeding(records), 25_000)
            print(f"# {backend}: seeded {n} audits in {time.perf_counter() - began:.1f} s", flush=True)
            stream = audit_stream(f"G{n}", range(cases), today, CONCERN_SHARE, seed=n + 1)
            with server_on(url, Path(tmp) / "server.log") as server, server.channel() as channel:
                drive([channel], submit, [audit_pb2.SubmitAuditRequest(audit=next(stream))
                                          for _ in range(warmup)])
                print(f"# {backend}: {saves} saves, one at a time, over {n} stored audits", flush=True)
                figures = drive([channel], submit, [audit_pb2.SubmitAuditRequest(audit=next(stream))
                                                    for _ in range(saves)])
            print(f"growth.{backend}.{label}.SubmitAudit.p50 {figures.p50_ms:.1f} ms")
            print(f"growth.{backend}.{label}.SubmitAudit.p99 {figures.p99_ms:.1f} ms", flush=True)
            p50[n] = figures.p50_ms
    small, large = min(sizes), max(sizes)
    name = "1M" if large == 1_000_000 else f"{large // 1000}k"
    print(f"growth.{backend}.p50_ratio_{name}_vs_1k {p50[large] / p50[small]:.2f} x", flush=True)


# ------------------------------------------------------------------- main


def main(quick: bool = False) -> None:
    began = time.perf_counter()
    count, populate = (100, 80) if quick else (600, 150)
    sizes, saves, warmup = ((1_000, 20_000), 100, 10) if quick else ((1_000, 1_000_000), 300, 20)
    print(f"# lenses service bench — {date.today()} — {'quick' if quick else 'full'}: {count} requests "
          f"per RPC and concurrency; growth N={'/'.join(map(str, sizes))}, {saves} saves", flush=True)
    backends = ["sqlite"]
    if POSTGRES_URL:
        backends.append("postgres")
    for backend in backends:
        bench_service(backend, count, populate)
        bench_growth(backend, sizes, saves, warmup)
    if not POSTGRES_URL:
        print("# postgres skipped: LENSES_TEST_POSTGRES_URL is not set")
    print(f"# done in {time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
