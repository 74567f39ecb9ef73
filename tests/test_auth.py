"""Authentication and roles through real gRPC calls: the whole role x RPC matrix,
unknown and missing tokens, open health and reflection, refusing to start
without tokens on a non-loopback address, and the client recorded with writes."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import create_engine, text

from lenses.v1 import action_pb2, audit_pb2, common_pb2
from tests.api import audit
from tests.server_harness import LENSES, fresh_database, running_server
from tests.test_contract import DESCRIPTORS

TOKENS = {
    "case-management": "cm-secret",
    "provider-monitoring": "pm-secret",
    "qa": "qa-secret",
    "reader": "reader-secret",
}
# operations.md: who may call what (Echo, the benchmark floor, is open to every client).
READS = {
    "GetAudit",
    "GetAction",
    "ListActions",
    "WatchActions",
    "GetProvider",
    "GetLensIndicators",
    "GetCompendium",
    "GetRuleset",
    "Echo",
}
PROVIDER_ACTIONS = {"ListActions", "GetAction", "CompleteAction", "WatchActions"}


def expected_allowed(role: str, service: str, method: str) -> bool:
    if role == "qa" or service == "DiagnosticsService":
        return True
    if role == "case-management":
        return service == "AuditService"
    if role == "provider-monitoring":
        return service == "ProviderService" or (service == "ActionService" and method in PROVIDER_ACTIONS)
    return method in READS


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    tmp = tmp_path_factory.mktemp("auth")
    tokens = tmp / "tokens.yaml"
    tokens.write_text(
        yaml.safe_dump(
            {
                "clients": [
                    {
                        "name": f"{role}-client",
                        "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
                        "roles": [role],
                    }
                    for role, token in TOKENS.items()
                ]
            }
        )
    )
    with fresh_database("sqlite", tmp) as url, running_server(url, LENSES_TOKENS_FILE=str(tokens)) as server:
        yield server


def _call(channel: grpc.Channel, service: str, method: str, token: str | None) -> grpc.StatusCode:
    descriptor = next(s for s in DESCRIPTORS if s.name == service).methods_by_name[method]
    request = message_factory.GetMessageClass(descriptor.input_type)()
    response = message_factory.GetMessageClass(descriptor.output_type)
    path = f"/{descriptor.containing_service.full_name}/{method}"
    metadata = [("authorization", f"Bearer {token}")] if token else []
    if method in ("ListActions", "WatchActions"):
        request.filter.provider_id = "SC-1"  # provider monitoring must name a provider
    if descriptor.server_streaming:
        call = channel.unary_stream(
            path,
            request_serializer=type(request).SerializeToString,
            response_deserializer=response.FromString,
        )
        try:
            for _ in call(request, metadata=metadata, timeout=1.5):
                break
        except grpc.RpcError as error:
            return error.code() if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED else grpc.StatusCode.OK
        return grpc.StatusCode.OK
    call = channel.unary_unary(
        path, request_serializer=type(request).SerializeToString, response_deserializer=response.FromString
    )
    try:
        call(request, metadata=metadata, timeout=30)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_role_matrix(secured) -> None:  # type: ignore[no-untyped-def]
    refused = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}
    wrong = []
    with secured.channel() as channel:
        for service in DESCRIPTORS:
            for method in service.methods:
                for role, token in TOKENS.items():
                    code = _call(channel, service.name, method.name, token)
                    allowed = expected_allowed(role, service.name, method.name)
                    if allowed == (code in refused) or (
                        not allowed and code != grpc.StatusCode.PERMISSION_DENIED
                    ):
                        wrong.append(f"{role} {service.name}.{method.name}: {code.name}")
    assert wrong == []


def test_missing_or_unknown_tokens_are_unauthenticated(secured) -> None:  # type: ignore[no-untyped-def]
    with secured.channel() as channel:
        assert _call(channel, "RulesService", "GetRuleset", None) == grpc.StatusCode.UNAUTHENTICATED
        assert _call(channel, "RulesService", "GetRuleset", "guess") == grpc.StatusCode.UNAUTHENTICATED
        health = health_pb2_grpc.HealthStub(channel)  # open: load balancers must reach it
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING


def test_provider_monitoring_sees_only_provider_actions(secured) -> None:  # type: ignore[no-untyped-def]
    metadata = [("authorization", f"Bearer {TOKENS['provider-monitoring']}")]
    with secured.channel() as channel:
        actions = channel.unary_unary(
            "/lenses.v1.ActionService/ListActions",
            request_serializer=action_pb2.ListActionsRequest.SerializeToString,
            response_deserializer=action_pb2.ListActionsResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as raised:
            actions(action_pb2.ListActionsRequest(), metadata=metadata)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        actions(
            action_pb2.ListActionsRequest(filter=common_pb2.ActionFilter(provider_id="SC-1")),
            metadata=metadata,
        )


def test_writes_record_the_client(secured) -> None:  # type: ignore[no-untyped-def]
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    with secured.channel() as channel:
        submit = channel.unary_unary(
            "/lenses.v1.AuditService/SubmitAudit",
            request_serializer=audit_pb2.SubmitAuditRequest.SerializeToString,
            response_deserializer=audit_pb2.AuditEvaluation.FromString,
        )
        submit(
            audit_pb2.SubmitAuditRequest(audit=message),
            metadata=[("authorization", f"Bearer {TOKENS['case-management']}")],
        )
    engine = create_engine(secured.database_url)
    with engine.connect() as connection:
        clients = {
            row[0]
            for row in connection.execute(
                text(
                    "SELECT client FROM audit_revisions WHERE audit_id = :a UNION "
                    "SELECT client FROM actions WHERE audit_id = :a"
                ),
                {"a": message.audit_id},
            )
        }
    engine.dispose()
    assert clients == {"case-management-client"}


def test_refuses_to_start_without_tokens_off_loopback(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as url:
        result = subprocess.run(
            [str(LENSES), "serve", "--listen", "0.0.0.0:0"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "LENSES_DATABASE_URL": url},
        )
    assert result.returncode == 2 and "LENSES_TOKENS_FILE" in result.stderr


def test_a_broken_tokens_file_stops_the_start(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("clients:\n  - name: x\n    token_sha256: short\n    roles: [qa]\n")
    with fresh_database("sqlite", tmp_path) as url:
        result = subprocess.run(
            [str(LENSES), "serve", "--listen", "127.0.0.1:0"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "LENSES_DATABASE_URL": url, "LENSES_TOKENS_FILE": str(tokens)},
        )
    assert result.returncode == 2 and "64 hex digits" in result.stderr and "short" not in result.stderr
