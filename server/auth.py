"""Who may call what (operations.md, Security).

Clients present a bearer token (``authorization: Bearer …``) or, with mutual
TLS, a client certificate. The tokens file maps the SHA-256 digest of each
token (never the token) to a client name and roles:

    clients:
      - name: mosaic-prod
        token_sha256: 9f86d08188…
        roles: [case-management]

Roles: ``case-management`` (AuditService), ``provider-monitoring``
(ProviderService, and ActionService limited to provider and placement actions),
``qa`` (everything), ``reader`` (Get/List/Watch only). Health and reflection need
nothing. Without a tokens file the server only accepts calls on a loopback
address; every call is then the local client with every role.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROLES = ("case-management", "provider-monitoring", "qa", "reader")
PROVIDER_ACTION_METHODS = frozenset({"ListActions", "GetAction", "CompleteAction", "WatchActions"})


@dataclass(frozen=True)
class Principal:
    """An authenticated client: its name (stored with every write) and roles."""

    name: str
    roles: frozenset[str]

    @property
    def provider_scoped(self) -> bool:
        """True when its only way into ActionService is provider monitoring."""
        return "provider-monitoring" in self.roles and not self.roles & {"qa", "reader"}


LOCAL = Principal("local", frozenset(ROLES))
CURRENT: contextvars.ContextVar[Principal] = contextvars.ContextVar("lenses_principal", default=LOCAL)


class TokensFileError(Exception):
    """The tokens file cannot be used; the message says why (never the tokens)."""


@dataclass
class Clients:
    """The clients of a tokens file, by token digest and by name (for certificates)."""

    by_digest: dict[str, Principal] = field(default_factory=dict)
    by_name: dict[str, Principal] = field(default_factory=dict)


def load_clients(path: str | Path) -> Clients:
    """Read and check a tokens file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TokensFileError(f"cannot read tokens file {path}: {exc}") from exc
    entries = data.get("clients") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise TokensFileError(f"{path}: expected 'clients:' with at least one client")
    clients = Clients()
    for index, entry in enumerate(entries):
        principal, digest = _client(entry, f"{path}: clients[{index}]")
        if principal.name in clients.by_name:
            raise TokensFileError(f"{path}: client {principal.name!r} is listed twice")
        clients.by_name[principal.name] = principal
        if digest:
            clients.by_digest[digest] = principal
    return clients


def _client(entry: Any, where: str) -> tuple[Principal, str]:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise TokensFileError(f"{where}: needs a name")
    digest = str(entry.get("token_sha256") or "").lower()
    if digest and (len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
        raise TokensFileError(f"{where}: token_sha256 must be 64 hex digits")
    roles = entry.get("roles")
    if not isinstance(roles, list) or not roles or not set(roles) <= set(ROLES):
        raise TokensFileError(f"{where}: roles must be a non-empty list of {', '.join(ROLES)}")
    return Principal(entry["name"][:128], frozenset(roles)), digest


def digest(token: str) -> str:
    """The hex SHA-256 of a token, as the tokens file holds it."""
    return hashlib.sha256(token.encode()).hexdigest()


class Denied(Exception):
    """Refused: ``unauthenticated`` says whether the caller is unknown (else not allowed)."""

    def __init__(self, message: str, unauthenticated: bool) -> None:
        super().__init__(message)
        self.unauthenticated = unauthenticated


class Authenticator:
    """Finds the principal of a call and checks its roles."""

    def __init__(self, clients: Clients | None) -> None:
        self.clients = clients

    def principal(self, metadata: Mapping[str, str], certificate_name: str | None) -> Principal:
        """The caller, from its bearer token or its client certificate."""
        if self.clients is None:
            return LOCAL  # only reachable on loopback (checked at start-up)
        header = metadata.get("authorization", "")
        if header.lower().startswith("bearer "):
            wanted = digest(header[7:].strip())
            for known, principal in self.clients.by_digest.items():
                if hmac.compare_digest(known, wanted):
                    return principal
            raise Denied("unknown token", unauthenticated=True)
        if certificate_name and certificate_name in self.clients.by_name:
            return self.clients.by_name[certificate_name]
        raise Denied("a bearer token or a client certificate is required", unauthenticated=True)

    @staticmethod
    def check(principal: Principal, service: str, method: str) -> None:
        """Refuse a method the principal's roles do not open."""
        if not allowed(principal.roles, service, method):
            raise Denied(f"{principal.name} may not call {service}.{method}", unauthenticated=False)


def allowed(roles: frozenset[str], service: str, method: str) -> bool:
    """The role matrix of operations.md."""
    if "qa" in roles or service == "DiagnosticsService":
        return True
    if "case-management" in roles and service == "AuditService":
        return True
    if "provider-monitoring" in roles and service == "ProviderService":
        return True
    if "provider-monitoring" in roles and service == "ActionService" and method in PROVIDER_ACTION_METHODS:
        return True
    return "reader" in roles and method.startswith(("Get", "List", "Watch"))
