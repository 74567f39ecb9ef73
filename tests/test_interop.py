"""Interop: a Node client (@grpc/grpc-js + @grpc/proto-loader, loading proto/
directly) submits the below-good example audit to a real server; the Python
stubs then read the stored audit back."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from lenses.v1 import audit_pb2, common_pb2
from tests.api import Client, unique
from tests.conftest import EXAMPLES, ROOT

SCRIPT = ROOT / "tests" / "interop" / "submit_audit.js"
REQUEST = EXAMPLES / "audit-below-good.json"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not on PATH"),
    pytest.mark.skipif(not (ROOT / "node_modules" / "@grpc" / "grpc-js").is_dir(),
                       reason="node_modules/@grpc/grpc-js is missing (run `npm ci`)"),
]


def submit_with_node(address: str, audit_id: str) -> dict[str, Any]:
    assert NODE is not None
    result = subprocess.run([NODE, str(SCRIPT), address, str(REQUEST), audit_id],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"node client failed ({result.returncode}): {result.stderr}"
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line, got: {result.stdout!r}"
    return json.loads(lines[0])  # type: ignore[no-any-return]


def test_node_client_submits_the_below_good_example(server) -> None:  # type: ignore[no-untyped-def]
    audit_id = unique("AUD-NODE")
    evaluation = submit_with_node(server.address, audit_id)

    assert evaluation["auditId"] == audit_id
    assert evaluation["revision"] == "1"
    messages = {f["ruleId"]: f["message"] for f in evaluation["findings"]}
    assert {"GC-06", "GC-03"} <= set(messages), evaluation["findings"]
    assert messages["GC-06"].strip() and messages["GC-03"].strip()
    gc03 = [f for f in evaluation["findings"] if f["ruleId"] == "GC-03"]
    assert any(f["area"] == "AREA_PLACEMENT" for f in gc03), gc03  # its impact is empty

    # The same audit, read back through the Python stubs.
    with server.channel() as channel:
        stored = Client(channel).audits.GetAudit(audit_pb2.GetAuditRequest(audit_id=audit_id),
                                                 timeout=30)
    example = json.loads(REQUEST.read_text())["audit"]
    assert stored.audit.audit_id == audit_id
    assert stored.audit.revision == 1
    assert stored.audit.case_ref == example["caseRef"]
    assert stored.audit.status == common_pb2.AUDIT_STATUS_COMPLETED
    assert stored.audit.overall_grade == common_pb2.GRADE_MEETS_GOOD
    assert len(stored.audit.areas) == len(example["areas"])
    assert stored.evaluation.audit_id == audit_id
    assert stored.evaluation.ruleset_version == evaluation["rulesetVersion"]
    assert sorted(f.rule_id for f in stored.evaluation.findings) == \
        sorted(f["ruleId"] for f in evaluation["findings"])


def test_node_client_records_an_inspection_and_reads_the_stream(server) -> None:  # type: ignore[no-untyped-def]
    assert NODE is not None
    provider_id = unique("SC-NODE")
    script = ROOT / "tests" / "interop" / "inspection_stream.js"
    result = subprocess.run([NODE, str(script), server.address, str(EXAMPLES / "inspection-inadequate.json"),
                             provider_id], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    kinds = sorted(a["kind"] for a in output["response"]["actions"])
    assert kinds == ["ACTION_KIND_PLACEMENT_DECISION", "ACTION_KIND_PLACEMENT_REVIEW_VISIT",
                     "ACTION_KIND_PROVIDER_ACTION_PLAN"]
    streamed = sorted(e["action"]["actionId"] for e in output["events"])
    assert streamed == sorted(a["actionId"] for a in output["response"]["actions"])
    sequences = [int(e["sequence"]) for e in output["events"]]
    assert sequences == sorted(sequences)
