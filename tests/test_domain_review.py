"""A review of domain.md and api.md semantics (who owns an action, what it says),
through real gRPC calls (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from lenses.v1 import action_pb2, audit_pb2, common_pb2
from tests.api import Client, audit, revise, submit, unique, watched


def corrective(evaluation: audit_pb2.AuditEvaluation) -> list[common_pb2.Action]:
    return [a for a in evaluation.actions if a.kind == common_pb2.ACTION_KIND_CORRECTIVE_ACTION]


def test_a_corrective_action_follows_the_audits_service_manager_team_and_completion(
        client: Client) -> None:
    """domain.md: an action names "where known, a person id (owner_id), e.g. the audit's
    service_manager_id"; ES-01: one per audit, its due date follows the completion
    date. A later revision that names another service manager (or team) moves the one
    open corrective action to them, and what it says follows the completion date."""
    first = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15",
                  serviceManagerId="sm-before", team="Team before")
    (created,) = corrective(submit(client, first))
    later = revise(first, serviceManagerId="sm-after", team="Team after", completedOn="2026-02-03")
    (kept,) = corrective(submit(client, later))
    assert kept.action_id == created.action_id and kept.due_on == "2026-03-31"
    assert kept.owner_role == common_pb2.OWNER_ROLE_SERVICE_MANAGER
    assert (kept.owner_id, kept.team) == ("sm-after", "Team after")
    assert "2026-02-03" in kept.detail and "2026-01-15" not in kept.detail
    stored = client.actions.GetAction(action_pb2.GetActionRequest(action_id=created.action_id))
    assert stored == kept

    def owned_by(owner_id: str) -> list[str]:
        return [a.action_id for a in client.actions.ListActions(action_pb2.ListActionsRequest(
            filter=common_pb2.ActionFilter(owner_id=owner_id, audit_id=first.audit_id))).actions]

    assert owned_by("sm-after") == [created.action_id] and owned_by("sm-before") == []


def test_a_watch_on_the_first_service_manager_keeps_the_events_it_got(client: Client) -> None:
    """api.md: a client that reconnects "misses nothing and sees nothing twice". Now
    that a corrective action can move to another service manager, a watch filtered
    by owner (or team) still gets, on reconnecting, the events it got while the
    action was that owner's; the new owner's watch gets the move and what follows."""
    first = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15",
                  serviceManagerId=unique("sm"), team=unique("team"))
    (created,) = corrective(submit(client, first))

    def owner(owner_id: str) -> common_pb2.ActionFilter:
        return common_pb2.ActionFilter(audit_id=first.audit_id, owner_id=owner_id)

    before = [e.sequence for e in watched(client, owner(first.service_manager_id), expect=1)]
    assert len(before) == 1  # its CREATED event, while the action is the first manager's
    submit(client, revise(first, serviceManagerId="sm-after", team="Team after"))
    assert [e.sequence for e in watched(client, owner(first.service_manager_id), expect=1)] == before
    team = common_pb2.ActionFilter(audit_id=first.audit_id, team=first.team)
    assert [e.sequence for e in watched(client, team, expect=1)] == before
    (moved,) = watched(client, owner("sm-after"), expect=1)
    assert moved.type == common_pb2.ACTION_EVENT_TYPE_UPDATED
    assert moved.action.action_id == created.action_id and moved.action.team == "Team after"


def test_a_dry_run_shows_the_corrective_action_as_the_save_would_leave_it(client: Client) -> None:
    """EvaluateAudit returns what SubmitAudit would: the open corrective action it would
    keep, with the new service manager and due date, and nothing stored changes."""
    first = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    (created,) = corrective(submit(client, first))
    later = revise(first, serviceManagerId="sm-after", completedOn="2026-02-03")
    (shown,) = corrective(client.audits.EvaluateAudit(audit_pb2.EvaluateAuditRequest(audit=later)))
    stored = client.actions.GetAction(action_pb2.GetActionRequest(action_id=created.action_id))
    assert stored == created  # the dry run wrote nothing
    (saved,) = corrective(submit(client, later))
    assert shown == saved and (shown.owner_id, shown.due_on) == ("sm-after", "2026-03-31")
