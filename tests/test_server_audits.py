"""AuditService, ActionService and RulesService through real gRPC calls
on a loopback port, against a real database (SQLite, and PostgreSQL in CI)."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from sqlalchemy import create_engine, text

from lenses.v1 import action_pb2, audit_pb2, common_pb2, rules_pb2
from tests.api import Client, audit, error_code, revise, submit, unique, watched


def corrective(evaluation: audit_pb2.AuditEvaluation) -> list[common_pb2.Action]:
    return [a for a in evaluation.actions if a.kind == common_pb2.ACTION_KIND_CORRECTIVE_ACTION]


def test_health_is_serving_and_reflection_lists_services(server) -> None:  # type: ignore[no-untyped-def]
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with server.channel() as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        response = next(stub.ServerReflectionInfo(iter([
            reflection_pb2.ServerReflectionRequest(list_services="")])))
        names = {s.name for s in response.list_services_response.service}
        assert {"lenses.v1.AuditService", "lenses.v1.ActionService", "lenses.v1.RulesService",
                "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize(("completed_on", "due_on"), [("2026-01-15", "2026-02-28"),
                                                       ("2028-01-10", "2028-02-29")])
def test_below_good_gets_a_corrective_action_for_the_service_manager(
        client: Client, completed_on: str, due_on: str) -> None:
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn=completed_on,
                    lookbackFrom=completed_on)
    evaluation = submit(client, message)
    (action,) = corrective(evaluation)
    assert action.owner_role == common_pb2.OWNER_ROLE_SERVICE_MANAGER
    assert action.owner_id == message.service_manager_id
    assert action.due_on == due_on and action.action_id
    assert action.rule_id == "ES-01" and action.ruleset_version == evaluation.ruleset_version
    assert action.status == common_pb2.ACTION_STATUS_OPEN


def test_a_later_good_revision_withdraws_and_a_repeat_returns_the_same_ids(client: Client) -> None:
    first = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    created = corrective(submit(client, first))
    again = corrective(submit(client, first))
    assert [a.action_id for a in again] == [a.action_id for a in created]
    lifted = submit(client, revise(first, overallGrade="GRADE_MEETS_GOOD"))
    (withdrawn,) = corrective(lifted)
    assert withdrawn.action_id == created[0].action_id
    assert withdrawn.status == common_pb2.ACTION_STATUS_WITHDRAWN and withdrawn.withdrawn_reason


def test_a_revision_with_its_grade_cleared_keeps_the_corrective_action(client: Client) -> None:
    # ES-01 withdraws only when the grade is lifted to at least good; clearing it
    # (a completed save GC-01 blocks) must not silently drop the corrective action.
    first = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    (created,) = corrective(submit(client, first))
    cleared = revise(first, overallGrade="GRADE_UNSPECIFIED")
    evaluation = submit(client, cleared)
    assert "GC-01" in {f.rule_id for f in evaluation.findings}
    (kept,) = corrective(evaluation)
    assert kept.action_id == created.action_id and kept.status == common_pb2.ACTION_STATUS_OPEN
    (withdrawn,) = corrective(submit(client, revise(cleared, overallGrade="GRADE_MEETS_GOOD")))
    assert withdrawn.status == common_pb2.ACTION_STATUS_WITHDRAWN


def test_completion_date_change_moves_the_due_date(client: Client) -> None:
    first = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    (created,) = corrective(submit(client, first))
    (moved,) = corrective(submit(client, revise(first, completedOn="2026-02-03")))
    assert moved.action_id == created.action_id and moved.due_on == "2026-03-31"


def test_stale_and_conflicting_revisions_are_refused(client: Client) -> None:
    first = audit()
    submit(client, first)
    second = revise(first)
    third = revise(second)
    submit(client, third)
    assert error_code(lambda: submit(client, second)) == grpc.StatusCode.FAILED_PRECONDITION
    # A retry of a stored revision is not a new save: it gets its evaluation back.
    assert submit(client, first).revision == first.revision
    different = revise(second, feedbackDiscussed=False)  # revision 3 again, other content
    assert error_code(lambda: submit(client, different)) == grpc.StatusCode.ALREADY_EXISTS


def test_three_cases_with_plans_below_good_open_one_deep_dive(client: Client) -> None:
    area = unique("SA")
    dates = ["2026-01-10", "2026-02-20", "2026-03-31"]
    results = [submit(client, audit(("PLANS",), serviceArea=area, completedOn=d)) for d in dates]
    dives = [a for a in results[-1].actions if a.kind == common_pb2.ACTION_KIND_DEEP_DIVE_AUDIT]
    assert len(dives) == 1 and dives[0].due_on == "2026-05-30"
    assert dives[0].owner_role == common_pb2.OWNER_ROLE_HEAD_OF_SAFEGUARDING
    assert not any(a.kind == common_pb2.ACTION_KIND_DEEP_DIVE_AUDIT for r in results[:2] for a in r.actions)
    fourth = submit(client, audit(("PLANS",), serviceArea=area, completedOn="2026-04-02"))
    assert not any(a.kind == common_pb2.ACTION_KIND_DEEP_DIVE_AUDIT for a in fourth.actions)
    listed = client.actions.ListActions(action_pb2.ListActionsRequest(filter=common_pb2.ActionFilter(
        service_area=area, kinds=[common_pb2.ACTION_KIND_DEEP_DIVE_AUDIT])))
    assert len(listed.actions) == 1


def test_sweep_escalates_an_overdue_corrective_action_once(client: Client) -> None:
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    (action,) = corrective(submit(client, message))
    before = client.actions.RunEscalations(action_pb2.RunEscalationsRequest(as_of="2026-02-28"))
    assert action.action_id not in {a.escalated_from for a in before.created}
    escalations = []
    for _ in range(3):
        response = client.actions.RunEscalations(action_pb2.RunEscalationsRequest(as_of="2026-03-02"))
        escalations += [a for a in response.created if a.escalated_from == action.action_id]
    assert len(escalations) == 1
    (escalation,) = escalations
    assert escalation.kind == common_pb2.ACTION_KIND_CORRECTIVE_ACTION_ESCALATION
    assert escalation.owner_role == common_pb2.OWNER_ROLE_HEAD_OF_SERVICE
    assert escalation.due_on == "2026-03-09"


def test_an_auditor_far_from_colleagues_gets_gc18_and_a_moderation_review(client: Client) -> None:
    area = unique("SA")
    for i in range(10):  # colleagues: all good
        submit(client, audit(serviceArea=area, auditorId=f"colleague-{i % 3}", completedOn="2026-03-01"))
    auditor = unique("harsh")
    for _ in range(4):  # the auditor: all below good
        submit(client, audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                             auditorId=auditor, completedOn="2026-03-02"))
    fifth = submit(client, audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                                 auditorId=auditor, completedOn="2026-03-03"))
    assert "GC-18" in {f.rule_id for f in fifth.findings}
    reviews = client.actions.ListActions(action_pb2.ListActionsRequest(filter=common_pb2.ActionFilter(
        kinds=[common_pb2.ACTION_KIND_MODERATION_REVIEW], service_area=area)))
    assert [(a.subject_id, a.owner_role) for a in reviews.actions] == [
        (auditor, common_pb2.OWNER_ROLE_HEAD_OF_SAFEGUARDING)]
    # While that review is open, the auditor's next audit does not raise GC-18 again.
    sixth = submit(client, audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                                 auditorId=auditor, completedOn="2026-03-04"))
    assert "GC-18" not in {f.rule_id for f in sixth.findings}


def test_a_dry_run_stores_nothing(client: Client) -> None:
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    evaluation = client.audits.EvaluateAudit(audit_pb2.EvaluateAuditRequest(audit=message))
    (proposed,) = corrective(evaluation)
    assert proposed.action_id == "" and proposed.due_on == "2026-02-28"
    assert error_code(lambda: client.audits.GetAudit(
        audit_pb2.GetAuditRequest(audit_id=message.audit_id))) == grpc.StatusCode.NOT_FOUND
    listed = client.actions.ListActions(action_pb2.ListActionsRequest(
        filter=common_pb2.ActionFilter(audit_id=message.audit_id)))
    assert list(listed.actions) == []


def test_a_dry_run_shows_a_new_action_overdue_as_a_save_would(client: Client) -> None:
    """api.md: ``overdue`` is as of the request's ``as_of``, else today; a dry run
    has no ``as_of``, so an action it proposes that is already past due is overdue."""
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    (proposed,) = corrective(client.audits.EvaluateAudit(audit_pb2.EvaluateAuditRequest(audit=message)))
    assert proposed.due_on == "2026-02-28" and proposed.overdue
    (saved,) = corrective(submit(client, message))
    assert saved.overdue == proposed.overdue


def test_a_dry_run_shows_the_open_actions_a_save_would_keep_as_stored(client: Client) -> None:
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    (stored,) = corrective(submit(client, message))
    assert stored.overdue  # due 2026-02-28: overdue as of today (api.md: else today)
    evaluation = client.audits.EvaluateAudit(audit_pb2.EvaluateAuditRequest(audit=revise(message)))
    (shown,) = corrective(evaluation)
    assert shown == stored


def test_a_dry_run_does_not_propose_a_corrective_action_already_completed(client: Client) -> None:
    """ES-01 raises one corrective action per audit: once it is completed, a later
    revision still below good creates none, and its dry run proposes none."""
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    (action,) = corrective(submit(client, message))
    client.actions.CompleteAction(action_pb2.CompleteActionRequest(
        action_id=action.action_id, completed_by="sm-1", completed_on="2026-02-01"))
    later = revise(message)
    assert corrective(client.audits.EvaluateAudit(audit_pb2.EvaluateAuditRequest(audit=later))) == []
    (kept,) = corrective(submit(client, later))  # the completed one, nothing new
    assert kept.action_id == action.action_id and kept.status == common_pb2.ACTION_STATUS_COMPLETED


def test_drafts_get_findings_but_no_escalation(client: Client) -> None:
    draft = audit(("PLANS", "RISK", "REVIEWS"), status="AUDIT_STATUS_DRAFT", overall="MEETS_GOOD")
    evaluation = submit(client, draft)
    assert {"GC-06", "GC-07"} <= {f.rule_id for f in evaluation.findings}
    assert list(evaluation.actions) == []


def test_get_audit_and_moderation(client: Client) -> None:
    message = audit(("PLANS",), overall="MEETS_GOOD", completedOn="2026-01-15")
    submit(client, message)
    stored = client.audits.GetAudit(audit_pb2.GetAuditRequest(audit_id=message.audit_id))
    assert stored.audit.revision == message.revision and stored.evaluation.audit_id == message.audit_id
    assert stored.audit.areas[0].evidence != message.areas[0].evidence  # narrative not kept
    moderated = client.audits.ModerateAudit(audit_pb2.ModerateAuditRequest(
        audit_id=message.audit_id, moderator_id="psw-1",
        moderated_grade=common_pb2.GRADE_DOES_NOT_MEET_GOOD, note="inconsistent"))
    assert moderated.effective_grade == common_pb2.GRADE_DOES_NOT_MEET_GOOD
    assert "MO-01" in {f.rule_id for f in moderated.findings}
    assert len(corrective(moderated)) == 1


def test_the_decision_log_records_who_moderated(server, client: Client) -> None:  # type: ignore[no-untyped-def]
    """The calling system is the client; the person whose judgement changed the grade
    is the moderator, kept with the moderation's evaluation."""
    message = audit(("PLANS",), overall="MEETS_GOOD", completedOn="2026-01-15")
    submit(client, message)
    client.audits.ModerateAudit(audit_pb2.ModerateAuditRequest(
        audit_id=message.audit_id, moderator_id="psw-7",
        moderated_grade=common_pb2.GRADE_DOES_NOT_MEET_GOOD, note="inconsistent"))
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as connection:
            logged = connection.execute(text(
                "SELECT cause, moderator_id FROM evaluations WHERE audit_id = :a ORDER BY id"),
                {"a": message.audit_id}).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in logged] == [("submit", ""), ("moderate", "psw-7")]


