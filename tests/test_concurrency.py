"""Many clients saving interleaved revisions of the same audits: each audit ends
at its highest revision, with exactly one corrective action."""

from __future__ import annotations

import random
import threading

import grpc
from google.protobuf import json_format

from lenses.v1 import action_pb2, audit_pb2, common_pb2
from tests.api import Client, audit, submit

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
