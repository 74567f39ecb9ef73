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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

ROLES = ("case-management", "provider-monitoring", "qa", "reader")
PROVIDER_ACTION_METHODS = frozenset({"ListActions", "GetAction", "CompleteAction", "WatchActions"})


@dataclass(frozen=True)
class Principal:
    """An authenticated client: its name (stored with every write) and roles.

    ``provider_scoped`` belongs to one call (see ``for_call``): it sees and changes
    provider and placement actions only.
    """

    name: str
    roles: frozenset[str]
    provider_scoped: bool = False


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
            if digest in clients.by_digest:  # else the token would be the last client listed
                raise TokensFileError(f"{path}: clients[{index}] ({principal.name!r}) has the same "
                                      f"token_sha256 as {clients.by_digest[digest].name!r}")
            clients.by_digest[digest] = principal
    return clients


def _client(entry: Any, where: str) -> tuple[Principal, str]:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise TokensFileError(f"{where}: needs a name")
    digest = str(entry.get("token_sha256") or "").lower()
    if digest and (len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
        raise TokensFileError(f"{where}: token_sha256 must be 64 hex digits")
    roles = entry.get("roles")
    # Each role checked on its own: a nested list or mapping is not hashable.
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r in ROLES
                                                           for r in roles):
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

    def principal(self, metadata: Sequence[tuple[str, Any]], certificate_name: str | None) -> Principal:
        """The caller, from its bearer token or its client certificate."""
        if self.clients is None:
            return LOCAL  # only reachable on loopback (checked at start-up)
        headers = [value for key, value in metadata if key == "authorization"]
        if len(headers) > 1:  # which one would count is a guess; a proxy may have added one
            raise Denied("more than one authorization header", unauthenticated=True)
        header = str(headers[0]) if headers else ""
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


def for_call(principal: Principal, service: str, method: str) -> Principal:
    """The principal as one call sees it: ``provider_scoped`` when provider monitoring
    is what opens this ActionService method, i.e. its other roles would refuse it.

    Per method, not per client: provider-monitoring + reader reads every action (the
    reader's right) yet completes only provider and placement actions.
    """
    others = principal.roles - {"provider-monitoring"}
    scoped = (service == "ActionService" and "provider-monitoring" in principal.roles
              and not allowed(others, service, method))
    return replace(principal, provider_scoped=scoped)


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
