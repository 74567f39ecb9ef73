"""Provider monitoring through real gRPC calls: inspections, placements, plan
ratings and the action stream (SQLite, and PostgreSQL in CI)."""

from __future__ import annotations

import threading

import grpc
import pytest

from lenses.v1 import action_pb2, audit_pb2, common_pb2, provider_pb2, provider_pb2_grpc
from tests.api import Client, error_code, unique

K = common_pb2



@pytest.fixture()
def providers(client: Client) -> provider_pb2_grpc.ProviderServiceStub:
    return provider_pb2_grpc.ProviderServiceStub(client.channel)


def placement(
    provider_id: str, start_on: str = "2026-01-05", end_on: str = "", **checks: bool
) -> provider_pb2.Placement:
    done = {
        name: checks.get(name, True)
        for name in (
            "ofsted_report",
            "regulation_reports",
            "la_references",
            "insurance",
            "statement_of_purpose",
            "social_worker_visit",
        )
    }
    return provider_pb2.Placement(
        placement_id=unique("PL"),
        case_ref=unique("C"),
        provider_id=provider_id,
        start_on=start_on,
        end_on=end_on,
        social_worker_id=unique("sw"),
        team_manager_id=unique("tm"),
        team="LAC North",
        service_area="Looked After Children",
        checks=provider_pb2.PlacementChecks(**done),
    )


def inspection(
    provider_id: str, grade: int, published_on: str, inspected_on: str = ""
) -> provider_pb2.Inspection:
    return provider_pb2.Inspection(
        inspection_id=unique("INS"),
        provider_id=provider_id,
        provider_name="Oak House",
        grade=grade,  # type: ignore[arg-type]
        inspected_on=inspected_on or published_on,
        published_on=published_on,
    )


def record(providers: provider_pb2_grpc.ProviderServiceStub, message: object) -> object:
    if isinstance(message, provider_pb2.Inspection):
        return providers.RecordInspection(
            provider_pb2.RecordInspectionRequest(inspection=message), timeout=30
        )
    return providers.RecordPlacement(provider_pb2.RecordPlacementRequest(placement=message), timeout=30)


def kinds(response: object) -> list[tuple[int, str]]:
    return sorted((a.kind, a.due_on) for a in response.actions)  # type: ignore[attr-defined]


def good_provider(providers: provider_pb2_grpc.ProviderServiceStub) -> str:
    provider_id = unique("SC")
    record(providers, inspection(provider_id, K.OFSTED_GRADE_GOOD, "2025-06-02"))
    return provider_id


def test_inadequate_on_a_saturday(providers: provider_pb2_grpc.ProviderServiceStub) -> None:
    provider_id = good_provider(providers)
    placed = [placement(provider_id) for _ in range(2)]
    ended = placement(provider_id, end_on="2026-09-01")
    for p in [*placed, ended]:
        record(providers, p)
    rating = inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2026-10-10", "2026-09-22")  # a Saturday
    response = record(providers, rating)
    assert kinds(response) == [
        (K.ACTION_KIND_PROVIDER_ACTION_PLAN, "2026-11-06"),
        (K.ACTION_KIND_PLACEMENT_REVIEW_VISIT, "2026-10-12"),
        (K.ACTION_KIND_PLACEMENT_REVIEW_VISIT, "2026-10-12"),
        (K.ACTION_KIND_PLACEMENT_DECISION, "2026-10-13"),
        (K.ACTION_KIND_PLACEMENT_DECISION, "2026-10-13"),
    ]
    visits = {a.placement_id: a for a in response.actions if a.kind == K.ACTION_KIND_PLACEMENT_REVIEW_VISIT}
    assert set(visits) == {p.placement_id for p in placed}
    assert {visits[p.placement_id].owner_id for p in placed} == {p.social_worker_id for p in placed}
    again = record(providers, rating)
    assert [a.action_id for a in again.actions] == [a.action_id for a in response.actions]
    shown = providers.GetProvider(provider_pb2.GetProviderRequest(provider_id=provider_id))
    assert shown.latest_grade == K.OFSTED_GRADE_INADEQUATE and shown.latest_published_on == "2026-10-10"
    assert len(shown.open_actions) == 5
    assert {p.placement_id for p in shown.active_placements} == {p.placement_id for p in placed}


