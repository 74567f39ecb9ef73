"""TLS and mutual TLS: a client certificate named in the tokens file is a client."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
import yaml

from lenses.v1 import rules_pb2, rules_pb2_grpc
from tests.server_harness import fresh_database, running_server

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _certificates(folder: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=lenses-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=folder,
    )
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, extra in (("server", ["-extfile", "server.ext"]), ("client", [])):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}-cert",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=folder,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{name}.pem",
            *extra,
            cwd=folder,
        )


def test_mutual_tls_client_certificate_is_a_client(tmp_path: Path) -> None:
    _certificates(tmp_path)
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"clients": [{"name": "client-cert", "roles": ["reader"]}]}))
    env = {
        "LENSES_TOKENS_FILE": str(tokens),
        "LENSES_TLS_CERT": str(tmp_path / "server.pem"),
        "LENSES_TLS_KEY": str(tmp_path / "server.key"),
        "LENSES_TLS_CLIENT_CA": str(tmp_path / "ca.pem"),
    }
    with fresh_database("sqlite", tmp_path) as url, running_server(url, **env) as server:
        ca = (tmp_path / "ca.pem").read_bytes()
        with_cert = grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=(tmp_path / "client.key").read_bytes(),
            certificate_chain=(tmp_path / "client.pem").read_bytes(),
        )
        with grpc.secure_channel(server.address, with_cert) as channel:
            ruleset = rules_pb2_grpc.RulesServiceStub(channel).GetRuleset(
                rules_pb2.GetRulesetRequest(), timeout=30
            )
            assert len(ruleset.rules) == 35
        without_cert = grpc.ssl_channel_credentials(root_certificates=ca)
        with (
            grpc.secure_channel(server.address, without_cert) as channel,
            pytest.raises(grpc.RpcError) as raised,
        ):
            rules_pb2_grpc.RulesServiceStub(channel).GetRuleset(rules_pb2.GetRulesetRequest(), timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake needs a certificate
        with grpc.insecure_channel(server.address) as channel, pytest.raises(grpc.RpcError):
            rules_pb2_grpc.RulesServiceStub(channel).GetRuleset(rules_pb2.GetRulesetRequest(), timeout=10)
