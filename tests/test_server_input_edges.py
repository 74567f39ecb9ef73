"""Input edges through real gRPC calls: dates and months in exactly the contract's
form, dates at the ends of the supported range (refused outside it with a field
violation, evaluated without error inside it), and review catalogue problems as
field violations reported together with every other problem."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from lenses.v1 import (
    action_pb2,
    audit_pb2,
    common_pb2,
    provider_pb2,
    provider_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
)
from tests.api import Client, audit, error_code, unique
from tests.conftest import BACKENDS, EXAMPLES

K = common_pb2
REVIEW = json.loads((EXAMPLES / "review.json").read_text())["review"]
RANGE = "1900-01-01 to 2999-12-31"



def violations(call: Callable[[], Any]) -> dict[str, str]:
    """field -> description of the INVALID_ARGUMENT the call must fail with."""
    with pytest.raises(grpc.RpcError) as raised:
        call()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    status = rpc_status.from_call(raised.value)
    assert status is not None
    detail = error_details_pb2.BadRequest()
    (packed,) = status.details
    assert packed.Unpack(detail)
    found: dict[str, str] = {}
    for v in detail.field_violations:
        found[v.field] = f"{found[v.field]}; {v.description}" if v.field in found else v.description
    return found


def review(**fields: Any) -> review_pb2.ServiceReview:
    body = copy.deepcopy(REVIEW)
    body.update(reviewId=unique("SPR"), serviceArea=unique("SA"), **fields)
    return json_format.ParseDict(body, review_pb2.ServiceReview())


def rating(rated_on: str, colour: int = K.RAG_RATING_RED) -> audit_pb2.PlanRating:
    return audit_pb2.PlanRating(
        rating_id=unique("R"), case_ref=unique("C"), plan_type=K.PLAN_TYPE_CARE_PLAN,
        rating=colour, rated_on=rated_on, rated_by="iro-1", team="T1",  # type: ignore[arg-type]
        service_area=unique("SA"), team_manager_id="tm-1")


def inspection(provider_id: str, on: str, grade: int = K.OFSTED_GRADE_INADEQUATE) -> provider_pb2.Inspection:
    return provider_pb2.Inspection(
        inspection_id=unique("INS"), provider_id=provider_id, provider_name="Oak House",
        grade=grade, inspected_on=on, published_on=on)  # type: ignore[arg-type]


def placement(provider_id: str, start_on: str) -> provider_pb2.Placement:
    return provider_pb2.Placement(
        placement_id=unique("PL"), case_ref=unique("C"), provider_id=provider_id, start_on=start_on,
        social_worker_id="sw-1", team_manager_id="tm-1", team="T1", service_area=unique("SA"),
        checks=provider_pb2.PlacementChecks(ofsted_report=True))


# ------------------------------------------------------------ date forms


@pytest.mark.parametrize("value", ["2026-W01-1", "2026-W53-7", "+2026-1-01", "2026-1-001",
                                   "２０２６-01-01", "2026-01-01\n", "20260101", "2026-02-30"])
def test_a_date_not_written_yyyy_mm_dd_is_a_field_violation(client: Client, value: str) -> None:
    message = audit(completedOn=value)
    for call in (lambda: client.audits.SubmitAudit(audit_pb2.SubmitAuditRequest(audit=message)),
                 lambda: client.audits.EvaluateAudit(audit_pb2.EvaluateAuditRequest(audit=message))):
        assert "is not a date YYYY-MM-DD" in violations(call)["audit.completed_on"]
    found = violations(lambda: client.actions.ListActions(action_pb2.ListActionsRequest(as_of=value)))
    assert set(found) == {"as_of"}


@pytest.mark.parametrize("month", ["+2026-1", "2026- 1", "2026-+1", "2026-1", "2026-13", "2026-00",
                                   "2026-W1", "2026-01-01", "-001-01", "２０２６-01", ""])
def test_a_month_not_written_yyyy_mm_is_a_field_violation(client: Client, month: str) -> None:
    stub = review_pb2_grpc.ReviewServiceStub(client.channel)
    found = violations(lambda: stub.GetCompendium(review_pb2.GetCompendiumRequest(month=month)))
    assert set(found) == {"month"}


# ------------------------------------------------------- the date range


@pytest.mark.parametrize("day", ["9999-12-15", "0001-01-05", "1899-12-31", "3000-01-01"])
def test_dates_outside_the_supported_range_are_field_violations_for_every_rpc(
        client: Client, day: str) -> None:
    providers = provider_pb2_grpc.ProviderServiceStub(client.channel)
    reviews = review_pb2_grpc.ReviewServiceStub(client.channel)
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("audit.completed_on", lambda: client.audits.SubmitAudit(
            audit_pb2.SubmitAuditRequest(audit=audit(completedOn=day)), timeout=30)),
        ("audit.completed_on", lambda: client.audits.EvaluateAudit(
            audit_pb2.EvaluateAuditRequest(audit=audit(completedOn=day)), timeout=30)),
        ("audit.lookback_from", lambda: client.audits.EvaluateAudit(
            audit_pb2.EvaluateAuditRequest(audit=audit(lookbackFrom=day)), timeout=30)),
        ("rating.rated_on", lambda: client.audits.RecordPlanRating(
            audit_pb2.RecordPlanRatingRequest(rating=rating(day)), timeout=30)),
        ("inspection.inspected_on", lambda: providers.RecordInspection(provider_pb2.RecordInspectionRequest(
            inspection=inspection(unique("P"), day)), timeout=30)),
        ("placement.start_on", lambda: providers.RecordPlacement(provider_pb2.RecordPlacementRequest(
            placement=placement(unique("P"), day)), timeout=30)),
        ("as_of", lambda: client.actions.RunEscalations(
            action_pb2.RunEscalationsRequest(as_of=day), timeout=30)),
        ("as_of", lambda: client.actions.ListActions(action_pb2.ListActionsRequest(as_of=day))),
        ("completed_on", lambda: client.actions.CompleteAction(action_pb2.CompleteActionRequest(
            action_id="A-1", completed_by="x", completed_on=day))),
        ("review.panel_on", lambda: reviews.ScoreReview(
            review_pb2.ScoreReviewRequest(review=review(panelOn=day)), timeout=30)),
        ("period_end", lambda: reviews.GetLensIndicators(review_pb2.GetLensIndicatorsRequest(
            service_area="SA", period_start="2026-01-01", period_end=day))),
    ]
    for field, call in calls:
        found = violations(call)
        assert RANGE in found.get(field, ""), (field, found)
    found = violations(lambda: reviews.GetCompendium(review_pb2.GetCompendiumRequest(month=day[:7])))
    assert "1900-01 to 2999-12" in found["month"]


@pytest.fixture(scope="module", params=BACKENDS)
def own_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server of its own: sweeping at the end of the calendar would escalate every
    other test's open actions."""
    from tests.server_harness import fresh_database, running_server

    tmp: Path = tmp_path_factory.mktemp(f"edges-{request.param}")
    with fresh_database(request.param, tmp) as url, running_server(url) as running:
        yield running


