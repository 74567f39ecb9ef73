"""Provider monitoring benchmarks (part of ``make bench``; never fails on speed).

- ``RecordInspection`` rating a provider with 500 active placements
  inadequate (one action plan, 500 visits, 500 decisions): latency;
- ``WatchActions`` delivery latency, from the event's database timestamp to the
  client, while 100 actions a second are created.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from lenses.v1 import action_pb2, audit_pb2, common_pb2, provider_pb2, provider_pb2_grpc
from tests.api import Client
from tests.server_harness import fresh_database, running_server

K = common_pb2


def _placement(provider_id: str, index: int) -> provider_pb2.RecordPlacementRequest:
    checks = provider_pb2.PlacementChecks(
        ofsted_report=True,
        regulation_reports=True,
        la_references=True,
        insurance=True,
        statement_of_purpose=True,
        social_worker_visit=True,
    )
    return provider_pb2.RecordPlacementRequest(
        placement=provider_pb2.Placement(
            placement_id=f"{provider_id}-PL{index}",
            case_ref=f"{provider_id}-C{index}",
            provider_id=provider_id,
            start_on="2026-01-05",
            social_worker_id=f"sw{index % 40}",
            team_manager_id=f"tm{index % 8}",
            team="LAC",
            service_area="Looked After Children",
            checks=checks,
        )
    )


def _inspection(provider_id: str, grade: int, published_on: str) -> provider_pb2.RecordInspectionRequest:
    return provider_pb2.RecordInspectionRequest(
        inspection=provider_pb2.Inspection(
            inspection_id=f"{provider_id}-{published_on}",
            provider_id=provider_id,
            provider_name="Home",
            grade=grade,
            inspected_on=published_on,
            published_on=published_on,
        )
    )  # type: ignore[arg-type]


def bench_inspection(address: str, label: str, placements: int = 500, runs: int = 3) -> None:
    import grpc

    with grpc.insecure_channel(address) as channel:
        providers = provider_pb2_grpc.ProviderServiceStub(channel)
        timings = []
        for _ in range(runs):
            provider_id = f"SC{uuid.uuid4().hex[:8]}"
            providers.RecordInspection(_inspection(provider_id, K.OFSTED_GRADE_GOOD, "2025-06-02"))
            for index in range(placements):
                providers.RecordPlacement(_placement(provider_id, index))
            start = time.perf_counter()
            response = providers.RecordInspection(
                _inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2026-10-10"), timeout=120
            )
            timings.append(time.perf_counter() - start)
            assert len(response.actions) == 1 + 2 * placements
    print(
        f"providers.{label}.RecordInspection_{placements}_placements.median "
        f"{statistics.median(timings) * 1000:.0f} ms"
    )
    print(f"providers.{label}.RecordInspection_{placements}_placements.max {max(timings) * 1000:.0f} ms")


def bench_stream(address: str, label: str, rate: int = 100, seconds: float = 10.0) -> None:
    import grpc

    area = f"SA{uuid.uuid4().hex[:8]}"
    latencies: list[float] = []
    expected = int(rate * seconds)
    done = threading.Event()

    def watch() -> None:
        with grpc.insecure_channel(address) as channel:
            stream = Client(channel).actions.WatchActions(
                action_pb2.WatchActionsRequest(filter=K.ActionFilter(service_area=area)), timeout=seconds + 60
            )
            for event in stream:
                received = datetime.now(UTC)
                latencies.append((received - event.occurred_at.ToDatetime(UTC)).total_seconds())
                if len(latencies) >= expected:
                    stream.cancel()
                    break
        done.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.5)
    with grpc.insecure_channel(address) as channel:
        audits = Client(channel).audits
        start = time.perf_counter()
        for index in range(expected):
            audits.RecordPlanRating(
                audit_pb2.RecordPlanRatingRequest(
                    rating=audit_pb2.PlanRating(
                        rating_id=f"{area}-R{index}",
                        case_ref=f"C{index}",
                        plan_type=K.PLAN_TYPE_CARE_PLAN,
                        rating=K.RAG_RATING_RED,
                        rated_on="2026-03-02",
                        service_area=area,
                        team_manager_id="tm",
                    )
                )
            )
            pause = start + (index + 1) / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        achieved = expected / (time.perf_counter() - start)
    done.wait(seconds + 60)
    watcher.join(5)
    ordered = sorted(latencies)
    print(f"providers.{label}.WatchActions.created_rate {achieved:.0f} actions/s")
    print(f"providers.{label}.WatchActions.delivered {len(ordered)} of {expected}")
    if ordered:
        print(f"providers.{label}.WatchActions.p50 {ordered[len(ordered) // 2] * 1000:.1f} ms")
        print(f"providers.{label}.WatchActions.p99 {ordered[int(len(ordered) * 0.99) - 1] * 1000:.1f} ms")


def main(quick: bool = False) -> None:
    backends = ["sqlite"] + (["postgres"] if os.environ.get("LENSES_TEST_POSTGRES_URL") else [])
    for backend in backends:
        with (
            tempfile.TemporaryDirectory() as tmp,
            fresh_database(backend, Path(tmp)) as url,
            running_server(url, log_path=Path(tmp) / "server.log") as server,
        ):
            bench_inspection(
                server.address, backend, placements=100 if quick else 500, runs=1 if quick else 3
            )
            bench_stream(server.address, backend, seconds=2.0 if quick else 10.0)


if __name__ == "__main__":
    main()
