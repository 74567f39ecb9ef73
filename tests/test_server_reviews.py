"""ReviewService through real gRPC calls: scoring, LS rules that read the store,
review actions, the LS-08 reminder, and indicators / compendium counts checked
against figures this test computes itself from what it stored."""

from __future__ import annotations

import copy
import json

import grpc
import pytest
from google.protobuf import json_format

from lenses.v1 import (
    action_pb2,
    audit_pb2,
    common_pb2,
    provider_pb2,
    provider_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
)
from tests.api import Client, audit, error_code, submit, unique
from tests.conftest import EXAMPLES

K = common_pb2
REVIEW = json.loads((EXAMPLES / "review.json").read_text())["review"]



@pytest.fixture()
def stub(client: Client) -> review_pb2_grpc.ReviewServiceStub:
    return review_pb2_grpc.ReviewServiceStub(client.channel)


def review(area: str, revision: int = 1, **grades: str) -> review_pb2.ServiceReview:
    """The example review for ``area``, with some judgement areas regraded."""
    body = copy.deepcopy(REVIEW)
    body.update(reviewId=unique("SPR"), revision=str(revision), serviceArea=area)
    for judgement in body["judgements"]:
        if judgement["judgementArea"] in grades and judgement["lens"] != "LENS_INDEPENDENT_CHALLENGE":
            judgement["grade"] = f"OFSTED_GRADE_{grades[judgement['judgementArea']]}"
    return json_format.ParseDict(body, review_pb2.ServiceReview())


def findings(score: review_pb2.ReviewScore) -> set[str]:
    return {f.rule_id for f in score.findings}


def test_score_review_is_a_dry_run(client: Client, stub: review_pb2_grpc.ReviewServiceStub) -> None:
    message = review(unique("SA"))
    score = stub.ScoreReview(review_pb2.ScoreReviewRequest(review=message))
    assert score.overall_judgement == K.OFSTED_GRADE_GOOD and abs(score.overall_score - 2.9375) < 1e-9
    (proposed,) = score.actions
    assert proposed.action_id == "" and proposed.kind == K.ACTION_KIND_REVIEW_ACTION
    listed = client.actions.ListActions(
        action_pb2.ListActionsRequest(filter=K.ActionFilter(service_area=message.service_area))
    )
    assert list(listed.actions) == []


def test_score_review_shows_a_past_due_action_overdue_as_a_save_would(
        stub: review_pb2_grpc.ReviewServiceStub) -> None:
    """api.md: ``overdue`` is as of today when a request has no ``as_of``."""
    message = review(unique("SA"))
    message.judgements[1].actions[0].due_on = "2020-01-31"
    (proposed,) = stub.ScoreReview(review_pb2.ScoreReviewRequest(review=message)).actions
    assert proposed.overdue
    (saved,) = stub.SubmitReview(review_pb2.SubmitReviewRequest(review=message)).actions
    assert saved.overdue == proposed.overdue


def test_submit_review_tracks_actions_without_duplicates(stub: review_pb2_grpc.ReviewServiceStub) -> None:
    message = review(unique("SA"))
    first = stub.SubmitReview(review_pb2.SubmitReviewRequest(review=message))
    (action,) = first.actions
    assert (action.owner_id, action.due_on, action.rule_id) == ("hos-ahmed", "2027-01-31", "LS-07")
    again = stub.SubmitReview(review_pb2.SubmitReviewRequest(review=message))
    assert [a.action_id for a in again.actions] == [action.action_id]
    second = review_pb2.ServiceReview()
    second.CopyFrom(message)
    second.revision = 3
    del second.judgements[1].actions[:]  # the workloads action is dropped...
    second.judgements[1].grade = K.OFSTED_GRADE_GOOD  # ...because workloads are now good
    (withdrawn,) = stub.SubmitReview(review_pb2.SubmitReviewRequest(review=second)).actions
    assert withdrawn.action_id == action.action_id and withdrawn.status == K.ACTION_STATUS_WITHDRAWN
    # Revision 1 again is a retry of a stored save; a new revision 2 is stale.
    assert stub.SubmitReview(review_pb2.SubmitReviewRequest(review=message)).review_id == message.review_id
    stale = review_pb2.ServiceReview()
    stale.CopyFrom(message)
    stale.revision = 2
    assert error_code(lambda: stub.SubmitReview(review_pb2.SubmitReviewRequest(review=stale))) == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    changed = review_pb2.ServiceReview()
    changed.CopyFrom(second)
    changed.panel_input = "different"
    assert error_code(lambda: stub.SubmitReview(review_pb2.SubmitReviewRequest(review=changed))) == (
        grpc.StatusCode.ALREADY_EXISTS
    )


