"""Random and mutated requests at the gRPC edge: only OK or the documented
error codes, never INTERNAL (or UNKNOWN), and the server keeps serving."""

from __future__ import annotations

import os

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lenses.v1 import action_pb2, audit_pb2, common_pb2
from tests.api import Client, audit

EXAMPLES = int(os.environ.get("LENSES_FUZZ_EXAMPLES", "300"))
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
           grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.NOT_FOUND}
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

texts = st.one_of(st.just(""), st.text(max_size=40), st.text(min_size=120, max_size=140),
                  st.just("x" * 20_001), st.just("nul\x00inside"))
dates = st.one_of(st.just(""), st.dates().map(str), st.text(max_size=12),
                  st.sampled_from(["2026-02-30", "2026-1-5", "20260105", "2026-13-01"]))
enums = st.integers(min_value=-3, max_value=20)


@st.composite
def random_audits(draw: st.DrawFn) -> audit_pb2.CaseFileAudit:
    message = audit()
    message.audit_id = draw(st.one_of(st.just(message.audit_id), texts))
    message.revision = draw(st.integers(min_value=-(2**63), max_value=2**63 - 1))
    message.status = draw(enums)  # type: ignore[assignment]
    message.case_ref = draw(texts)
    message.completed_on = draw(dates)
    message.lookback_from = draw(dates)
    message.overall_grade = draw(enums)  # type: ignore[assignment]
    message.strand = draw(enums)  # type: ignore[assignment]
    for area in message.areas:
        if draw(st.booleans()):
            area.area = draw(enums)  # type: ignore[assignment]
            area.grade = draw(enums)  # type: ignore[assignment]
            area.evidence = draw(texts)
            area.risk_types.extend(draw(st.lists(enums, max_size=2)))
    if draw(st.booleans()):
        del message.areas[draw(st.integers(0, len(message.areas) - 1))]
    for action in message.agreed_actions:
        action.by_when = draw(dates)
        action.by_whom = draw(texts)
    return message



def _code(call: object) -> grpc.StatusCode:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@FUZZ
@given(message=random_audits(), dry_run=st.booleans())
def test_random_audits(client: Client, message: audit_pb2.CaseFileAudit, dry_run: bool) -> None:
    rpc = client.audits.EvaluateAudit if dry_run else client.audits.SubmitAudit
    request_type = audit_pb2.EvaluateAuditRequest if dry_run else audit_pb2.SubmitAuditRequest
    assert _code(lambda: rpc(request_type(audit=message), timeout=30)) in ALLOWED


@FUZZ
@given(data=st.data())
def test_mutated_bytes(client: Client, data: st.DataObject) -> None:
    payload = bytearray(audit_pb2.SubmitAuditRequest(audit=audit()).SerializeToString())
    for _ in range(data.draw(st.integers(1, 8))):
        payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        payload = payload[: data.draw(st.integers(0, len(payload)))]
    call = client.channel.unary_unary("/lenses.v1.AuditService/SubmitAudit",
                                      request_serializer=bytes, response_deserializer=bytes)
    assert _code(lambda: call(bytes(payload), timeout=30)) in ALLOWED


@FUZZ
@given(kinds=st.lists(enums, max_size=3), statuses=st.lists(enums, max_size=3), token=texts,
       size=st.integers(-5, 5000), as_of=dates, role=enums, due_before=dates)
def test_random_action_queries(client: Client, kinds: list[int], statuses: list[int], token: str,
                               size: int, as_of: str, role: int, due_before: str) -> None:
    request = action_pb2.ListActionsRequest(
        filter=common_pb2.ActionFilter(kinds=kinds, statuses=statuses, owner_role=role,  # type: ignore[arg-type]
                                       due_before=due_before),
        page_token=token, page_size=size, as_of=as_of)
    assert _code(lambda: client.actions.ListActions(request, timeout=30)) in ALLOWED


@FUZZ
@given(action_id=texts, by=texts, on=dates, outcome=texts, grade=enums, audit_id=texts)
def test_random_writes_on_actions_and_moderation(client: Client, action_id: str, by: str, on: str,
                                                  outcome: str, grade: int, audit_id: str) -> None:
    complete = action_pb2.CompleteActionRequest(action_id=action_id, completed_by=by,
                                                completed_on=on, outcome=outcome)
    moderate = audit_pb2.ModerateAuditRequest(audit_id=audit_id, moderator_id=by,
                                              moderated_grade=grade, note=outcome)  # type: ignore[arg-type]
    assert _code(lambda: client.actions.CompleteAction(complete, timeout=30)) in ALLOWED
    assert _code(lambda: client.audits.ModerateAudit(moderate, timeout=30)) in ALLOWED
    assert _code(lambda: client.actions.RunEscalations(
        action_pb2.RunEscalationsRequest(as_of=on), timeout=30)) in ALLOWED


def test_server_is_healthy_after_fuzzing(server, client: Client) -> None:  # type: ignore[no-untyped-def]
    health = health_pb2_grpc.HealthStub(client.channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    assert server.alive()