def test_good_friday_moves_the_visit_past_easter_monday(
    providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    provider_id = good_provider(providers)
    record(providers, placement(provider_id))
    response = record(providers, inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2026-04-03"))
    due = {a.kind: a.due_on for a in response.actions}
    assert due[K.ACTION_KIND_PLACEMENT_REVIEW_VISIT] == "2026-04-07"
    assert due[K.ACTION_KIND_PLACEMENT_DECISION] == "2026-04-08"


@pytest.mark.parametrize("grade", [K.OFSTED_GRADE_REQUIRES_IMPROVEMENT, K.OFSTED_GRADE_INADEQUATE, None])
def test_placements_below_good_need_an_exception(
    providers: provider_pb2_grpc.ProviderServiceStub, grade: int | None
) -> None:
    provider_id = unique("SC")
    if grade is not None:
        record(providers, inspection(provider_id, grade, "2025-12-01"))
    response = record(providers, placement(provider_id, start_on="2026-01-05"))
    assert kinds(response) == [(K.ACTION_KIND_PLACEMENT_EXCEPTION, "2026-01-05")]
    assert [f.rule_id for f in response.findings] == ["ES-05"]


def test_missing_checks_are_named_and_get_placement_checks(
    providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    provider_id = good_provider(providers)
    response = record(providers, placement(provider_id, insurance=False, la_references=False))
    (finding,) = response.findings
    assert finding.rule_id == "ES-06" and finding.because["missing"] == "la_references,insurance"
    assert "insurance" in finding.message
    assert kinds(response) == [(K.ACTION_KIND_PLACEMENT_CHECKS, "2026-01-05")]
    assert list(record(providers, placement(provider_id)).actions) == []  # good and checked


def test_a_later_call_with_end_on_ends_the_placement(
    providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    provider_id = good_provider(providers)
    started = placement(provider_id)
    record(providers, started)
    ended = provider_pb2.Placement()
    ended.CopyFrom(started)
    ended.end_on = "2026-02-01"
    assert list(record(providers, ended).actions) == []
    shown = providers.GetProvider(provider_pb2.GetProviderRequest(provider_id=provider_id))
    assert list(shown.active_placements) == []
    other = provider_pb2.Placement()
    other.CopyFrom(started)
    other.case_ref = "C-other"
    assert error_code(lambda: record(providers, other)) == grpc.StatusCode.ALREADY_EXISTS


def test_good_to_requires_improvement_gets_contract_monitoring(
    providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    provider_id = good_provider(providers)
    response = record(providers, inspection(provider_id, K.OFSTED_GRADE_REQUIRES_IMPROVEMENT, "2026-10-09"))
    assert kinds(response) == [(K.ACTION_KIND_CONTRACT_MONITORING_VISIT, "2026-11-06")]
    again = record(providers, inspection(provider_id, K.OFSTED_GRADE_REQUIRES_IMPROVEMENT, "2026-11-09"))
    assert list(again.actions) == []  # requires improvement after requires improvement


def test_red_plan_response_and_its_escalation(client: Client) -> None:
    rating = audit_pb2.PlanRating(
        rating_id=unique("R"),
        case_ref=unique("C"),
        plan_type=K.PLAN_TYPE_CARE_PLAN,
        rating=K.RAG_RATING_RED,
        rated_on="2026-03-02",
        rated_by="iro-1",
        team="LAC North",
        service_area=unique("SA"),
        team_manager_id="tm-9",
    )
    response = client.audits.RecordPlanRating(audit_pb2.RecordPlanRatingRequest(rating=rating))
    (action,) = response.actions
    assert (action.kind, action.owner_id, action.due_on) == (
        K.ACTION_KIND_PLAN_RATING_RESPONSE,
        "tm-9",
        "2026-03-16",
    )
    escalations = []
    for _ in range(2):
        swept = client.actions.RunEscalations(action_pb2.RunEscalationsRequest(as_of="2026-03-17"))
        escalations += [a for a in swept.created if a.escalated_from == action.action_id]
    (escalation,) = escalations
    assert escalation.kind == K.ACTION_KIND_PLAN_ESCALATION and escalation.due_on == "2026-03-30"
    assert escalation.owner_role == K.OWNER_ROLE_HEAD_OF_SERVICE
    green = audit_pb2.PlanRating()
    green.CopyFrom(rating)
    green.rating_id, green.rating = unique("R"), K.RAG_RATING_GREEN
    assert list(client.audits.RecordPlanRating(audit_pb2.RecordPlanRatingRequest(rating=green)).actions) == []


def test_placement_decision_outcomes(
    client: Client, providers: provider_pb2_grpc.ProviderServiceStub
) -> None:
    provider_id = good_provider(providers)
    record(providers, placement(provider_id))
    record(providers, inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2026-05-05"))
    listed = client.actions.ListActions(
        action_pb2.ListActionsRequest(
            filter=K.ActionFilter(provider_id=provider_id, kinds=[K.ACTION_KIND_PLACEMENT_DECISION])
        )
    )
    (decision,) = listed.actions
    by_placement = client.actions.ListActions(
        action_pb2.ListActionsRequest(filter=K.ActionFilter(placement_id=decision.placement_id))
    )
    assert len(by_placement.actions) == 2  # the visit and the decision
    bad = action_pb2.CompleteActionRequest(
        action_id=decision.action_id, completed_by="tm", completed_on="2026-05-06", outcome="MAYBE"
    )
    assert error_code(lambda: client.actions.CompleteAction(bad)) == grpc.StatusCode.INVALID_ARGUMENT
    bad.outcome = "MOVE"
    assert client.actions.CompleteAction(bad).outcome == "MOVE"


def test_a_watcher_that_resumes_sees_every_event_once(
    client: Client, providers: provider_pb2_grpc.ProviderServiceStub
) -> None:
    provider_id = good_provider(providers)
    watch_filter = K.ActionFilter(provider_id=provider_id)
    seen: list[int] = []
    types: list[int] = []

    errors: list[BaseException] = []

    def watch(after: int, count: int) -> None:
        try:
            _watch(after, count)
        except BaseException as error:  # surfaced by the asserts below
            errors.append(error)

    def _watch(after: int, count: int) -> None:
        stream = client.actions.WatchActions(
            action_pb2.WatchActionsRequest(after_sequence=after, filter=watch_filter), timeout=60
        )
        for event in stream:
            seen.append(event.sequence)
            types.append(event.type)
            assert event.action.provider_id == provider_id
            count -= 1
            if count == 0:
                stream.cancel()
                return

    for _ in range(2):
        record(providers, placement(provider_id))
    record(providers, inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2026-06-01"))  # 5 actions
    first = threading.Thread(target=watch, args=(0, 3))
    first.start()
    first.join(60)
    assert len(seen) == 3
    # While nobody watches: more events (a completion, a new placement's exception).
    listed = client.actions.ListActions(action_pb2.ListActionsRequest(filter=watch_filter))
    client.actions.CompleteAction(
        action_pb2.CompleteActionRequest(
            action_id=listed.actions[0].action_id,
            completed_by="x",
            completed_on="2026-06-01",
            outcome="REMAIN" if listed.actions[0].kind == K.ACTION_KIND_PLACEMENT_DECISION else "",
        )
    )
    # Resume from the last sequence seen: the 2 missed creations, the completion, then
    # live events: a new placement with the provider (now inadequate) and a check missing.
    second = threading.Thread(target=watch, args=(seen[-1], 5))
    second.start()
    record(providers, placement(provider_id, start_on="2026-06-10", insurance=False))
    second.join(60)
    assert errors == []
    assert len(seen) == 3 + 5 and len(set(seen)) == len(seen) and seen == sorted(seen)
    assert types.count(K.ACTION_EVENT_TYPE_COMPLETED) == 1
    assert types.count(K.ACTION_EVENT_TYPE_CREATED) == 7


def test_events_from_another_server_process_reach_every_watcher(server) -> None:  # type: ignore[no-untyped-def]
    """Two servers on one database: writes through the second reach watchers of the first."""
    from tests.server_harness import running_server

    provider_id = unique("SC")
    received: dict[int, list[int]] = {0: [], 1: []}

    def watch(slot: int) -> None:
        with server.channel() as channel:
            stream = Client(channel).actions.WatchActions(
                action_pb2.WatchActionsRequest(filter=K.ActionFilter(provider_id=provider_id)), timeout=60
            )
            for event in stream:
                received[slot].append(event.sequence)
                if len(received[slot]) == 3:
                    stream.cancel()
                    return

    watchers = [threading.Thread(target=watch, args=(slot,)) for slot in (0, 1)]
    for watcher in watchers:
        watcher.start()
    with running_server(server.database_url) as other, other.channel() as channel:
        stub = provider_pb2_grpc.ProviderServiceStub(channel)
        record(stub, inspection(provider_id, K.OFSTED_GRADE_GOOD, "2025-01-06"))
        record(stub, placement(provider_id, insurance=False))  # PLACEMENT_CHECKS
        record(stub, inspection(provider_id, K.OFSTED_GRADE_REQUIRES_IMPROVEMENT, "2026-03-02"))  # ES-07
        record(stub, placement(provider_id, start_on="2026-03-09"))  # PLACEMENT_EXCEPTION
        for watcher in watchers:
            watcher.join(60)
    assert received[0] == received[1] and len(received[0]) == 3