def test_unknown_judgement_area_is_invalid(stub: review_pb2_grpc.ReviewServiceStub) -> None:
    message = review(unique("SA"))
    message.judgements[0].judgement_area = "NOT_A_CODE"
    assert (
        error_code(lambda: stub.SubmitReview(review_pb2.SubmitReviewRequest(review=message)))
        == grpc.StatusCode.INVALID_ARGUMENT
    )


def test_audit_evidence_challenge_reads_stored_audits(
    client: Client, stub: review_pb2_grpc.ReviewServiceStub
) -> None:
    area = unique("SA")
    for index in range(5):  # 3 of 5 below good: a share of 0.4 < 0.7
        below = index < 3
        submit(
            client,
            audit(
                ("PLANS",) if below else (),
                overall="DOES_NOT_MEET_GOOD" if below else "MEETS_GOOD",
                serviceArea=area,
                completedOn=f"2026-0{index + 5}-10",
            ),
        )
    assert "LS-05" in findings(stub.ScoreReview(review_pb2.ScoreReviewRequest(review=review(area))))
    calm = review(unique("SA"))  # no audits stored there
    assert "LS-05" not in findings(stub.ScoreReview(review_pb2.ScoreReviewRequest(review=calm)))


def test_provider_evidence_challenge_reads_placements(
    client: Client, stub: review_pb2_grpc.ReviewServiceStub
) -> None:
    area = unique("SA")
    providers = provider_pb2_grpc.ProviderServiceStub(client.channel)
    provider_id = unique("SC")
    providers.RecordInspection(
        provider_pb2.RecordInspectionRequest(
            inspection=provider_pb2.Inspection(
                inspection_id=unique("I"),
                provider_id=provider_id,
                grade=K.OFSTED_GRADE_INADEQUATE,
                inspected_on="2026-05-01",
            )
        )
    )
    providers.RecordPlacement(
        provider_pb2.RecordPlacementRequest(
            placement=provider_pb2.Placement(
                placement_id=unique("PL"),
                case_ref=unique("C"),
                provider_id=provider_id,
                start_on="2026-06-01",
                service_area=area,
            )
        )
    )
    assert "LS-06" in findings(stub.ScoreReview(review_pb2.ScoreReviewRequest(review=review(area))))


def test_review_due_reminder_once_per_service_area(
    client: Client, stub: review_pb2_grpc.ReviewServiceStub
) -> None:
    message = review(unique("SA"))  # panel 2026-10-21
    stub.SubmitReview(review_pb2.SubmitReviewRequest(review=message))
    sweep = client.actions.RunEscalations
    before = sweep(action_pb2.RunEscalationsRequest(as_of="2027-04-21")).created
    assert not [a for a in before if a.service_area == message.service_area]
    due = [
        a
        for a in sweep(action_pb2.RunEscalationsRequest(as_of="2027-04-22")).created
        if a.service_area == message.service_area
    ]
    assert [(a.kind, a.due_on) for a in due] == [(K.ACTION_KIND_SERVICE_REVIEW_DUE, "2027-04-21")]
    again = sweep(action_pb2.RunEscalationsRequest(as_of="2027-05-30")).created
    assert not [a for a in again if a.service_area == message.service_area]