@pytest.mark.parametrize(("first", "last"), [("1900-01-01", "1900-01-31"), ("2999-12-01", "2999-12-31")])
def test_every_rpc_evaluates_dates_at_the_ends_of_the_range(own_server: Any, first: str, last: str) -> None:
    with own_server.channel() as channel:
        client = Client(channel)
        providers = provider_pb2_grpc.ProviderServiceStub(channel)
        reviews = review_pb2_grpc.ReviewServiceStub(channel)
        area = unique("SA")
        for day in (first, last):
            for index in range(3):  # three concerns in one area: ES-03's window of days before
                message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn=day,
                                lookbackFrom=first, serviceArea=area)
                message.agreed_actions[0].by_when = last
                saved = client.audits.SubmitAudit(audit_pb2.SubmitAuditRequest(audit=message), timeout=30)
                assert saved.actions, index
                client.audits.EvaluateAudit(audit_pb2.EvaluateAuditRequest(audit=message), timeout=30)
            red = client.audits.RecordPlanRating(audit_pb2.RecordPlanRatingRequest(rating=rating(day)),
                                                 timeout=30)
            assert red.actions
            provider_id = unique("P")
            providers.RecordPlacement(provider_pb2.RecordPlacementRequest(
                placement=placement(provider_id, first)), timeout=30)
            inadequate = providers.RecordInspection(provider_pb2.RecordInspectionRequest(
                inspection=inspection(provider_id, day)), timeout=30)
            assert inadequate.actions
            body = copy.deepcopy(REVIEW)
            body["judgements"][1]["actions"][0]["dueOn"] = day
            scored = review(periodStart=first, periodEnd=day, panelOn=day,
                            judgements=body["judgements"])
            reviews.ScoreReview(review_pb2.ScoreReviewRequest(review=scored), timeout=30)
            if date.fromisoformat(day) > date.today():  # submitted once the panel is held
                assert error_code(lambda m=scored: reviews.SubmitReview(
                    review_pb2.SubmitReviewRequest(review=m), timeout=30)) == \
                    grpc.StatusCode.INVALID_ARGUMENT
                scored.panel_on = ""
            assert reviews.SubmitReview(review_pb2.SubmitReviewRequest(review=scored), timeout=30).actions
            reviews.GetLensIndicators(review_pb2.GetLensIndicatorsRequest(
                service_area=area, period_start=first, period_end=day))
            assert reviews.GetCompendium(review_pb2.GetCompendiumRequest(month=day[:7])).service_areas
            client.actions.RunEscalations(action_pb2.RunEscalationsRequest(as_of=day), timeout=30)
            listed = client.actions.ListActions(action_pb2.ListActionsRequest(
                as_of=day, filter=K.ActionFilter(service_area=area, statuses=[K.ACTION_STATUS_OPEN])))
            assert listed.actions
            completion = action_pb2.CompleteActionRequest(
                action_id=listed.actions[0].action_id, completed_by="sm-1", completed_on=day,
                outcome="REMAIN")
            if date.fromisoformat(day) <= date.today():
                assert client.actions.CompleteAction(completion).completed_on == day
            else:  # recorded once done: a completion date still ahead is refused
                assert error_code(lambda c=completion: client.actions.CompleteAction(c)) == \
                    grpc.StatusCode.INVALID_ARGUMENT
        assert own_server.alive()


