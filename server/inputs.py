"""Reading request files (proto3 JSON, the API's shape) for the CLI and rule tests.

A file holds one request body: ``{"audit": …}``, ``{"inspection": …}``,
``{"placement": …}``, ``{"rating": …}`` or ``{"review": …}``. A history
file holds earlier records: ``{"audits": […], "inspections": […],
"placements": […]}`` (each item the same shape as in a request), or just a
list of audits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from engine import model
from lenses.v1 import audit_pb2, provider_pb2, review_pb2

from . import convert

# top-level key -> (request message, field inside it)
REQUESTS: dict[str, type[Message]] = {
    "audit": audit_pb2.SubmitAuditRequest,
    "inspection": provider_pb2.RecordInspectionRequest,
    "placement": provider_pb2.RecordPlacementRequest,
    "rating": audit_pb2.RecordPlanRatingRequest,
    "review": review_pb2.SubmitReviewRequest,
}


class InputFileError(Exception):
    """A request or history file cannot be read; the message says where and why."""


@dataclass
class History:
    """Earlier records that stand in for the database when evaluating locally."""

    audits: list[model.Audit] = field(default_factory=list)
    inspections: list[model.Inspection] = field(default_factory=list)
    placements: list[model.Placement] = field(default_factory=list)


def parse_message(data: Any, message_type: type[Message], where: str) -> Message:
    """proto3 JSON -> message, with a clear error naming ``where``."""
    try:
        return json_format.ParseDict(data, message_type())
    except json_format.ParseError as exc:
        raise InputFileError(f"{where}: not a valid {message_type.DESCRIPTOR.name}: {exc}") from exc
    except RecursionError as exc:  # a value nested deeper than the parser follows
        raise InputFileError(f"{where}: not a valid {message_type.DESCRIPTOR.name}: "
                             "nested too deeply") from exc


def request_kind(data: Any, where: str) -> str:
    """Which request a JSON body is, from its single top-level key."""
    if not isinstance(data, Mapping) or len(data) != 1 or next(iter(data)) not in REQUESTS:
        known = ", ".join(f'{{"{k}": …}}' for k in REQUESTS)
        raise InputFileError(f"{where}: expected one of {known}")
    return str(next(iter(data)))


def convert_record(kind: str, message: Message, where: str) -> Any:
    """The engine record inside a request message; validation errors name ``where``."""
    try:
        if kind == "audit":
            return convert.audit_from_proto(message.audit)  # type: ignore[attr-defined]
        if kind == "inspection":
            return convert.inspection_from_proto(message.inspection)  # type: ignore[attr-defined]
        if kind == "placement":
            return convert.placement_from_proto(message.placement)  # type: ignore[attr-defined]
        if kind == "rating":
            return convert.plan_rating_from_proto(message.rating)  # type: ignore[attr-defined]
        return convert.review_from_proto(message.review)  # type: ignore[attr-defined]
    except convert.InvalidInput as exc:
        problems = "; ".join(f"{v.field}: {v.description}" for v in exc.violations)
        raise InputFileError(f"{where}: invalid {kind}: {problems}") from exc


def read_json(path: Path) -> Any:
    """A JSON file's contents, or a clear error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read JSON: {exc}") from exc
    except RecursionError as exc:  # valid JSON, but nested deeper than Python reads
        raise InputFileError(f"{path}: cannot read JSON: nested too deeply") from exc


def read_request(path: Path) -> tuple[str, Message, Any]:
    """(kind, request message, engine record) from a request file."""
    data = read_json(path)
    kind = request_kind(data, str(path))
    message = parse_message(data, REQUESTS[kind], str(path))
    return kind, message, convert_record(kind, message, str(path))


def history_from_data(data: Any, where: str) -> History:
    """A :class:`History` from its JSON (or YAML) form."""
    if isinstance(data, list):
        data = {"audits": data}
    if not isinstance(data, Mapping) or set(data) - {"audits", "inspections", "placements"}:
        raise InputFileError(f"{where}: expected {{\"audits\": […], \"inspections\": […], "
                             "\"placements\": […]}")
    for group, items in data.items():
        # A number or null here would otherwise end in a TypeError traceback.
        if not isinstance(items, list):
            raise InputFileError(f"{where}: \"{group}\" must be a list of records")
    history = History()
    for i, item in enumerate(data.get("audits", [])):
        message = parse_message({"audit": item}, audit_pb2.SubmitAuditRequest, f"{where} audits[{i}]")
        history.audits.append(convert_record("audit", message, f"{where} audits[{i}]"))
    for i, item in enumerate(data.get("inspections", [])):
        message = parse_message({"inspection": item}, provider_pb2.RecordInspectionRequest,
                                f"{where} inspections[{i}]")
        history.inspections.append(convert_record("inspection", message, f"{where} inspections[{i}]"))
    for i, item in enumerate(data.get("placements", [])):
        message = parse_message({"placement": item}, provider_pb2.RecordPlacementRequest,
                                f"{where} placements[{i}]")
        history.placements.append(convert_record("placement", message, f"{where} placements[{i}]"))
    return history


def read_history(path: Path | None) -> History:
    """The history file, or an empty history."""
    return History() if path is None else history_from_data(read_json(path), str(path))