def test_indicators_and_compendium_match_what_was_stored(
    client: Client, stub: review_pb2_grpc.ReviewServiceStub
) -> None:
    area = unique("SA")
    stored = []
    plan = [  # (team, completion, areas below good, overall)
        ("T1", "2027-03-02", ("PLANS",), "DOES_NOT_MEET_GOOD"),
        ("T1", "2027-03-09", ("PLANS", "RISK"), "DOES_NOT_MEET_GOOD"),
        ("T2", "2027-03-16", (), "MEETS_GOOD"),
        ("T2", "2027-03-23", ("REVIEWS",), "MEETS_GOOD"),
        ("T2", "2027-04-01", ("PLANS",), "DOES_NOT_MEET_GOOD"),  # next month: not counted
    ]
    for team, day, below, overall in plan:
        evaluation = submit(
            client, audit(below, overall=overall, serviceArea=area, team=team, completedOn=day)
        )
        stored.append((team, day, below, overall, evaluation))
    for rating, team in (("RED", "T1"), ("AMBER", "T2"), ("GREEN", "T2"), ("GREEN", "T1")):
        client.audits.RecordPlanRating(
            audit_pb2.RecordPlanRatingRequest(
                rating=audit_pb2.PlanRating(
                    rating_id=unique("R"),
                    case_ref=unique("C"),
                    plan_type=K.PLAN_TYPE_CP_PLAN,
                    rating=K.RagRating.Value(f"RAG_RATING_{rating}"),
                    rated_on="2027-03-20",
                    team=team,
                    service_area=area,
                )
            )
        )
    # Expected figures, computed here from what was stored.
    march = [s for s in stored if s[1].startswith("2027-03")]
    expected_good = sum(1 for s in march if s[3] == "MEETS_GOOD") / len(march)
    below_counts: dict[str, int] = {}
    for s in march:
        for code in s[2]:
            below_counts[code] = below_counts.get(code, 0) + 1
    indicators = stub.GetLensIndicators(
        review_pb2.GetLensIndicatorsRequest(
            service_area=area, period_start="2027-03-01", period_end="2027-03-31"
        )
    )
    assert indicators.audits_completed == len(march)
    assert abs(indicators.audits_good_or_better_share - expected_good) < 1e-4
    got_below = {
        K.Area.Name(c.area).removeprefix("AREA_"): c.does_not_meet_good
        for c in indicators.area_grade_counts
        if c.does_not_meet_good
    }
    assert got_below == below_counts
    assert K.Area.Name(indicators.top_areas_below_good[0]) == "AREA_PLANS"
    meets = {K.Area.Name(c.area): c.meets_good for c in indicators.area_grade_counts}
    assert meets["AREA_OUTCOMES"] == len(march)
    assert (indicators.plan_ratings_red, indicators.plan_ratings_amber, indicators.plan_ratings_green) == (
        1,
        1,
        2,
    )
    # Corrective actions: two March audits below good are due 30 April, so none in March.
    assert indicators.corrective_actions_due == 0
    april = stub.GetLensIndicators(
        review_pb2.GetLensIndicatorsRequest(
            service_area=area, period_start="2027-04-01", period_end="2027-04-30"
        )
    )
    assert april.corrective_actions_due == 2
    compendium = stub.GetCompendium(review_pb2.GetCompendiumRequest(month="2027-03", service_area=area))
    (entry,) = compendium.service_areas
    teams = {t.team: t.indicators for t in entry.teams}
    assert set(teams) == {"T1", "T2"}
    assert teams["T1"].audits_completed == 2 and teams["T2"].audits_completed == 2
    assert teams["T1"].plan_ratings_red == 1 and teams["T2"].plan_ratings_amber == 1
    themes = [(K.Area.Name(t.area).removeprefix("AREA_"), t.below_good_count) for t in compendium.themes]
    assert themes[0] == ("PLANS", 2) and dict(themes) == below_counts
    assert (
        error_code(lambda: stub.GetCompendium(review_pb2.GetCompendiumRequest(month="2027-3")))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
