"""Rule authoring (rules.md, "What rule authors can change without code"): each
change a QA lead can make in a copy of ``rules/`` either works, or is refused by
``lenses check`` naming the file and line; never a folder that passes ``check``
and then fails, or silently misbehaves, when it is evaluated."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from engine import RulesEngine, facts, scoring
from engine.loader import OPTIONAL_DATES, load_ruleset
from engine.model import (
    AgreedAction,
    Audit,
    AuditHistory,
    Inspection,
    InspectionInput,
    Placement,
    PlacementInput,
    ReviewAction,
    ReviewInput,
    ReviewJudgement,
    ServiceReview,
)
from server import inputs
from tests import test_cli
from tests.test_cli import BELOW_GOOD, lenses
from tests.test_cli_review import _line_of, _no_traceback

rules_copy = test_cli.rules_copy  # the fixture: a copy of rules/ to change


def _set_param(rules: Path, name: str, value: str) -> None:
    """Replace the line of parameter ``name`` in params.yaml (a one-line value)."""
    params = rules / "params.yaml"
    lines = [f"{name}: {value}" if line.startswith(f"{name}:") else line
             for line in params.read_text().splitlines()]
    params.write_text("\n".join(lines) + "\n")


def _add_rule(rules: Path, name: str, body: str, rule_id: str = "XX-01") -> Path:
    path = rules / "grading" / name
    path.write_text(f"id: {rule_id}\ntitle: PROBE\nlens: PROFESSIONAL_CHALLENGE\n"
                    "framework_ref: probe\ndescription: a rule added by a rule author\n" + body)
    return path


def _check_fails_at(rules: Path, path: Path, text: str, problem: str) -> None:
    """``lenses check`` refuses ``rules`` with ``problem`` at the line of ``text`` in ``path``."""
    result = lenses("check", rules)
    _no_traceback(result)
    assert result.returncode == 1, result.stdout
    where = f"{path}:{_line_of(path, text)}"  # the file as the user named its folder
    assert any(line.startswith(where) and problem in line
               for line in result.stdout.splitlines()), result.stdout


def _below_good_audit() -> Audit:
    record: Audit = inputs.read_request(BELOW_GOOD)[2]
    return record


# ------------------------------------------------ emptied list parameters


def test_an_emptied_list_parameter_neither_crashes_nor_misfires(rules_copy: Path) -> None:
    """``in`` / ``not_in`` an empty list: durable would get an empty ``$or`` / ``$and``
    (outside the safe subset); the empty ``$and`` matched durable's own state record
    and every evaluation failed (KeyError), though ``lenses check`` passed."""
    _set_param(rules_copy, "never_not_applicable_areas", "[]")
    _set_param(rules_copy, "limiting_areas", "[]")
    _add_rule(rules_copy, "XX-01.yaml", "severity: ADVICE\napplies_to: area\n"
              "when: {field: area, not_in: {param: limiting_areas}}\n"
              "message: '{area} limits nothing'\n")
    _add_rule(rules_copy, "XX-02.yaml", "severity: ADVICE\napplies_to: area\n"
              "when:\n  all:\n    - none: [{field: area, in: {param: never_not_applicable_areas}}]\n"
              "    - {field: grade, eq: DOES_NOT_MEET_GOOD}\n"
              "message: '{area} is below good'\n", rule_id="XX-02")
    assert lenses("check", rules_copy).returncode == 0
    evaluation = RulesEngine.from_directory(rules_copy).evaluate_audit(_below_good_audit())
    fired = [(f.rule_id, f.area) for f in evaluation.findings if f.rule_id.startswith("XX")]
    assert len([rule for rule, _ in fired if rule == "XX-01"]) == 12  # every area
    assert [area for rule, area in fired if rule == "XX-02"] == ["ASSESSMENT", "PLANS", "REVIEWS"]
    assert "GC-07" not in {f.rule_id for f in evaluation.findings}


# ------------------------------------------------------------ lens scoring


def test_caps_hold_whatever_numbers_the_points_are(rules_copy: Path) -> None:
    """Points on a 0..1 scale: a lens with an INADEQUATE area is at most
    REQUIRES_IMPROVEMENT (the cap compared int(points), all 0, and never applied)."""
    _set_param(rules_copy, "lens_points",
               "{OUTSTANDING: 1, GOOD: 0.75, REQUIRES_IMPROVEMENT: 0.5, INADEQUATE: 0.25}")
    params = rules_copy / "params.yaml"
    params.write_text(params.read_text().replace("min_score: 3.5", "min_score: 0.875")
                      .replace("min_score: 2.5", "min_score: 0.625")
                      .replace("min_score: 1.5", "min_score: 0.375"))
    ruleset = load_ruleset(rules_copy)
    grades = ["OUTSTANDING", "OUTSTANDING", "OUTSTANDING", "INADEQUATE"]
    judged = [ReviewJudgement("INDEPENDENT_CHALLENGE", f"A{i}", g) for i, g in enumerate(grades)]
    lens = scoring.score_lens("INDEPENDENT_CHALLENGE", judged, ruleset.params)
    assert (lens.score, lens.judgement) == (0.8125, "REQUIRES_IMPROVEMENT")
    assert lens.limited_by == "INADEQUATE area: A3"


def test_check_refuses_bands_not_listed_highest_first(rules_copy: Path) -> None:
    """A score takes the first band it reaches: listed lowest first, every lens
    scoring 1.5 or more was REQUIRES_IMPROVEMENT, and ``check`` said ok."""
    params = rules_copy / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("min_score: 3.5, judgement: OUTSTANDING", "min_score: X")
                      .replace("min_score: 1.5, judgement: REQUIRES_IMPROVEMENT",
                               "min_score: 3.5, judgement: OUTSTANDING")
                      .replace("min_score: X", "min_score: 1.5, judgement: REQUIRES_IMPROVEMENT"))
    _check_fails_at(rules_copy, params, "min_score: 2.5", "highest min_score first")


# --------------------------------------------------------------- catalogue


@pytest.mark.parametrize(("added", "problem"), [
    ("      - {code: SURVEYS, title: Surveys again}\n",
     "area SURVEYS is listed twice under CITIZEN_CHALLENGE"),
    ("  - {lens: CITIZEN_CHALLENGE, question: again, areas: [{code: SURVEYS, title: Surveys again}]}\n",
     "lens CITIZEN_CHALLENGE is listed twice"),
])
def test_check_refuses_a_catalogue_area_or_lens_listed_twice(rules_copy: Path, added: str,
                                                             problem: str) -> None:
    """An area twice: every review then failed ("fact ids must be unique"); a lens
    twice: its first areas were silently dropped (reviews judging them refused)."""
    catalogue = rules_copy / "catalogue.yaml"
    catalogue.write_text(catalogue.read_text() + added)
    _check_fails_at(rules_copy, catalogue, "Surveys again", problem)


# --------------------------------------------------------------- due dates

_FOLLOW_UP = """applies_to: agreed_action
when:
  all:
    - {{field: completed, eq: true}}{guard}
