"""Sweep rules (``applies_to: open_action``) see only what the escalation sweep
passes: open actions past due, of the kinds in ``facts.SWEPT_ACTION_KINDS``.
A rule on another kind, or on actions not yet overdue, would pass ``lenses test``
(whose cases may hold any open action) and never fire on the server: a missed
escalation. ``lenses check`` refuses it, naming the file and line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine import RulesEngine
from engine.errors import RulesError
from engine.loader import load_ruleset
from engine.model import OpenAction, SweepInput
from tests import test_authoring_review
from tests.test_authoring_review import _add_rule, _check_fails_at

rules_copy = test_authoring_review.rules_copy  # the fixture: a copy of rules/ to change


def _sweep_rule(when: str) -> str:
    return ("applies_to: open_action\nwhen:\n" + when +
            "actions:\n  - kind: CORRECTIVE_ACTION_ESCALATION\n    owner_role: HEAD_OF_SERVICE\n"
            "    due: {days_after: as_of, days: 5}\n    subject: {type: AUDIT, id: audit_id}\n"
            "    detail: escalated\n    key: \"probe-{action_id}\"\n")


def test_check_refuses_a_sweep_rule_on_a_kind_the_sweep_never_passes(rules_copy: Path) -> None:
    path = _add_rule(rules_copy, "XX-01-deep-dive-overdue.yaml", _sweep_rule(
        "  all:\n    - {field: kind, eq: DEEP_DIVE_AUDIT}\n    - {field: days_overdue, gt: 0}\n"))
    _check_fails_at(rules_copy, path, "when:", "the sweep passes only open actions of kind")


def test_check_refuses_a_sweep_rule_on_actions_not_yet_past_due(rules_copy: Path) -> None:
    path = _add_rule(rules_copy, "XX-01-due-today.yaml", _sweep_rule(
        "  all:\n    - {field: kind, eq: CORRECTIVE_ACTION}\n    - {field: days_overdue, gte: 0}\n"))
    _check_fails_at(rules_copy, path, "when:", "the sweep passes only open actions past due")


@pytest.mark.parametrize(("kind_test", "overdue_test", "accepted"), [
    ("{field: kind, eq: CORRECTIVE_ACTION}", "{field: days_overdue, gt: 0}", True),
    ("{field: kind, in: [CORRECTIVE_ACTION, PLAN_RATING_RESPONSE]}", "{field: days_overdue, gte: 1}", True),
    ("{field: kind, eq: PLAN_RATING_RESPONSE}", "{field: days_overdue, in: [1, 30]}", True),
    ("{field: kind, eq: CORRECTIVE_ACTION}", "{field: days_overdue, eq: 10}", True),
    ("{field: kind, in: [CORRECTIVE_ACTION, MODERATION_REVIEW]}", "{field: days_overdue, gt: 0}", False),
    ("{field: kind, ne: DEEP_DIVE_AUDIT}", "{field: days_overdue, gt: 0}", False),
    ("{field: escalated, eq: false}", "{field: days_overdue, gt: 0}", False),
    ("{field: kind, eq: CORRECTIVE_ACTION}", "{field: days_overdue, gt: -1}", False),
    ("{field: kind, eq: CORRECTIVE_ACTION}", "{field: days_overdue, in: [0, 5]}", False),
    ("{field: kind, eq: CORRECTIVE_ACTION}", "{field: days_overdue, lt: 5}", False),
    ("{field: kind, eq: CORRECTIVE_ACTION}", "{field: escalated, eq: false}", False),
])
def test_a_sweep_rule_must_require_a_swept_kind_and_a_past_due_date(
        rules_copy: Path, kind_test: str, overdue_test: str, accepted: bool) -> None:
    when = f"  all:\n    - {kind_test}\n    - {overdue_test}\n"
    _add_rule(rules_copy, "XX-01-probe.yaml", _sweep_rule(when))
    if accepted:
        load_ruleset(rules_copy)
    else:
        with pytest.raises(RulesError):
            load_ruleset(rules_copy)


def test_any_branch_must_each_require_them(rules_copy: Path) -> None:
    both = ("  any:\n    - all: [{field: kind, eq: CORRECTIVE_ACTION}, {field: days_overdue, gt: 0}]\n"
            "    - all: [{field: kind, eq: PLAN_RATING_RESPONSE}, {field: days_overdue, gt: 3}]\n")
    _add_rule(rules_copy, "XX-01-probe.yaml", _sweep_rule(both))
    engine = RulesEngine(load_ruleset(rules_copy))
    overdue = OpenAction(action_id="a1", kind="PLAN_RATING_RESPONSE", due_on=date(2026, 3, 1),
                         origin_on=date(2026, 2, 1), escalated=True, owner_id="tm1")
    fired = engine.evaluate_sweep(SweepInput(date(2026, 3, 10), (overdue,), ()))
    assert [i.dedupe_key for i in fired.actions if i.rule_id == "XX-01"] == [
        "XX-01:CORRECTIVE_ACTION_ESCALATION:probe-a1"]
    one_branch_open = both.replace("{field: days_overdue, gt: 3}", "{field: escalated, eq: true}")
    _add_rule(rules_copy, "XX-01-probe.yaml", _sweep_rule(one_branch_open))
    with pytest.raises(RulesError, match="past due"):
        load_ruleset(rules_copy)
