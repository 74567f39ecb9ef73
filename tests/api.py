"""Helpers for tests that talk to a real server: stubs and request builders."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from google.protobuf import json_format

from lenses.v1 import (
    action_pb2,
    action_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    common_pb2,
    provider_pb2_grpc,
    review_pb2_grpc,
    rules_pb2,
    rules_pb2_grpc,
)
from tests.conftest import EXAMPLES

GOOD = json.loads((EXAMPLES / "audit-good.json").read_text())["audit"]


class Client:
    """Stubs for every service on one channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.audits = audit_pb2_grpc.AuditServiceStub(channel)
        self.actions = action_pb2_grpc.ActionServiceStub(channel)
        self.providers = provider_pb2_grpc.ProviderServiceStub(channel)
        self.reviews = review_pb2_grpc.ReviewServiceStub(channel)
        self.rules = rules_pb2_grpc.RulesServiceStub(channel)


def unique(prefix: str) -> str:
    """An id no other test uses (tests share one server)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def audit(areas_below: tuple[str, ...] = (), overall: str = "MEETS_GOOD",
          **fields: Any) -> audit_pb2.CaseFileAudit:
    """A completed audit like the good example; ``areas_below`` do not meet good."""
    body = copy.deepcopy(GOOD)
    body.update(auditId=unique("AUD"), caseRef=unique("C"), serviceArea=unique("SA"))
    body["overallGrade"] = f"GRADE_{overall}"
    for area in body["areas"]:
        if area["area"].removeprefix("AREA_") in areas_below:
            area["grade"] = "GRADE_DOES_NOT_MEET_GOOD"
    body.update(fields)
    return json_format.ParseDict(body, audit_pb2.CaseFileAudit())


def submit(client: Client, message: audit_pb2.CaseFileAudit) -> audit_pb2.AuditEvaluation:
    return client.audits.SubmitAudit(audit_pb2.SubmitAuditRequest(audit=message), timeout=30)


def revise(message: audit_pb2.CaseFileAudit, **changes: Any) -> audit_pb2.CaseFileAudit:
    """The next revision of an audit with some fields changed (camelCase JSON names)."""
    body = json_format.MessageToDict(message)
    body["revision"] = str(int(body["revision"]) + 1)
    body.update(changes)
    return json_format.ParseDict(body, audit_pb2.CaseFileAudit())


def error_code(call: Any) -> grpc.StatusCode:
    """The status code of a call expected to fail."""
    try:
        call()
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]
    raise AssertionError("the call succeeded")


def race(server: Any, *calls: Callable[[Client], Any]) -> list[Any]:
    """Run each call at the same moment, each on its own connection (so, with several
    workers, possibly in different processes); the result or the RpcError of each,
    in order."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[Client], Any]) -> Any:
        with server.channel() as channel:
            client = Client(channel)
            client.rules.GetRuleset(rules_pb2.GetRulesetRequest())  # connected before the start
            start.wait(timeout=30)
            try:
                return call(client)
            except grpc.RpcError as error:
                return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def watched(client: Client, watch: common_pb2.ActionFilter, after: int = 0,
            expect: int = 0) -> list[common_pb2.ActionEvent]:
    """The events a WatchActions stream delivers from ``after``: the first ``expect`` of
    them however long they take (up to 30 s), then any more that come within 2 s (the
    stream itself never ends: "no more" can only mean "none within 2 s")."""
    events = _watch(client, watch, after, 30, expect) if expect else []
    return events + _watch(client, watch, events[-1].sequence if events else after, 2)


def _watch(client: Client, watch: common_pb2.ActionFilter, after: int, timeout: float,
           enough: int | None = None) -> list[common_pb2.ActionEvent]:
    """The events a WatchActions stream delivers from ``after`` until ``enough`` of them
    have come, or for ``timeout`` s."""
    stream = client.actions.WatchActions(
        action_pb2.WatchActionsRequest(after_sequence=after, filter=watch), timeout=timeout)
    events = []
    try:
        for event in stream:
            events.append(event)
            if len(events) == enough:
                stream.cancel()
                break
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    return events