def test_bad_input_lists_every_problem_and_stores_nothing(server, client: Client) -> None:  # type: ignore[no-untyped-def]
    message = audit(completedOn="2026-02-30")
    message.case_ref = ""
    message.areas[1].area = message.areas[0].area
    message.overall_grade = 99  # type: ignore[assignment]
    with pytest.raises(grpc.RpcError) as raised:
        submit(client, message)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(raised.value)
    assert status is not None
    detail = error_details_pb2.BadRequest()
    status.details[0].Unpack(detail)
    fields = {v.field for v in detail.field_violations}
    assert {"audit.case_ref", "audit.completed_on", "audit.areas[1].area", "audit.overall_grade"} <= fields
    assert error_code(lambda: client.audits.GetAudit(
        audit_pb2.GetAuditRequest(audit_id=message.audit_id))) == grpc.StatusCode.NOT_FOUND
    assert server.alive()
    assert client.rules.GetRuleset(rules_pb2.GetRulesetRequest()).version


def test_complete_action_rules(client: Client) -> None:
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    (action,) = corrective(submit(client, message))
    request = action_pb2.CompleteActionRequest(action_id=action.action_id, completed_by="sm-1",
                                               completed_on="2026-02-10")
    done = client.actions.CompleteAction(request)
    assert done.status == common_pb2.ACTION_STATUS_COMPLETED
    assert client.actions.CompleteAction(request) == done  # the same completion is a no-op
    other = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    (open_action,) = corrective(submit(client, other))
    submit(client, revise(other, overallGrade="GRADE_MEETS_GOOD"))
    withdrawn = action_pb2.CompleteActionRequest(action_id=open_action.action_id, completed_by="x",
                                                 completed_on="2026-02-10")
    assert error_code(lambda: client.actions.CompleteAction(withdrawn)) == grpc.StatusCode.FAILED_PRECONDITION
    assert error_code(lambda: client.actions.GetAction(
        action_pb2.GetActionRequest(action_id="nope"))) == grpc.StatusCode.NOT_FOUND