actions:
  - kind: CORRECTIVE_ACTION
    owner_role: TEAM_MANAGER
    due: {{at: by_when}}
    subject: {{type: AUDIT, id: audit_id}}
    detail: "Follow up agreed action {{index}} of {{audit_id}}"
    key: "{{audit_id}}:{{index}}"
"""


def test_check_refuses_a_due_date_from_a_date_that_may_be_unset(rules_copy: Path) -> None:
    """``by_when`` is unset when the auditor gave no date: a due date from it failed
    the evaluation (a traceback in ``lenses eval``, a failed save on the server)."""
    rule = _add_rule(rules_copy, "XX-01.yaml", _FOLLOW_UP.format(guard=""))
    _check_fails_at(rules_copy, rule, "due: {at: by_when}", "by_when_set")


def test_a_due_date_from_an_optional_date_is_fine_when_the_condition_requires_it(
        rules_copy: Path) -> None:
    _add_rule(rules_copy, "XX-01.yaml",
              _FOLLOW_UP.format(guard="\n    - {field: by_when_set, eq: true}"))
    engine = RulesEngine.from_directory(rules_copy)
    audit = _below_good_audit()
    undated = dataclasses.replace(audit, agreed_actions=(AgreedAction("Refer", "sw-1"),))
    assert [a for a in engine.evaluate_audit(undated).actions if a.rule_id == "XX-01"] == []
    dated = [a for a in engine.evaluate_audit(audit).actions if a.rule_id == "XX-01"]
    assert [a.due_on for a in dated] == [audit.agreed_actions[0].by_when]


def test_every_date_a_fact_may_leave_unset_is_listed_as_optional() -> None:
    """``OPTIONAL_DATES`` against the facts built from inputs with every optional date
    unset (a completed audit: drafts get no actions)."""
    day = date(2026, 1, 5)
    audit = Audit("A1", 1, "COMPLETED", "C1", "SA", "aud", completed_on=day,
                  agreed_actions=(AgreedAction(),))
    placement = Placement("P1", "C1", "PR1", day)
    review = ServiceReview("R1", 1, "SA", day, day, judgements=(ReviewJudgement(
        "INDEPENDENT_CHALLENGE", "KEY_INDICATORS", "GOOD", actions=(ReviewAction(),)),))
    built = [
        *facts.audit_facts(audit, AuditHistory(), {}),
        *facts.inspection_facts(InspectionInput(Inspection("I1", "PR1", "GOOD", day),
                                                placements=(placement,))),
        *facts.placement_facts(PlacementInput(placement)),
        *facts.review_facts(ReviewInput(review), {"INDEPENDENT_CHALLENGE": ("KEY_INDICATORS",)},
                            []),
    ]
    unset = {(fact.kind, name) for fact in built for name, value in fact.fields.items()
             if value is None and facts.KINDS[fact.kind].get(name) == "date"}
    listed = {(kind, name) for kind, names in OPTIONAL_DATES.items() for name in names}
    assert unset == listed


def test_check_refuses_a_due_date_from_the_publication_date(rules_copy: Path) -> None:
    """``published_on`` may be unset and no field says so: ``rated_on`` is the date."""
    rule = rules_copy / "escalation" / "ES-07-provider-decline.yaml"
    rule.write_text(rule.read_text().replace("working_days_after: rated_on",
                                             "working_days_after: published_on"))
    _check_fails_at(rules_copy, rule, "published_on", "may be unset")


# ------------------------------------------------------ conditions, owners


@pytest.mark.parametrize("where", ["when", "because"])
def test_check_refuses_among_on_a_count(rules_copy: Path, where: str) -> None:
    """Only a share has a denominator: ``among`` on a count was silently ignored (the
    rule fired on any area below good, not only among those named)."""
    count = ("{count: {of: areas, where: {field: grade, eq: DOES_NOT_MEET_GOOD}, "
             "among: {field: area, eq: RISK}}")
    when = f"  {count}, gte: 1}}\n" if where == "when" else "  {field: completed, eq: true}\n"
    because = f"because:\n  risk: {count}}}\n" if where == "because" else ""
    rule = _add_rule(rules_copy, "XX-01.yaml", f"severity: ADVICE\napplies_to: audit\n"
                     f"when:\n{when}message: RISK is below good\n{because}")
    _check_fails_at(rules_copy, rule, "among", "'among' belongs to a share")


@pytest.mark.parametrize(("param", "literal"), [(".inf", None), (None, ".nan")])
def test_check_refuses_a_number_that_is_not_finite(rules_copy: Path, param: str | None,
                                                   literal: str | None) -> None:
    """Infinity made durable refuse the whole ruleset on the first evaluation (and the
    server's workers); nothing is ever greater than NaN. ``check`` said ok to both."""
    if param:
        (rules_copy / "params.yaml").write_text(
            (rules_copy / "params.yaml").read_text() + f"word_limit: {param}\n")
    value = "{param: word_limit}" if param else literal
    rule = _add_rule(rules_copy, "XX-01.yaml", f"severity: ADVICE\napplies_to: area\n"
                     f"when: {{field: words, gt: {value}}}\nmessage: too long\n")
    _check_fails_at(rules_copy, rule, "when:", "not a finite number")


def test_check_refuses_an_action_without_an_owner(rules_copy: Path) -> None:
    """Every action has an owner (rules.md): a role, a person, or both."""
    rule = rules_copy / "escalation" / "ES-03-deep-dive.yaml"
    rule.write_text(rule.read_text().replace("owner_role: HEAD_OF_SAFEGUARDING",
                                             "owner_role: null"))
    _check_fails_at(rules_copy, rule, "- kind: DEEP_DIVE_AUDIT", "needs an owner")


def test_check_names_a_yml_file_it_would_not_read(rules_copy: Path) -> None:
    """A rule saved as .yml was silently left out: ``check`` said ok, it never fired."""
    rule = rules_copy / "grading" / "GC-06-shortcomings-not-reflected.yaml"
    rule.rename(rule.with_suffix(".yml"))
    result = lenses("check", rules_copy)
    assert result.returncode == 1
    assert "rules/grading/GC-06-shortcomings-not-reflected.yml: not read" in result.stdout


def test_hidden_yml_files_are_not_the_rules(rules_copy: Path) -> None:
    """A rules folder kept as its own repository has CI files (.github/…/*.yml,
    .gitlab-ci.yml): not rules, so no reason to refuse the folder (or the server's start)."""
    workflows = rules_copy / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text("on: push\n")
    (rules_copy / ".gitlab-ci.yml").write_text("test: {script: [lenses test]}\n")
    result = lenses("check", rules_copy)
    assert result.returncode == 0, result.stdout


# -------------------------------------------------------------- test cases

_CASES = """rule: GC-99
cases:
  - note: a mistyped base
    base: audit_goood
    want: {absent: [GC-04]}
  - note: a removed rule
    base: audit_good
    want:
      absent: [GC-44]
"""


def test_check_refuses_cases_naming_a_missing_fixture_or_rule(rules_copy: Path) -> None:
    """A case naming no fixture or no rule passed ``check``; ``absent: [GC-44]``
    then always passed in ``lenses test``."""
    cases = rules_copy / "tests" / "XX-01.yaml"
    cases.write_text(_CASES)
    _check_fails_at(rules_copy, cases, "base: audit_goood", "'audit_goood' is not a fixture")
    _check_fails_at(rules_copy, cases, "rule: GC-99", "no rule GC-99")
    _check_fails_at(rules_copy, cases, "absent: [GC-44]", "no rule GC-44")
    result = lenses("test", rules_copy)
    assert result.returncode == 1
    assert f"FAIL {cases}:6 [GC-99] a removed rule" in result.stdout, result.stdout
    assert "no rule GC-44 in the rules" in result.stdout


@pytest.mark.parametrize("text", ["", "- audit_good\n", "fixtures: [audit_good]\n",
                                  "fixtures: {}\nhistory_bases: {audits: audit_good}\n"])
def test_a_malformed_fixtures_file_is_a_check_error_not_a_traceback(rules_copy: Path,
                                                                     text: str) -> None:
    (rules_copy / "tests" / "fixtures.yaml").write_text(text)
    result = lenses("check", rules_copy)
    assert result.returncode == 1, result.stdout
    assert "rules/tests/fixtures.yaml:" in result.stdout
    tested = lenses("test", rules_copy)
    _no_traceback(tested)
    assert tested.returncode == 2 and "rules/tests/fixtures.yaml:" in tested.stderr
