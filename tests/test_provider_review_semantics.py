"""Domain semantics of the provider rules (ES-04, ES-05, ES-07) and the review rules
(LS-02, LS-05..LS-07), mostly through real gRPC calls (SQLite, and PostgreSQL when
LENSES_TEST_POSTGRES_URL is set).

rules.md decides on the data, not on the order it arrives in: ES-04 visits "every
child placed there on that date", ES-05 looks at "the provider's latest grade on the
start date", ES-07 at a REQUIRES_IMPROVEMENT "after GOOD or OUTSTANDING". LS-07:
"resubmitting the review creates no duplicates". LS-05 and LS-06 challenge an area
"judged GOOD or OUTSTANDING", whatever the placement policy's parameter says."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from engine import RulesEngine, model
from lenses.v1 import action_pb2, common_pb2, provider_pb2_grpc, review_pb2
from tests.api import Client, unique
from tests.conftest import RULES
from tests.test_server_providers import inspection, placement, record
from tests.test_server_reviews import review

K = common_pb2


@pytest.fixture()
def providers(client: Client) -> provider_pb2_grpc.ProviderServiceStub:
    return client.providers


def listed(client: Client, **fields: object) -> list[common_pb2.Action]:
    """Every action matching an ActionFilter (one page is plenty here)."""
    return list(client.actions.ListActions(
        action_pb2.ListActionsRequest(filter=K.ActionFilter(**fields), page_size=1000)).actions)


def summary(actions: list[common_pb2.Action]) -> list[tuple[int, int, str, str, str]]:
    return sorted((a.kind, a.owner_role, a.owner_id, a.due_on, a.placement_id) for a in actions)


# ------------------------------------------------------------------------ ES-04


def test_a_child_placed_there_on_the_rating_date_but_recorded_after_it_is_visited(
    client: Client, providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    """ES-04: "for every child placed there on that date: PLACEMENT_REVIEW_VISIT ...
    and PLACEMENT_DECISION". A placement that started before the inadequate rating
    but reaches the service after it must get the same visit and decision it would
    have got had it been recorded first (the provider was GOOD on its start date,
    so ES-05 raises nothing for it)."""
    provider_id = unique("SC")
    record(providers, inspection(provider_id, K.OFSTED_GRADE_GOOD, "2025-06-02"))
    rating = inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2026-05-05")  # a Tuesday
    record(providers, rating)
    child = placement(provider_id, start_on="2026-01-05")
    response = record(providers, child)
    expected = [
        (K.ACTION_KIND_PLACEMENT_REVIEW_VISIT, K.OWNER_ROLE_CASE_HOLDER, child.social_worker_id,
         "2026-05-05", child.placement_id),
        (K.ACTION_KIND_PLACEMENT_DECISION, K.OWNER_ROLE_TEAM_MANAGER, child.team_manager_id,
         "2026-05-06", child.placement_id),
    ]
    assert summary(listed(client, placement_id=child.placement_id)) == expected
    assert summary(list(response.actions)) == expected  # type: ignore[attr-defined]
    # Recording it again creates nothing new and answers the same.
    again = record(providers, child)
    assert [a.action_id for a in again.actions] == [  # type: ignore[attr-defined]
        a.action_id for a in response.actions]  # type: ignore[attr-defined]
    assert len(listed(client, placement_id=child.placement_id)) == 2
    # The provider's action plan is not touched (one, from the inspection).
    (plan,) = listed(client, provider_id=provider_id, kinds=[K.ACTION_KIND_PROVIDER_ACTION_PLAN])
    assert "0 child(ren)" in plan.detail


def test_a_late_placement_that_had_ended_by_the_rating_date_is_not_visited(
    client: Client, providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    """The other side of the boundary: placed until the rating date (the end date is
    exclusive), or from the day after it: not placed there on that date."""
    provider_id = unique("SC")
    record(providers, inspection(provider_id, K.OFSTED_GRADE_GOOD, "2025-06-02"))
    record(providers, inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2026-05-05"))
    ended = placement(provider_id, start_on="2026-01-05", end_on="2026-05-05")
    assert list(record(providers, ended).actions) == []  # type: ignore[attr-defined]
    later = placement(provider_id, start_on="2026-05-06")
    assert [a.kind for a in record(providers, later).actions] == [  # type: ignore[attr-defined]
        K.ACTION_KIND_PLACEMENT_EXCEPTION]  # ES-05, not ES-04


def test_a_late_placement_is_visited_for_each_inadequate_rating_it_was_placed_on(
    client: Client, providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    """Recorded in date order, a child placed through two inadequate ratings gets a
    visit and a decision for each; recorded late, the same."""
    provider_id = unique("SC")
    record(providers, inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2025-03-03"))
    record(providers, inspection(provider_id, K.OFSTED_GRADE_GOOD, "2025-09-01"))
    record(providers, inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2026-05-05"))
    child = placement(provider_id, start_on="2025-01-06")  # never inspected then: ES-05
    record(providers, child)
    visits = listed(client, placement_id=child.placement_id,
                    kinds=[K.ACTION_KIND_PLACEMENT_REVIEW_VISIT])
    assert sorted(a.due_on for a in visits) == ["2025-03-03", "2026-05-05"]


# ------------------------------------------------------------------------ ES-05


def test_an_inadequate_rating_recorded_after_a_later_placement_raises_the_exception(
    client: Client, providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    """ES-05: "provider's latest grade on the start date is not GOOD or OUTSTANDING →
    PLACEMENT_EXCEPTION → HEAD_OF_SERVICE, due on the start date". A child placed
    after an inadequate rating the service had not yet been told of is in inadequate
    provision with neither an exception (ES-05) nor a visit (ES-04: not placed on the
    rating date) unless the rating's arrival raises the exception."""
    provider_id = unique("SC")
    record(providers, inspection(provider_id, K.OFSTED_GRADE_GOOD, "2025-06-02"))
    child = placement(provider_id, start_on="2026-03-10")
    assert list(record(providers, child).actions) == []  # type: ignore[attr-defined]
    rating = inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2026-03-02")
    response = record(providers, rating)
    expected = [(K.ACTION_KIND_PLACEMENT_EXCEPTION, K.OWNER_ROLE_HEAD_OF_SERVICE, "",
                 "2026-03-10", child.placement_id)]
    assert summary(listed(client, placement_id=child.placement_id)) == expected
    assert (K.ACTION_KIND_PLACEMENT_EXCEPTION, "2026-03-10") in [
        (a.kind, a.due_on) for a in response.actions]  # type: ignore[attr-defined]
    assert "ES-05" in {f.rule_id for f in response.findings}  # type: ignore[attr-defined]
    # Recording the same inspection again creates nothing new.
    again = record(providers, rating)
    assert sorted(a.action_id for a in again.actions) == sorted(  # type: ignore[attr-defined]
        a.action_id for a in response.actions)  # type: ignore[attr-defined]
    assert len(listed(client, placement_id=child.placement_id)) == 1


