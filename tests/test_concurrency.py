"""Many clients saving interleaved revisions of the same audits: each audit ends
at its highest revision, with exactly one corrective action."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import json_format

from lenses.v1 import action_pb2, audit_pb2, common_pb2
from tests.api import Client, audit, race, revise, submit, unique, watched

CLIENTS, AUDITS, REVISIONS = 16, 20, 5


def _revisions() -> dict[str, list[audit_pb2.CaseFileAudit]]:
    audits = {}
    for _ in range(AUDITS):
        first = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
        body = json_format.MessageToDict(first)
        versions = []
        for revision in range(1, REVISIONS + 1):
            # Each revision moves the completion date, so the due date must follow the last.
            body.update(revision=str(revision), completedOn=f"2026-0{revision}-10")
            versions.append(json_format.ParseDict(body, audit_pb2.CaseFileAudit()))
        audits[first.audit_id] = versions
    return audits


def test_interleaved_saves_end_at_the_highest_revision(server) -> None:  # type: ignore[no-untyped-def]
    audits = _revisions()
    work = [v for versions in audits.values() for v in versions for _ in range(2)]
    random.Random(3).shuffle(work)
    errors: list[BaseException] = []
    codes: list[grpc.StatusCode] = []

    def client_loop(chunk: list[audit_pb2.CaseFileAudit]) -> None:
        with server.channel() as channel:
            client = Client(channel)
            for message in chunk:
                try:
                    submit(client, message)
                except grpc.RpcError as error:
                    codes.append(error.code())
                except BaseException as error:  # surfaced below
                    errors.append(error)

    threads = [threading.Thread(target=client_loop, args=(work[i::CLIENTS],)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    assert set(codes) <= {grpc.StatusCode.FAILED_PRECONDITION}  # stale saves only

    with server.channel() as channel:
        client = Client(channel)
        for audit_id, versions in audits.items():
            stored = client.audits.GetAudit(audit_pb2.GetAuditRequest(audit_id=audit_id))
            assert stored.audit.revision == REVISIONS
            listed = client.actions.ListActions(action_pb2.ListActionsRequest(filter=common_pb2.ActionFilter(
                audit_id=audit_id, kinds=[common_pb2.ACTION_KIND_CORRECTIVE_ACTION])))
            assert len(listed.actions) == 1, audit_id
            assert listed.actions[0].due_on == "2026-06-30"  # follows revision 5 (10 May)
            assert versions[-1].completed_on == "2026-05-10"


RACES = 12


def _corrective_action(client: Client) -> tuple[audit_pb2.CaseFileAudit, str]:
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    (action,) = [a for a in submit(client, message).actions
                 if a.kind == common_pb2.ACTION_KIND_CORRECTIVE_ACTION]
    return message, action.action_id


def _complete(action_id: str, by: str) -> Callable[[Client], Any]:
    return lambda client: client.actions.CompleteAction(action_pb2.CompleteActionRequest(
        action_id=action_id, completed_by=by, completed_on="2026-02-01"))


def test_two_racing_completions_of_one_action_change_it_once(server) -> None:  # type: ignore[no-untyped-def]
    with server.channel() as channel:
        client = Client(channel)
        for _ in range(RACES):
            _, action_id = _corrective_action(client)
            first, second = race(server, _complete(action_id, "alice"), _complete(action_id, "bob"))
            outcomes = sorted(type(r).__name__ if isinstance(r, grpc.RpcError) else r.completed_by
                              for r in (first, second))
            failed = [r for r in (first, second) if isinstance(r, grpc.RpcError)]
            assert len(failed) == 1, outcomes  # PostgreSQL once let both overwrite each other
            assert failed[0].code() == grpc.StatusCode.FAILED_PRECONDITION
            winner = next(r for r in (first, second) if not isinstance(r, grpc.RpcError))
            stored = client.actions.GetAction(action_pb2.GetActionRequest(action_id=action_id))
            assert stored.completed_by == winner.completed_by


def test_a_completion_racing_a_withdrawing_save_leaves_one_consistent_outcome(server) -> None:  # type: ignore[no-untyped-def]
    with server.channel() as channel:
        client = Client(channel)
        for _ in range(RACES):
            message, action_id = _corrective_action(client)
            good = revise(message, overallGrade="GRADE_MEETS_GOOD")
            for area in good.areas:
                area.grade = common_pb2.GRADE_MEETS_GOOD
            completion, save = race(server, _complete(action_id, "alice"),
                                     lambda c, saved=good: submit(c, saved))
            assert not isinstance(save, grpc.RpcError), save
            stored = client.actions.GetAction(action_pb2.GetActionRequest(action_id=action_id))
            (seen_by_save,) = [a for a in save.actions if a.action_id == action_id]
            if isinstance(completion, grpc.RpcError):  # the save withdrew it first
                assert completion.code() == grpc.StatusCode.FAILED_PRECONDITION
                assert stored.status == common_pb2.ACTION_STATUS_WITHDRAWN and not stored.completed_by
            else:  # completed first: the save leaves it completed
                assert stored.status == common_pb2.ACTION_STATUS_COMPLETED and not stored.withdrawn_reason
            assert seen_by_save == stored


def _kind_in(client: Client, kind: int, **where: str) -> list[common_pb2.Action]:
    return list(client.actions.ListActions(action_pb2.ListActionsRequest(
        filter=common_pb2.ActionFilter(kinds=[kind], **where), page_size=1000)).actions)


def test_saves_racing_in_one_service_area_each_see_the_other(server) -> None:  # type: ignore[no-untyped-def]
    """ES-03 counts the area's concerns in the window (three open a deep dive): with
    one stored, two more saved at once must still open it (whichever commits second
    sees three). On PostgreSQL neither saw the other before saves of one area took
    turns."""
    with server.channel() as channel:
        client = Client(channel)
        for _ in range(RACES):
            area = unique("SA")
            submit(client, audit(("PLANS",), completedOn="2026-03-01", serviceArea=area))
            first, second = (audit(("PLANS",), completedOn="2026-03-02", serviceArea=area)
                             for _ in range(2))
            results = race(server, lambda c, m=first: submit(c, m), lambda c, m=second: submit(c, m))
            assert not any(isinstance(r, grpc.RpcError) for r in results), results
            dives = _kind_in(client, common_pb2.ACTION_KIND_DEEP_DIVE_AUDIT, service_area=area)
            assert len(dives) == 1, area


def test_saves_racing_on_one_case_each_see_the_other(server) -> None:  # type: ignore[no-untyped-def]
    """GC-16: audits of one case two grade steps apart, saved at once: the one that
    commits second must see the other and ask for moderation."""
    with server.channel() as channel:
        client = Client(channel)
        for _ in range(RACES):
            case, area = unique("C"), unique("SA")
            # The same completion date: in either order, the second saved sees the first.
            earlier = audit(overall="EXCEEDS_GOOD", completedOn="2026-03-02", caseRef=case,
                            serviceArea=area)
            later = audit(("PLANS", "RISK", "REVIEWS"), overall="DOES_NOT_MEET_GOOD",
                          completedOn="2026-03-02", caseRef=case, serviceArea=area)
            results = race(server, lambda c, m=earlier: submit(c, m), lambda c, m=later: submit(c, m))
            assert not any(isinstance(r, grpc.RpcError) for r in results), results
            reviews = [a for a in _kind_in(client, common_pb2.ACTION_KIND_MODERATION_REVIEW,
                                           service_area=area) if a.rule_id == "GC-16"]
            assert len(reviews) == 1, case


def _sweep(as_of: str) -> Callable[[Client], Any]:
    return lambda client: client.actions.RunEscalations(action_pb2.RunEscalationsRequest(as_of=as_of))


def test_a_sweep_racing_a_completion_or_a_withdrawal_escalates_only_open_actions(server) -> None:  # type: ignore[no-untyped-def]
    """ES-02 escalates an overdue corrective action that is still open: never one a
    racing CompleteAction completed, and a racing save that withdraws it withdraws
    its escalation too."""
    with server.channel() as channel:
        client = Client(channel)
        for round_ in range(RACES):
            message, action_id = _corrective_action(client)  # due 2026-02-28
            if round_ % 2:
                good = revise(message, overallGrade="GRADE_MEETS_GOOD")
                for area in good.areas:
                    area.grade = common_pb2.GRADE_MEETS_GOOD
                race(server, _sweep("2026-03-10"), lambda c, saved=good: submit(c, saved))
            else:
                race(server, _sweep("2026-03-10"), _complete(action_id, "sm-1"))
            original = client.actions.GetAction(action_pb2.GetActionRequest(action_id=action_id))
            escalations = _kind_in(client, common_pb2.ACTION_KIND_CORRECTIVE_ACTION_ESCALATION,
                                   audit_id=message.audit_id)
            if original.status == common_pb2.ACTION_STATUS_WITHDRAWN:  # its escalation with it
                assert all(e.status == common_pb2.ACTION_STATUS_WITHDRAWN for e in escalations)
            elif original.status == common_pb2.ACTION_STATUS_COMPLETED and escalations:
                # Escalated while it was open: created before the completion, never after.
                events = watched(client, common_pb2.ActionFilter(audit_id=message.audit_id),
                                 expect=3)  # its CREATED, its escalation's CREATED, its COMPLETED
                order = {(e.action.action_id, e.type): e.sequence for e in events}
                (escalation,) = escalations
                assert order[(escalation.action_id, common_pb2.ACTION_EVENT_TYPE_CREATED)] < \
                    order[(action_id, common_pb2.ACTION_EVENT_TYPE_COMPLETED)]