def test_list_actions_pages_neither_skip_nor_repeat_while_actions_are_added(client: Client) -> None:
    area = unique("SA")
    for day in range(1, 8):
        submit(client, audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                             completedOn=f"2026-01-{day:02d}"))
    seen: list[str] = []
    token = ""
    added = False
    while True:
        page = client.actions.ListActions(action_pb2.ListActionsRequest(
            filter=common_pb2.ActionFilter(service_area=area,
                                           kinds=[common_pb2.ACTION_KIND_CORRECTIVE_ACTION]),
            page_size=2, page_token=token, as_of="2026-03-01"))
        seen += [a.action_id for a in page.actions]
        assert all(a.overdue for a in page.actions)
        if not added:  # an action due before the cursor, added mid-listing
            submit(client, audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                                 completedOn="2025-12-01"))
            added = True
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) >= 7
    everything = client.actions.ListActions(action_pb2.ListActionsRequest(
        filter=common_pb2.ActionFilter(service_area=area), page_size=1000))
    dues = [(a.due_on, a.action_id) for a in everything.actions]
    assert dues == sorted(dues) and len(dues) == 9  # 8 corrective actions and 1 deep dive
    overdue = client.actions.ListActions(action_pb2.ListActionsRequest(
        filter=common_pb2.ActionFilter(service_area=area, overdue_only=True,
                                       kinds=[common_pb2.ACTION_KIND_CORRECTIVE_ACTION]),
        as_of="2026-02-01"))
    assert {a.due_on for a in overdue.actions} == {"2026-01-31"}


