"""Service errors and their one mapping to gRPC status codes.

Handlers raise these (or let engine/convert/database errors through);
``to_status`` is the only place that decides the code a client sees.
``INTERNAL`` never carries a stack trace or any input text.
"""

from __future__ import annotations

import logging
import traceback

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from sqlalchemy.exc import DBAPIError, OperationalError

from engine.errors import EvaluationError, InputError

from .convert import InvalidInput

log = logging.getLogger("lenses.errors")


class ServiceError(Exception):
    """An expected refusal with a status code and a message for the client."""

    code = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    """An unknown audit, action or provider."""

    code = grpc.StatusCode.NOT_FOUND


class StaleRevision(ServiceError):
    """A revision lower than the stored one, or an action in the wrong state."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Forbidden(ServiceError):
    """The caller's role does not reach this resource."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Conflict(ServiceError):
    """The same id and revision with different content."""

    code = grpc.StatusCode.ALREADY_EXISTS


def bad_request(violations: list[tuple[str, str]], message: str) -> status_pb2.Status:
    """INVALID_ARGUMENT with a google.rpc.BadRequest listing every violation."""
    detail = error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations
    ])
    packed = any_pb2.Any()
    packed.Pack(detail)
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[packed])


def to_status(error: BaseException, request_id: str) -> tuple[grpc.StatusCode, str, status_pb2.Status | None]:
    """(code, message, rich status or None) for any exception a handler raised."""
    if isinstance(error, InvalidInput):
        violations = [(v.field, v.description) for v in error.violations]
        message = f"{len(violations)} invalid field(s): " + "; ".join(f for f, _ in violations)
        return grpc.StatusCode.INVALID_ARGUMENT, message, bad_request(violations, message)
    if isinstance(error, InputError):
        return grpc.StatusCode.INVALID_ARGUMENT, error.message, bad_request(
            [("request", error.message)], error.message)
    if isinstance(error, ServiceError):
        return error.code, error.message, None
    if isinstance(error, OperationalError | DBAPIError) and _store_unavailable(error):
        return grpc.StatusCode.UNAVAILABLE, "the store is unavailable; retry", None
    if isinstance(error, EvaluationError):
        log.error("evaluation failed (request %s): %s", request_id, error.message)
        return grpc.StatusCode.UNAVAILABLE, "the rules engine failed; retry", None
    if isinstance(error, DBAPIError):
        # Its stack, and what the database said in names and codes only.
        log.error("internal error (request %s): %s\n%s", request_id, database_error(error),
                  "".join(traceback.format_tb(error.__traceback__)).rstrip())
    else:
        log.exception("internal error (request %s)", request_id, exc_info=error)
    return grpc.StatusCode.INTERNAL, f"internal error (request {request_id})", None


def database_error(error: DBAPIError) -> str:
    """A database error as a log may show it: its kind, code, the names involved and the
    statement (placeholders only). Never the database's own message: PostgreSQL's
    quotes the values written ("Failing row contains (…)", "Key (…)=(…)"), and a
    value may be narrative text (operations.md: logs never contain it)."""
    cause = error.orig
    parts = [type(cause).__name__]
    code = getattr(cause, "sqlstate", None) or getattr(cause, "sqlite_errorname", None)
    if code:
        parts.append(str(code))
    diagnostics = getattr(cause, "diag", None)  # psycopg: the names, without values
    for name in ("table_name", "column_name", "constraint_name"):
        value = getattr(diagnostics, name, None) if diagnostics is not None else None
        if value:
            parts.append(f"{name.removesuffix('_name')}={value}")
    return f"{type(error).__name__} ({' '.join(parts)}) in {' '.join(str(error.statement).split())}"


def _store_unavailable(error: DBAPIError) -> bool:
    return bool(error.connection_invalidated) or isinstance(error, OperationalError)