def test_a_late_rating_that_is_not_the_latest_on_the_start_date_changes_nothing(
    client: Client, providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    """Only the latest grade on the start date counts: an older inadequate rating
    recorded late, with a GOOD one after it and before the start, raises no exception;
    nor does a late rating published after the start."""
    provider_id = unique("SC")
    record(providers, inspection(provider_id, K.OFSTED_GRADE_GOOD, "2026-03-05"))
    child = placement(provider_id, start_on="2026-03-10")
    record(providers, child)
    record(providers, inspection(provider_id, K.OFSTED_GRADE_INADEQUATE, "2026-03-02"))
    record(providers, inspection(provider_id, K.OFSTED_GRADE_REQUIRES_IMPROVEMENT, "2026-03-11"))
    assert listed(client, placement_id=child.placement_id) == []


def test_a_late_rating_below_good_keeps_the_one_exception(
    client: Client, providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    """A placement with a never-inspected provider got its exception; a late
    REQUIRES_IMPROVEMENT rated before the start keeps exactly that one exception."""
    provider_id = unique("SC")
    child = placement(provider_id, start_on="2026-03-10")
    record(providers, child)
    record(providers, inspection(provider_id, K.OFSTED_GRADE_REQUIRES_IMPROVEMENT, "2026-03-02"))
    (exception,) = listed(client, placement_id=child.placement_id)
    assert exception.kind == K.ACTION_KIND_PLACEMENT_EXCEPTION


# ------------------------------------------------------------------------ ES-07


def test_requires_improvement_recorded_before_the_earlier_good_grade_gets_contract_monitoring(
    client: Client, providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    """ES-07: "inspection recorded with REQUIRES_IMPROVEMENT after GOOD or OUTSTANDING →
    CONTRACT_MONITORING_VISIT → COMMISSIONING, due 20 working days after publication".
    Recorded in the other order (the RI first, the earlier GOOD later) the decline
    is the same, and so is the visit: due 20 working days after the RI's publication."""
    provider_id = unique("SC")
    declined = inspection(provider_id, K.OFSTED_GRADE_REQUIRES_IMPROVEMENT, "2026-10-09")
    assert list(record(providers, declined).actions) == []  # type: ignore[attr-defined]
    earlier = inspection(provider_id, K.OFSTED_GRADE_GOOD, "2026-03-02")
    response = record(providers, earlier)
    (visit,) = listed(client, provider_id=provider_id, kinds=[K.ACTION_KIND_CONTRACT_MONITORING_VISIT])
    assert (visit.owner_role, visit.due_on, visit.rule_id) == (
        K.OWNER_ROLE_COMMISSIONING, "2026-11-06", "ES-07")
    assert declined.inspection_id in visit.detail
    assert [a.action_id for a in response.actions] == [visit.action_id]  # type: ignore[attr-defined]
    record(providers, earlier)  # again: nothing new
    assert len(listed(client, provider_id=provider_id)) == 1


def test_a_late_good_grade_counts_only_for_the_inspection_just_after_it(
    client: Client, providers: provider_pb2_grpc.ProviderServiceStub,
) -> None:
    """GOOD (March), RI (June), RI (October), recorded October, June, March: the June RI
    follows the GOOD and gets the visit; the October RI follows an RI and does not."""
    provider_id = unique("SC")
    second = inspection(provider_id, K.OFSTED_GRADE_REQUIRES_IMPROVEMENT, "2026-10-09")
    record(providers, second)
    first = inspection(provider_id, K.OFSTED_GRADE_REQUIRES_IMPROVEMENT, "2026-06-01")
    record(providers, first)  # nothing before it yet
    record(providers, inspection(provider_id, K.OFSTED_GRADE_GOOD, "2026-03-02"))
    (visit,) = listed(client, provider_id=provider_id, kinds=[K.ACTION_KIND_CONTRACT_MONITORING_VISIT])
    assert first.inspection_id in visit.detail and visit.due_on == "2026-06-29"


# ------------------------------------------------------------------------ LS-07


def test_a_completed_review_action_is_not_raised_again_by_a_later_revision(client: Client) -> None:
    """LS-07: "resubmitting the review creates no duplicates". The action identified in
    revision 1 was done; revision 2 (the same action, other comments) must not open
    a second REVIEW_ACTION for it."""
    message = review(unique("SA"))
    (action,) = client.reviews.SubmitReview(review_pb2.SubmitReviewRequest(review=message)).actions
    client.actions.CompleteAction(action_pb2.CompleteActionRequest(
        action_id=action.action_id, completed_by="hos-ahmed", completed_on="2026-11-30"))
    second = review_pb2.ServiceReview()
    second.CopyFrom(message)
    second.revision = 2
    second.panel_input = "Panel noted the recruitment is done."
    shown = client.reviews.SubmitReview(review_pb2.SubmitReviewRequest(review=second)).actions
    assert [(a.action_id, a.status) for a in shown] == [(action.action_id, K.ACTION_STATUS_COMPLETED)]
    assert [a.action_id for a in listed(client, service_area=message.service_area,
                                        kinds=[K.ACTION_KIND_REVIEW_ACTION])] == [action.action_id]


# ------------------------------------------------------------------ LS-05, LS-06


def test_the_review_challenges_do_not_move_with_the_placement_policy(tmp_path: Path) -> None:
    """LS-05 and LS-06 fire on an area "judged GOOD or OUTSTANDING" (fixed in rules.md);
    ``good_provider_grades`` is ES-05's and ES-07's placement policy. A council that
    places only in OUTSTANDING provision must still have a GOOD self-judgement
    challenged by weak audits (LS-05) and by a child placed with an inadequate
    provider (LS-06)."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    params = rules / "params.yaml"
    text = params.read_text()
    assert "good_provider_grades: [GOOD, OUTSTANDING]" in text
    params.write_text(text.replace("good_provider_grades: [GOOD, OUTSTANDING]",
                                   "good_provider_grades: [OUTSTANDING]"))
    engine = RulesEngine.from_directory(rules)
    judged = model.ServiceReview(
        review_id="SPR-1", revision=1, service_area="SA", period_start=date(2026, 4, 1),
        period_end=date(2026, 9, 30), judgements=(
            model.ReviewJudgement("PROFESSIONAL_CHALLENGE", "CASE_FILE_AUDITS", "GOOD", evidence="e"),
            model.ReviewJudgement("PROVIDER_CHALLENGE", "PROVIDER_PERFORMANCE", "GOOD", evidence="e"),
        ))
    evidence = model.ReviewEvidence(audits_completed=5, audits_good_or_better=3,
                                    inadequate_provider_placements=1)
    found = {f.rule_id for f in engine.evaluate_review(model.ReviewInput(judged, evidence)).findings}
    assert {"LS-05", "LS-06"} <= found
    # ...while the placement policy itself did change ES-05: a GOOD provider now needs
    # an exception.
    placed = model.PlacementInput(model.Placement("PL-1", "C-1", "SC-1", date(2026, 6, 1)), "GOOD")
    assert "ES-05" in {f.rule_id for f in engine.evaluate_placement(placed).findings}


# ------------------------------------------------------------------- LS-02


def test_an_empty_action_row_is_not_an_action_identified(client: Client) -> None:
    """LS-02: "an area judged REQUIRES_IMPROVEMENT or INADEQUATE has no action" (BLOCKING).
    A row with no description, owner or due date identifies no action."""
    message = review(unique("SA"))  # WORKLOADS is REQUIRES_IMPROVEMENT
    del message.judgements[1].actions[:]
    message.judgements[1].actions.add()
    score = client.reviews.ScoreReview(review_pb2.ScoreReviewRequest(review=message))
    assert "LS-02" in {f.rule_id for f in score.findings}


# ------------------------------------------------------------------- inspection dates


def test_a_report_published_before_its_inspection_is_refused_and_nothing_is_stored(
        client: Client) -> None:
    """ES-04 dates the action plan and the visits from publication: a publication date
    before the inspection (a typing error) would date them before the inspection."""
    import grpc
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    provider_id = unique("SC")
    typo = inspection(provider_id, common_pb2.OFSTED_GRADE_INADEQUATE, "2026-03-02", "2026-03-20")
    with pytest.raises(grpc.RpcError) as refused:
        record(client.providers, typo)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(refused.value)
    assert status is not None
    details = error_details_pb2.BadRequest()
    status.details[0].Unpack(details)
    assert [v.field for v in details.field_violations] == ["inspection.published_on"]
    assert listed(client, provider_id=provider_id) == []
    same_day = inspection(provider_id, common_pb2.OFSTED_GRADE_GOOD, "2026-03-20", "2026-03-20")
    record(client.providers, same_day)  # published the day of the inspection: fine


def test_a_child_placed_on_the_rating_date_gets_the_visit_and_the_exception_in_either_order(
        client: Client) -> None:
    """Placed on the day an inadequate rating is published: the child is placed there
    on that date (ES-04: visit and decision) and the provider's latest grade on the
    start date is inadequate (ES-05: exception). Each order of recording used to give
    one or the other; the ES-05 finding names the placement."""
    got = {}
    for order in ("placement first", "inspection first"):
        provider_id = unique("SC")
        record(client.providers, inspection(provider_id, common_pb2.OFSTED_GRADE_GOOD, "2025-06-02"))
        child = placement(provider_id, start_on="2026-05-05")
        rating = inspection(provider_id, common_pb2.OFSTED_GRADE_INADEQUATE, "2026-05-05")
        responses = [record(client.providers, call) for call in
                     ((child, rating) if order == "placement first" else (rating, child))]
        es05 = [f for r in responses for f in r.findings if f.rule_id == "ES-05"]  # type: ignore[attr-defined]
        assert [f.because["placement_id"] for f in es05] == [child.placement_id], order
        got[order] = sorted(a.kind for a in listed(client, placement_id=child.placement_id))
    assert got["placement first"] == got["inspection first"] == sorted([
        common_pb2.ACTION_KIND_PLACEMENT_EXCEPTION, common_pb2.ACTION_KIND_PLACEMENT_REVIEW_VISIT,
        common_pb2.ACTION_KIND_PLACEMENT_DECISION]), got