def test_get_ruleset_lists_every_rule(client: Client) -> None:
    ruleset = client.rules.GetRuleset(rules_pb2.GetRulesetRequest())
    assert len(ruleset.rules) == 35 and ruleset.params["shortcomings_threshold"] == 3


def test_lenses_sweep_command_escalates_once(server, client: Client) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess

    from tests.server_harness import LENSES

    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2025-06-10")
    (action,) = corrective(submit(client, message))
    env = {**os.environ, "LENSES_DATABASE_URL": server.database_url}
    outputs = [subprocess.run([str(LENSES), "sweep", "--as-of", "2025-08-01"], env=env, check=True,
                              capture_output=True, text=True, timeout=120).stdout for _ in range(2)]
    assert action.action_id not in outputs[0]  # it prints the new escalation's id, not this one
    assert "CORRECTIVE_ACTION_ESCALATION" in outputs[0] and "0 action(s) created" in outputs[1]
    listed = client.actions.ListActions(action_pb2.ListActionsRequest(filter=common_pb2.ActionFilter(
        audit_id=message.audit_id, kinds=[common_pb2.ACTION_KIND_CORRECTIVE_ACTION_ESCALATION])))
    assert [a.escalated_from for a in listed.actions] == [action.action_id]


def test_short_reads_report_errors_as_statuses_and_the_server_keeps_serving(
        server, client: Client) -> None:  # type: ignore[no-untyped-def]
    """EvaluateAudit, GetAudit and GetAction run on the server's event loop on SQLite
    (``Lenses.short_read``): their errors still become statuses, never a dead call."""
    message = audit(completedOn="2026-02-30")
    message.case_ref = ""
    with pytest.raises(grpc.RpcError) as raised:
        client.audits.EvaluateAudit(audit_pb2.EvaluateAuditRequest(audit=message))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(raised.value)
    assert status is not None
    detail = error_details_pb2.BadRequest()
    status.details[0].Unpack(detail)
    assert {"audit.case_ref", "audit.completed_on"} <= {v.field for v in detail.field_violations}
    assert error_code(lambda: client.audits.GetAudit(
        audit_pb2.GetAuditRequest(audit_id=""))) == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(lambda: client.actions.GetAction(
        action_pb2.GetActionRequest(action_id=unique("missing")))) == grpc.StatusCode.NOT_FOUND
    assert server.alive()
    good = audit(completedOn="2026-01-15")
    assert client.audits.EvaluateAudit(audit_pb2.EvaluateAuditRequest(audit=good)).audit_id == good.audit_id


