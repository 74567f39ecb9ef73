"""Evaluate one record with no server and no database (``lenses eval``, ``lenses test``).

The history (earlier records) stands in for the store; the result is the
API's response message, exactly as the server would return it for a dry run
(actions not saved, so ``action_id`` is empty).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from google.protobuf.message import Message

from engine import history as summaries
from engine import model
from engine.evaluate import RulesEngine
from lenses.v1 import audit_pb2, provider_pb2

from . import convert
from .inputs import History


def evaluate_record(
    engine: RulesEngine, kind: str, record: Any, history: History, as_of: date | None = None
) -> tuple[model.Evaluation, Message]:
    """The engine's evaluation of ``record`` and the API response built from it."""
    if kind == "audit":
        audit_history = summaries.summarise(record, history.audits, engine.params)
        evaluation = engine.evaluate_audit(record, audit_history)
        return evaluation, convert.audit_evaluation_to_proto(
            record, evaluation, _actions(evaluation, as_of))
    if kind == "inspection":
        data = summaries.inspection_input(record, history.inspections, history.placements)
        evaluation = engine.evaluate_inspection(data)
        return evaluation, convert.with_findings(
            provider_pb2.RecordInspectionResponse(), evaluation, _actions(evaluation, as_of))
    if kind == "placement":
        evaluation = engine.evaluate_placement(
            summaries.placement_input(record, history.inspections))
        return evaluation, convert.with_findings(
            provider_pb2.RecordPlacementResponse(), evaluation, _actions(evaluation, as_of))
    if kind == "rating":
        evaluation = engine.evaluate_plan_rating(record)
        return evaluation, convert.with_findings(
            audit_pb2.RecordPlanRatingResponse(), evaluation, _actions(evaluation, as_of))
    evidence = summaries.review_evidence(
        record, history.audits, history.placements, history.inspections)
    evaluation = engine.evaluate_review(model.ReviewInput(record, evidence))
    return evaluation, convert.review_score_to_proto(
        record, evaluation, _actions(evaluation, as_of))


def _actions(evaluation: model.Evaluation, as_of: date | None) -> list[Any]:
    return [
        convert.intent_to_proto(intent, evaluation.ruleset_version, as_of)
        for intent in evaluation.actions
    ]
