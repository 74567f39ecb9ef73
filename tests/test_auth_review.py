"""Authentication and authorisation edge cases (operations.md, Security): tokens
files that must stop the start, the loopback rule, a client holding several
roles, and the client recorded with every write."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sqlalchemy import create_engine, text

from lenses.v1 import action_pb2, audit_pb2, common_pb2, provider_pb2
from server.config import Settings
from tests.api import Client, audit, error_code, unique
from tests.server_harness import LENSES, fresh_database, running_server
from tests.test_server_providers import inspection, placement

K = common_pb2
DIGEST = hashlib.sha256(b"a-token").hexdigest()
TOKENS = {
    "qa-client": ("qa-secret", ["qa"]),
    "monitor": ("pm-secret", ["provider-monitoring"]),
    "monitor-reader": ("pm-reader-secret", ["provider-monitoring", "reader"]),
}


def _serve(tmp_path: Path, tokens: object, listen: str = "127.0.0.1:0") -> subprocess.CompletedProcess[str]:
    """``lenses serve`` with a tokens file (``None``: none) on an unmigrated database:
    a tokens or address problem must be what stops it, before the database is checked."""
    env = {**os.environ, "LENSES_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    env.pop("LENSES_TOKENS_FILE", None)
    if tokens is not None:
        path = tmp_path / "tokens.yaml"
        path.write_text(yaml.safe_dump(tokens))
        env["LENSES_TOKENS_FILE"] = str(path)
    return subprocess.run([str(LENSES), "serve", "--listen", listen], capture_output=True, text=True,
                          timeout=60, env=env)


# ---------------------------------------------------------------- tokens file


def test_a_token_digest_listed_twice_stops_the_start(tmp_path: Path) -> None:
    """Two clients with one digest: the token would silently be the last of them
    (here a qa client instead of a reader), and that client's name stored with writes."""
    tokens = {"clients": [
        {"name": "dashboard", "token_sha256": DIGEST, "roles": ["reader"]},
        {"name": "qa-team", "token_sha256": DIGEST.upper(), "roles": ["qa"]},
    ]}
    result = _serve(tmp_path, tokens)
    assert result.returncode == 2
    assert "token_sha256" in result.stderr and "dashboard" in result.stderr
    assert "Traceback" not in result.stderr and DIGEST not in result.stderr


@pytest.mark.parametrize("roles", [[["qa"]], ["reader", {"qa": True}]])
def test_roles_that_are_not_names_stop_the_start_clearly(tmp_path: Path, roles: list[Any]) -> None:
    tokens = {"clients": [{"name": "x", "token_sha256": DIGEST, "roles": roles}]}
    result = _serve(tmp_path, tokens)
    assert result.returncode == 2
    assert "roles must be a non-empty list" in result.stderr and "Traceback" not in result.stderr


# -------------------------------------------------------------- listen address


@pytest.mark.parametrize("listen", ["127.example.org:50051", "127.0.0.1.nip.io:50051"])
def test_a_host_name_that_looks_like_loopback_is_not_loopback(listen: str) -> None:
    """Only a loopback address (or localhost) may serve without tokens: a DNS name
    starting with "127." can resolve to any address."""
    assert not Settings(listen=listen).is_loopback


@pytest.mark.parametrize("listen", ["127.0.0.1:50051", "127.1.2.3:0", "localhost:50051", "[::1]:50051"])
def test_loopback_addresses_are_loopback(listen: str) -> None:
    assert Settings(listen=listen).is_loopback


def test_refuses_to_start_without_tokens_on_a_host_name_starting_127(tmp_path: Path) -> None:
    result = _serve(tmp_path, None, listen="127.example.org:0")
    assert result.returncode == 2 and "refusing to listen" in result.stderr


# ------------------------------------------------------------ through a server


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("auth-review")
    tokens = tmp / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"clients": [
        {"name": name, "token_sha256": hashlib.sha256(token.encode()).hexdigest(), "roles": roles}
        for name, (token, roles) in TOKENS.items()
    ]}))
    with fresh_database("sqlite", tmp) as url, running_server(url, LENSES_TOKENS_FILE=str(tokens)) as server:
        yield server