def test_watch_filters_each_event_on_its_action_as_the_event_left_it(client: Client) -> None:
    """A client that reconnects gets what a connected one got, whatever happened to
    the actions since: a filter on status or due date applies to each event's action
    as that event left it, not as the action is now."""
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    (action,) = corrective(submit(client, message))
    open_only = common_pb2.ActionFilter(audit_id=message.audit_id,
                                        statuses=[common_pb2.ACTION_STATUS_OPEN])
    (created,) = watched(client, open_only, expect=1)  # connected while it is open
    assert created.type == common_pb2.ACTION_EVENT_TYPE_CREATED and created.action.overdue
    client.actions.CompleteAction(action_pb2.CompleteActionRequest(
        action_id=action.action_id, completed_by="sm-1", completed_on="2026-02-01"))
    # Reconnecting from the start: the same CREATED event (the action is completed now).
    assert [e.sequence for e in watched(client, open_only, expect=1)] == [created.sequence]
    completed_only = common_pb2.ActionFilter(audit_id=message.audit_id,
                                             statuses=[common_pb2.ACTION_STATUS_COMPLETED])
    (completion,) = watched(client, completed_only, expect=1)
    assert completion.type == common_pb2.ACTION_EVENT_TYPE_COMPLETED
    overdue = common_pb2.ActionFilter(audit_id=message.audit_id, overdue_only=True)
    assert [e.sequence for e in watched(client, overdue, expect=1)] == [created.sequence]
    assert watched(client, open_only, completion.sequence) == []
