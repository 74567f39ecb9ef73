"""The gRPC contract: buf lint passes and the example requests parse strictly."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import json_format

from server.inputs import REQUESTS
from tests.conftest import EXAMPLES, ROOT

BUF = ROOT / "node_modules" / ".bin" / "buf"


@pytest.mark.skipif(not BUF.exists() and not shutil.which("buf"), reason="run `make node` for buf")
def test_buf_lint_passes() -> None:
    buf = str(BUF) if BUF.exists() else "buf"
    result = subprocess.run([buf, "lint", "proto"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_examples_parse_strictly_as_requests(example: str) -> None:
    body = json.loads((EXAMPLES / example).read_text())
    (kind,) = body
    message = json_format.ParseDict(body, REQUESTS[kind]())  # strict: unknown fields fail
    again = json_format.Parse(json_format.MessageToJson(message), REQUESTS[kind]())
    assert again == message and message.ByteSize() > 0


def test_every_service_is_in_the_contract() -> None:
    from lenses.v1 import (
        action_pb2,
        audit_pb2,
        diagnostics_pb2,
        provider_pb2,
        review_pb2,
        rules_pb2,
    )

    services = {
        name for module in (action_pb2, audit_pb2, provider_pb2, review_pb2, rules_pb2,
                            diagnostics_pb2)
        for name in module.DESCRIPTOR.services_by_name
    }
    assert services == {"ActionService", "AuditService", "ProviderService", "ReviewService",
                        "RulesService", "DiagnosticsService"}
    audit = audit_pb2.DESCRIPTOR.services_by_name["AuditService"]
    assert set(audit.methods_by_name) == {"SubmitAudit", "EvaluateAudit", "GetAudit",
                                          "ModerateAudit", "RecordPlanRating"}


def test_proto_sources_exist() -> None:
    assert sorted(p.name for p in (ROOT / "proto" / "lenses" / "v1").glob("*.proto"))
    assert Path(ROOT / "proto" / "buf.yaml").exists()
