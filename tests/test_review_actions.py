"""A review's actions through real gRPC calls: LS-07 tracks each identified action
by what it is (its owner and description), never by its position; a revision
withdraws only its own review's actions, and never one completed meanwhile; LS-08
keeps one reminder per panel, and a newer panel withdraws the reminder for an
earlier one."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from lenses.v1 import action_pb2, common_pb2, review_pb2, review_pb2_grpc
from tests.api import Client, race, unique
from tests.conftest import EXAMPLES

K = common_pb2
REVIEW = json.loads((EXAMPLES / "review.json").read_text())["review"]
RACES = 12
WORKLOADS = "WORKLOADS"



@pytest.fixture()
def stub(client: Client) -> review_pb2_grpc.ReviewServiceStub:
    return review_pb2_grpc.ReviewServiceStub(client.channel)


def review(review_id: str, area: str, revision: int = 1,
           workloads: list[tuple[str, str, str]] | None = None, **fields: str) -> review_pb2.ServiceReview:
    """The example review with its workloads actions as (description, owner, due date)
    (none: no action, workloads good) and some top-level fields (camelCase) changed."""
    body = copy.deepcopy(REVIEW)
    body.update(reviewId=review_id, revision=str(revision), serviceArea=area, **fields)
    for judgement in body["judgements"]:
        if judgement["judgementArea"] == WORKLOADS:
            judgement["actions"] = [{"description": d, "ownerId": o, "dueOn": due}
                                    for d, o, due in workloads or []]
            if not workloads:
                judgement["grade"] = "OFSTED_GRADE_GOOD"
    return json_format.ParseDict(body, review_pb2.ServiceReview())


def save(stub: review_pb2_grpc.ReviewServiceStub, message: review_pb2.ServiceReview) -> dict[str, Any]:
    """SubmitReview; its review actions by owner (each owner has one here)."""
    score = stub.SubmitReview(review_pb2.SubmitReviewRequest(review=message), timeout=30)
    found: dict[str, Any] = {}
    for action in score.actions:
        assert action.kind == K.ACTION_KIND_REVIEW_ACTION
        found.setdefault(action.owner_id, []).append(action)
    return found


def area_actions(client: Client, area: str, kind: int) -> list[common_pb2.Action]:
    listed = client.actions.ListActions(action_pb2.ListActionsRequest(
        filter=K.ActionFilter(service_area=area, kinds=[kind])))  # type: ignore[list-item]
    return list(listed.actions)


# ------------------------------------------------------------------ LS-07


def test_an_action_is_tracked_by_what_it_is_not_where_it_is(
        stub: review_pb2_grpc.ReviewServiceStub) -> None:
    review_id, area = unique("SPR"), unique("SA")
    one = ("ACTION ONE", "owner-a", "2027-01-31")
    two = ("ACTION TWO", "owner-b", "2027-02-28")
    first = save(stub, review(review_id, area, 1, [one, two]))
    (a,), (b,) = first["owner-a"], first["owner-b"]
    # Revision 2 keeps only ACTION TWO (now first): ONE is withdrawn, TWO stays itself.
    second = save(stub, review(review_id, area, 2, [("ACTION TWO", "owner-b", "2027-03-31")]))
    (a2,), (b2,) = second["owner-a"], second["owner-b"]
    assert (a2.action_id, a2.status, a2.due_on) == (a.action_id, K.ACTION_STATUS_WITHDRAWN, a.due_on)
    assert "revision 2" in a2.withdrawn_reason
    assert (b2.action_id, b2.status, b2.due_on) == (b.action_id, K.ACTION_STATUS_OPEN, "2027-03-31")
    # Revision 3 gives ACTION TWO to owner-c: another action; owner-b's is withdrawn.
    third = save(stub, review(review_id, area, 3, [("ACTION TWO", "owner-c", "2027-03-31")]))
    (b3,), (c3,) = third["owner-b"], third["owner-c"]
    assert (b3.action_id, b3.status) == (b.action_id, K.ACTION_STATUS_WITHDRAWN)
    assert c3.status == K.ACTION_STATUS_OPEN and c3.action_id not in (a.action_id, b.action_id)
    assert len(third["owner-a"]) == 1  # still the one withdrawn action
    # Revision 4 reorders and adds before it: owner-c's action is the same one.
    fourth = save(stub, review(review_id, area, 4, [
        ("ACTION ZERO", "owner-d", "2027-01-15"), ("ACTION TWO", "owner-c", "2027-03-31")]))
    (c4,) = fourth["owner-c"]
    assert (c4.action_id, c4.status) == (c3.action_id, K.ACTION_STATUS_OPEN)
    # A changed description is another action too.
    fifth = save(stub, review(review_id, area, 5, [
        ("ACTION ZERO", "owner-d", "2027-01-15"), ("ACTION TWO, revised", "owner-c", "2027-03-31")]))
    assert sorted((x.action_id == c3.action_id, x.status) for x in fifth["owner-c"]) == [
        (False, K.ACTION_STATUS_OPEN), (True, K.ACTION_STATUS_WITHDRAWN)]


def test_a_revision_withdraws_only_its_own_reviews_actions(
        stub: review_pb2_grpc.ReviewServiceStub) -> None:
    """Review ids may hold ":": review X's revision must not touch review X:Y's actions."""
    base, area = unique("SPR"), unique("SA")
    nested = f"{base}:2026H2"
    action = ("Cut caseloads", "owner-n", "2027-01-31")
    (theirs,) = save(stub, review(nested, area, 1, [action]))["owner-n"]
    (mine,) = save(stub, review(base, area, 1, [action]))["owner-n"]
    assert mine.action_id != theirs.action_id
    after = save(stub, review(base, area, 2, []))  # base's revision 2 drops its action
    assert [(x.action_id, x.status) for x in after["owner-n"]] == [
        (mine.action_id, K.ACTION_STATUS_WITHDRAWN)]
    again = save(stub, review(nested, area, 2, [action]))  # and nested's is untouched
    assert [(x.action_id, x.status) for x in again["owner-n"]] == [
        (theirs.action_id, K.ACTION_STATUS_OPEN)]


def test_a_completion_racing_a_revision_that_drops_the_action_is_never_overwritten(
        server, client: Client, stub: review_pb2_grpc.ReviewServiceStub) -> None:  # type: ignore[no-untyped-def]
    outcomes = set()
    for round_ in range(RACES):
        review_id, area = unique("SPR"), unique("SA")
        (action,) = save(stub, review(review_id, area, 1, [("Cut caseloads", "owner-r", "2027-01-31")]))[
            "owner-r"]
        delay = round_ % 4 * 0.004  # the completion a little later each time, over the save

        def complete(c: Client, action_id: str = action.action_id, wait: float = delay) -> Any:
            time.sleep(wait)
            return c.actions.CompleteAction(action_pb2.CompleteActionRequest(
                action_id=action_id, completed_by="alice", completed_on="2026-11-01"), timeout=30)

        def drop(c: Client, rid: str = review_id, sa: str = area) -> Any:
            return review_pb2_grpc.ReviewServiceStub(c.channel).SubmitReview(
                review_pb2.SubmitReviewRequest(review=review(rid, sa, 2, [])), timeout=30)

        completed, saved = race(server, complete, drop)
        assert not isinstance(saved, grpc.RpcError), saved
        stored = client.actions.GetAction(action_pb2.GetActionRequest(action_id=action.action_id))
        if isinstance(completed, grpc.RpcError):  # the save won: withdrawn, never completed
            assert completed.code() == grpc.StatusCode.FAILED_PRECONDITION, completed
            assert (stored.status, stored.completed_by) == (K.ACTION_STATUS_WITHDRAWN, "")
        else:  # the completion won: it stands, and the save withdrew nothing
            assert (stored.status, stored.completed_by, stored.withdrawn_reason) == (
                K.ACTION_STATUS_COMPLETED, "alice", ""), stored
        outcomes.add(stored.status)
    assert outcomes  # which of the two won each race is up to the scheduler


# ------------------------------------------------------------------ LS-08


def test_a_newer_panel_withdraws_the_reminder_for_the_earlier_one(
        client: Client, stub: review_pb2_grpc.ReviewServiceStub) -> None:
    area = unique("SA")
    sweep = client.actions.RunEscalations
    save(stub, review(unique("SPR"), area, 1, periodStart="2025-10-01", periodEnd="2026-03-31",
                      panelOn="2026-04-21"))
    sweep(action_pb2.RunEscalationsRequest(as_of="2026-10-22"))
    (reminder,) = area_actions(client, area, K.ACTION_KIND_SERVICE_REVIEW_DUE)
    assert (reminder.status, reminder.due_on) == (K.ACTION_STATUS_OPEN, "2026-10-21")
    # The next panel is held (another review): the reminder for the earlier panel goes.
    later = unique("SPR")
    save(stub, review(later, area, 1, periodStart="2026-04-01", periodEnd="2026-09-30",
                      panelOn="2026-10-28"))
    (withdrawn,) = area_actions(client, area, K.ACTION_KIND_SERVICE_REVIEW_DUE)
    assert (withdrawn.action_id, withdrawn.status) == (reminder.action_id, K.ACTION_STATUS_WITHDRAWN)
    assert "2026-10-28" in withdrawn.withdrawn_reason and later in withdrawn.withdrawn_reason
    sweep(action_pb2.RunEscalationsRequest(as_of="2027-04-28"))  # six months on, not more
    assert [a.action_id for a in area_actions(client, area, K.ACTION_KIND_SERVICE_REVIEW_DUE)] == [
        reminder.action_id]
    # Six months after the new panel, its own reminder.
    sweep(action_pb2.RunEscalationsRequest(as_of="2027-04-29"))
    (fresh,) = [a for a in area_actions(client, area, K.ACTION_KIND_SERVICE_REVIEW_DUE)
                if a.status == K.ACTION_STATUS_OPEN]
    assert fresh.action_id != reminder.action_id and fresh.due_on == "2027-04-28"
    # A revision of that review (the same panel) and a review with an earlier panel
    # leave the reminder for the latest panel open.
    save(stub, review(later, area, 2, periodStart="2026-04-01", periodEnd="2026-09-30",
                      panelOn="2026-10-28", panelInput="revised"))
    save(stub, review(unique("SPR"), area, 1, periodStart="2025-04-01", periodEnd="2025-09-30",
                      panelOn="2025-10-20"))
    (still,) = [a for a in area_actions(client, area, K.ACTION_KIND_SERVICE_REVIEW_DUE)
                if a.status == K.ACTION_STATUS_OPEN]
    assert still.action_id == fresh.action_id


def test_a_completed_reminder_does_not_stop_the_next_panels_reminder(
        client: Client, stub: review_pb2_grpc.ReviewServiceStub) -> None:
    area = unique("SA")
    sweep = client.actions.RunEscalations
    save(stub, review(unique("SPR"), area, 1, periodStart="2025-10-01", periodEnd="2026-03-31",
                      panelOn="2026-04-20"))
    sweep(action_pb2.RunEscalationsRequest(as_of="2026-10-21"))
    (reminder,) = area_actions(client, area, K.ACTION_KIND_SERVICE_REVIEW_DUE)
    client.actions.CompleteAction(action_pb2.CompleteActionRequest(
        action_id=reminder.action_id, completed_by="hos-1", completed_on="2026-10-21"))
    save(stub, review(unique("SPR"), area, 1, periodStart="2026-04-01", periodEnd="2026-09-30",
                      panelOn="2026-10-27"))
    sweep(action_pb2.RunEscalationsRequest(as_of="2027-04-28"))
    reminders = area_actions(client, area, K.ACTION_KIND_SERVICE_REVIEW_DUE)
    assert sorted((a.status, a.due_on) for a in reminders) == [
        (K.ACTION_STATUS_OPEN, "2027-04-27"), (K.ACTION_STATUS_COMPLETED, "2026-10-20")]