def _as(name: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {TOKENS[name][0]}")]


def _audit_action(client: Client) -> common_pb2.Action:
    """An open corrective action of a completed audit (recorded by the qa client)."""
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")
    evaluation = client.audits.SubmitAudit(audit_pb2.SubmitAuditRequest(audit=message),
                                           metadata=_as("qa-client"), timeout=30)
    return next(a for a in evaluation.actions if a.kind == K.ACTION_KIND_CORRECTIVE_ACTION)


def _provider_action(client: Client) -> common_pb2.Action:
    """An open provider action plan (an inadequate inspection, recorded by the monitor)."""
    response = client.providers.RecordInspection(provider_pb2.RecordInspectionRequest(
        inspection=inspection(unique("SC"), K.OFSTED_GRADE_INADEQUATE, "2026-01-10")),
        metadata=_as("monitor"), timeout=30)
    return next(a for a in response.actions if a.kind == K.ACTION_KIND_PROVIDER_ACTION_PLAN)


def _complete(client: Client, action: common_pb2.Action, caller: str) -> common_pb2.Action:
    request = action_pb2.CompleteActionRequest(action_id=action.action_id, completed_by="sm-1",
                                               completed_on="2026-02-01")
    return client.actions.CompleteAction(request, metadata=_as(caller), timeout=30)  # type: ignore[no-any-return]


def test_reader_role_does_not_widen_provider_monitoring_writes(secured: Any) -> None:
    """provider-monitoring + reader: reads every action (reader), but completes only
    provider and placement actions (reader opens no write)."""
    with secured.channel() as channel:
        client = Client(channel)
        audit_action = _audit_action(client)
        fetched = client.actions.GetAction(action_pb2.GetActionRequest(action_id=audit_action.action_id),
                                           metadata=_as("monitor-reader"), timeout=30)
        assert fetched.action_id == audit_action.action_id  # reading it is the reader's right
        assert error_code(lambda: _complete(client, audit_action, "monitor-reader")) == \
            grpc.StatusCode.PERMISSION_DENIED
        assert error_code(lambda: _complete(client, audit_action, "monitor")) == \
            grpc.StatusCode.PERMISSION_DENIED
        assert _complete(client, _provider_action(client), "monitor-reader").status == \
            K.ACTION_STATUS_COMPLETED
        still = client.actions.GetAction(action_pb2.GetActionRequest(action_id=audit_action.action_id),
                                         metadata=_as("qa-client"), timeout=30)
        assert still.status == K.ACTION_STATUS_OPEN


def test_ending_a_placement_records_the_client(secured: Any) -> None:
    """Every write records which client made it: ending a placement too, when another
    client than the one that recorded it ends it."""
    with secured.channel() as channel:
        client = Client(channel)
        started = placement(unique("SC"))
        client.providers.RecordPlacement(provider_pb2.RecordPlacementRequest(placement=started),
                                         metadata=_as("monitor"), timeout=30)
        ended = provider_pb2.Placement()
        ended.CopyFrom(started)
        ended.end_on = "2026-03-01"
        client.providers.RecordPlacement(provider_pb2.RecordPlacementRequest(placement=ended),
                                         metadata=_as("qa-client"), timeout=30)
        already_ended = provider_pb2.Placement()
        already_ended.CopyFrom(placement(unique("SC"), end_on="2026-02-01"))
        client.providers.RecordPlacement(provider_pb2.RecordPlacementRequest(placement=already_ended),
                                         metadata=_as("monitor"), timeout=30)
    engine = create_engine(secured.database_url)
    try:
        with engine.connect() as connection:
            rows = dict(connection.execute(
                text("SELECT placement_id, ended_by FROM placements WHERE placement_id IN (:a, :b)"),
                {"a": started.placement_id, "b": already_ended.placement_id}).all())
    finally:
        engine.dispose()
    assert rows == {started.placement_id: "qa-client", already_ended.placement_id: "monitor"}


def test_health_and_reflection_need_no_token(secured: Any) -> None:
    with secured.channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        answers = list(stub.ServerReflectionInfo(iter([request]), timeout=30))
        names = {s.name for s in answers[0].list_services_response.service}
        assert "lenses.v1.AuditService" in names


def test_two_authorization_headers_are_refused(secured: Any) -> None:
    """Which of two tokens would count is a guess (a proxy may have added one): the
    call is refused, whichever order they come in."""
    with grpc.insecure_channel(secured.address) as channel:
        client = Client(channel)
        request = action_pb2.ListActionsRequest(filter=K.ActionFilter(service_area=unique("SA")))
        assert client.actions.ListActions(request, metadata=_as("qa-client"), timeout=30) is not None
        for pair in ((_as("qa-client") + _as("monitor")), (_as("monitor") + _as("qa-client"))):
            assert error_code(lambda p=pair: client.actions.ListActions(request, metadata=p, timeout=30)) == (
                grpc.StatusCode.UNAUTHENTICATED)


@pytest.mark.parametrize(("client_ca", "warned"), [("", True), ("ca.pem", False)])
def test_a_client_that_could_never_call_is_named_at_the_start(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, client_ca: str, warned: bool) -> None:
    """A tokens-file client without token_sha256 can only use a certificate; without
    LENSES_TLS_CLIENT_CA none is asked for, so it could not make a single call."""
    from server.app import _clients

    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"clients": [
        {"name": "mosaic", "token_sha256": DIGEST, "roles": ["case-management"]},
        {"name": "dashboard-cert", "roles": ["reader"]}]}))
    with caplog.at_level("WARNING", logger="lenses"):
        _clients(Settings(tokens_file=str(tokens), tls_client_ca=client_ca))
    named = [r.getMessage() for r in caplog.records if "dashboard-cert" in r.getMessage()]
    assert bool(named) == warned and "mosaic" not in " ".join(named)


def test_start_warnings_are_logged_once_not_by_every_worker(tmp_path: Path) -> None:
    """The supervisor checks the settings and warns; its workers check again (one
    restarted later checks for itself) but did warn again, each twice."""
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"clients": [
        {"name": "mosaic", "token_sha256": DIGEST, "roles": ["case-management"]},
        {"name": "dashboard-cert", "roles": ["reader"]}]}))
    log_path = tmp_path / "server.log"
    with fresh_database("sqlite", tmp_path) as url, running_server(
            url, log_path=log_path, LENSES_WORKERS="2", LENSES_TOKENS_FILE=str(tokens)):
        pass
    assert log_path.read_text().count("dashboard-cert") == 1, log_path.read_text()[-3000:]