# ------------------------------------------------- the review catalogue


def test_catalogue_problems_are_field_violations_reported_with_the_other_problems(client: Client) -> None:
    stub = review_pb2_grpc.ReviewServiceStub(client.channel)
    message = review()
    message.review_id = ""  # a field problem...
    message.judgements[0].judgement_area = "NOT_A_CODE"  # ...and three catalogue problems
    message.judgements[2].judgement_area = message.judgements[1].judgement_area
    message.judgements[4].lens = K.LENS_CITIZEN_CHALLENGE
    message.judgements[5].lens = 99  # type: ignore[assignment]  # malformed: reported once, as the lens
    for call in (lambda: stub.SubmitReview(review_pb2.SubmitReviewRequest(review=message), timeout=30),
                 lambda: stub.ScoreReview(review_pb2.ScoreReviewRequest(review=message), timeout=30)):
        found = violations(call)
        assert set(found) == {"review.review_id", "review.judgements[0].judgement_area",
                              "review.judgements[2].judgement_area", "review.judgements[4].judgement_area",
                              "review.judgements[5].lens"}, found
        assert "'NOT_A_CODE' is not a judgement area of INDEPENDENT_CHALLENGE" in \
            found["review.judgements[0].judgement_area"]
        assert "judged twice" in found["review.judgements[2].judgement_area"]
        assert "CITIZEN_CHALLENGE" in found["review.judgements[4].judgement_area"]


def test_catalogue_problems_alone_are_one_violation_each(client: Client) -> None:
    stub = review_pb2_grpc.ReviewServiceStub(client.channel)
    message = review()
    message.judgements[0].judgement_area = "NOT_A_CODE"
    message.judgements[3].judgement_area = "ALSO_NOT_A_CODE"
    found = violations(lambda: stub.SubmitReview(review_pb2.SubmitReviewRequest(review=message), timeout=30))
    assert set(found) == {"review.judgements[0].judgement_area", "review.judgements[3].judgement_area"}
