"""The narrow durable_rules wrapper accounts for every fact (quality.md item 3)."""

from __future__ import annotations

from datetime import date

import pytest

from engine.compiler import KIND_FIELD, CompiledRuleset
from engine.durable_runner import DurableSession
from engine.errors import EvaluationError
from engine.evaluate import RulesEngine
from engine.model import AreaJudgement, Audit

_counter = iter(range(1_000_000))


def _session(definition: dict, seen: dict[str, str]) -> DurableSession:
    compiled = CompiledRuleset(
        name=f"test_runner_{next(_counter)}", version="test", definition=definition,
        bindings={}, seen_rules=seen,
    )
    return DurableSession(compiled)


def _fact(fact_id: str, kind: str = "thing", **fields: object) -> dict:
    return {"id": fact_id, KIND_FIELD: kind, **fields}


def test_firings_are_returned_and_or_duplicates_collapsed() -> None:
    session = _session({
        "both": {"all": [{"m": {"$and": [{KIND_FIELD: "thing"},
                                         {"$or": [{"a": 1}, {"b": 1}]}]}}]},
        "seen_thing": {"all": [{"m": {KIND_FIELD: "thing"}}], "cap": 100},
    }, {"seen_thing": "thing"})
    # Both branches of the $or hold: durable fires twice, we report once.
    assert session.run([_fact("x", a=1, b=1), _fact("y", a=0, b=0)]) == {("both", "x")}


def test_a_fact_no_rule_matches_is_an_error_not_a_silent_drop() -> None:
    session = _session({
        "seen_thing": {"all": [{"m": {KIND_FIELD: "thing"}}], "cap": 100},
    }, {"seen_thing": "thing"})
    with pytest.raises(EvaluationError, match="did not account"):
        session.run([_fact("x"), _fact("y", kind="unknown")])


def test_a_fact_the_seen_rule_misses_is_reported() -> None:
    # A "seen" rule that only matches some facts stands in for a dropped fact.
    session = _session({
        "seen_thing": {"all": [{"m": {"$and": [{KIND_FIELD: "thing"}, {"keep": 1}]}}]},
        "other": {"all": [{"m": {KIND_FIELD: "thing"}}], "cap": 100},
    }, {"seen_thing": "thing"})
    with pytest.raises(EvaluationError, match="not seen exactly once"):
        session.run([_fact("x", keep=1), _fact("y", keep=0)])


def test_duplicate_ids_are_refused() -> None:
    session = _session({"seen_thing": {"all": [{"m": {KIND_FIELD: "thing"}}], "cap": 100}},
                       {"seen_thing": "thing"})
    with pytest.raises(EvaluationError, match="unique"):
        session.run([_fact("x", a=1), _fact("x", a=2)])


def test_state_is_reused_cleanly_across_evaluations() -> None:
    session = _session({
        "big": {"all": [{"m": {"$and": [{KIND_FIELD: "thing"}, {"$gt": {"n": 5}}]}}]},
        "seen_thing": {"all": [{"m": {KIND_FIELD: "thing"}}], "cap": 100},
    }, {"seen_thing": "thing"})
    for _ in range(50):
        assert session.run([_fact("a", n=9), _fact("b", n=1)]) == {("big", "a")}


def test_or_in_a_rule_gives_one_finding(engine: RulesEngine) -> None:
    """GC-05 holds through both branches (blank reason, and RISK never N/A)."""
    audit = Audit(
        audit_id="A1", revision=1, status="DRAFT", case_ref="C1", service_area="S",
        auditor_id="a1", areas=(AreaJudgement("RISK", "NOT_APPLICABLE"),),
    )
    gc05 = [f for f in engine.evaluate_audit(audit).findings if f.rule_id == "GC-05"]
    assert [f.area for f in gc05] == ["RISK"]


def test_a_fact_seen_twice_is_reported() -> None:
    # Two "seen" rules for one kind: every fact is sighted twice, none is missing.
    seen_rule = {"all": [{"m": {KIND_FIELD: "thing"}}], "cap": 100}
    session = _session({"seen_a": seen_rule, "seen_b": seen_rule},
                       {"seen_a": "thing", "seen_b": "thing"})
    with pytest.raises(EvaluationError, match="2 fact.* not seen exactly once"):
        session.run([_fact("x"), _fact("y")])


def test_values_orjson_refuses_still_reach_durable() -> None:
    # An integer beyond 64 bits and a lone surrogate (json.loads makes one from
    # "\ud800" in a CLI input file): the runner falls back to the standard json.
    session = _session({
        "big": {"all": [{"m": {"$and": [{KIND_FIELD: "thing"}, {"$gt": {"n": 5}}]}}], "cap": 100},
        "seen_thing": {"all": [{"m": {KIND_FIELD: "thing"}}], "cap": 100},
    }, {"seen_thing": "thing"})
    facts = [_fact("x", n=2**70, note="\ud800"), _fact("y", n=1, note="fine")]
    assert session.run(facts) == {("big", "x")}


@pytest.mark.parametrize("value", [date(2026, 1, 15), float("inf"), float("nan")],
                         ids=["date", "infinity", "nan"])
def test_values_durable_cannot_test_fail_the_evaluation(value: object) -> None:
    # orjson would write a date as text and a non-finite number as null: durable
    # would then compare them and silently not fire. (json crashed durable on Infinity.)
    session = _session({
        "big": {"all": [{"m": {"$and": [{KIND_FIELD: "thing"}, {"$gt": {"n": 5}}]}}], "cap": 100},
        "seen_thing": {"all": [{"m": {KIND_FIELD: "thing"}}], "cap": 100},
    }, {"seen_thing": "thing"})
    with pytest.raises(EvaluationError, match="failed on assert"):
        session.run([_fact("x", n=value), _fact("y", n=7)])
    # A None is JSON's null, as before: the fact is asserted and accounted for.
    assert session.run([_fact("x", n=None), _fact("y", n=7)]) == {("big", "y")}


def test_a_sighting_of_a_fact_not_asserted_is_reported() -> None:
    # Cannot come from durable while each evaluation has a fresh state; the
    # accounting still refuses it rather than count it for a missing fact.
    from engine.durable_runner import _unaccounted

    batch = [_fact("x"), _fact("y")]
    assert _unaccounted(batch, {"x", "y"}, ["y", "x"]) == ""
    assert _unaccounted(batch, {"x", "y"}, ["x", "y", "z"]) == "1 fact(s) seen that were not asserted"
    assert _unaccounted(batch, {"x", "y"}, ["x", "z"]) == "1 fact(s) of kind thing not seen exactly once"
