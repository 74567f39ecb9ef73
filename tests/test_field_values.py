"""Enumerated fields (grades, areas, kinds, lenses, …) are compared only with
values they can hold. A misspelt constant in a rule or a parameter would make a
test that never holds (a rule that silently never fires) or, with ``ne``, always
holds; ``lenses check`` refuses it, naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import facts
from engine.errors import RulesError
from engine.loader import load_ruleset
from server import convert
from tests import test_authoring_review
from tests.test_authoring_review import _add_rule, _check_fails_at

rules_copy = test_authoring_review.rules_copy  # the fixture: a copy of rules/ to change


def _enum_names(descriptor: object, prefix: str) -> set[str]:
    return {value.name.removeprefix(prefix) for value in descriptor.values  # type: ignore[attr-defined]
            if value.number != 0}


@pytest.mark.parametrize(("kind", "field", "descriptor", "prefix", "extra"), [
    ("audit", "status", convert.AUDIT_STATUS, "AUDIT_STATUS_", set()),
    ("audit", "overall_grade", convert.GRADE, "GRADE_", {"UNSET", "-NOT_APPLICABLE"}),
    ("audit", "strand", convert.STRAND, "STRAND_", {"UNSET"}),
    ("audit", "age_band", convert.AGE_BAND, "AGE_BAND_", {"UNSET"}),
    ("area", "area", convert.AREA, "AREA_", set()),
    ("area", "grade", convert.GRADE, "GRADE_", {"UNSET"}),
    ("inspection", "grade", convert.OFSTED_GRADE, "OFSTED_GRADE_", set()),
    ("placement", "provider_grade", convert.OFSTED_GRADE, "OFSTED_GRADE_", {"NEVER_INSPECTED"}),
    ("plan_rating", "plan_type", convert.PLAN_TYPE, "PLAN_TYPE_", set()),
    ("plan_rating", "rating", convert.RAG_RATING, "RAG_RATING_", set()),
    ("judgement", "lens", convert.LENS, "LENS_", set()),
    ("open_action", "kind", convert.ACTION_KIND, "ACTION_KIND_", set()),
])
def test_the_engine_knows_every_value_the_api_can_send(
        kind: str, field: str, descriptor: object, prefix: str, extra: set[str]) -> None:
    # If the contract gains a value, the loader must not refuse rules that name it.
    # ("-X" in ``extra``: a value the API has that the server refuses for this field.)
    added = {value for value in extra if not value.startswith("-")}
    refused = {value[1:] for value in extra if value.startswith("-")}
    assert facts.FIELD_VALUES[kind][field] == (_enum_names(descriptor, prefix) | added) - refused


def test_every_enumerated_field_is_a_str_field_of_its_kind() -> None:
    for kind, fields in facts.FIELD_VALUES.items():
        for name in fields:
            assert facts.KINDS[kind][name] == "str", (kind, name)


def test_check_refuses_a_misspelt_grade_at_its_line(rules_copy: Path) -> None:
    path = _add_rule(rules_copy, "XX-01-probe.yaml",
                     "severity: ADVICE\napplies_to: area\n"
                     "when: {field: grade, eq: MEETS_GOD}\nmessage: probe\n")
    _check_fails_at(rules_copy, path, "when:", "field 'grade' of 'area' is never 'MEETS_GOD'")


def test_check_refuses_a_misspelt_value_inside_a_count(rules_copy: Path) -> None:
    path = _add_rule(rules_copy, "XX-01-probe.yaml",
                     "severity: ADVICE\napplies_to: audit\nwhen:\n"
                     "  count: {of: areas, where: {field: area, in: [PLANS, RISKS]}}\n"
                     "  gte: 1\nmessage: probe\n")
    _check_fails_at(rules_copy, path, "count:", "is never 'RISKS'")


def test_check_names_the_parameter_that_gives_a_misspelt_value(rules_copy: Path) -> None:
    # The named parameters are checked by params.schema.json; a rule author's own
    # parameter only here.
    with (rules_copy / "params.yaml").open("a") as params:
        params.write("probe_grades: [MEETS_GOOD, MEETS_GOD]\n")
    _add_rule(rules_copy, "XX-01-probe.yaml",
              "severity: ADVICE\napplies_to: area\n"
              "when: {field: grade, in: {param: probe_grades}}\nmessage: probe\n")
    with pytest.raises(RulesError, match="never 'MEETS_GOD' \\(from parameter 'probe_grades'"):
        load_ruleset(rules_copy)


def test_judgement_areas_are_checked_against_the_folders_catalogue(rules_copy: Path) -> None:
    body = ("severity: ADVICE\napplies_to: judgement\n"
            "when: {field: judgement_area, eq: %s}\nmessage: probe\n")
    _add_rule(rules_copy, "XX-01-probe.yaml", body % "CASE_FILE_AUDITS")
    load_ruleset(rules_copy)  # an area of the catalogue
    _add_rule(rules_copy, "XX-01-probe.yaml", body % "CASE_FILE_AUDIT")
    with pytest.raises(RulesError, match="never 'CASE_FILE_AUDIT'"):
        load_ruleset(rules_copy)


def test_the_case_overall_is_never_not_applicable(rules_copy: Path) -> None:
    # convert refuses an overall grade NOT_APPLICABLE: a rule testing for it never fires.
    _add_rule(rules_copy, "XX-01-probe.yaml", "severity: ADVICE\napplies_to: audit\n"
              "when: {field: overall_grade, eq: NOT_APPLICABLE}\nmessage: probe\n")
    with pytest.raises(RulesError, match="never 'NOT_APPLICABLE'"):
        load_ruleset(rules_copy)


@pytest.mark.parametrize("when", [
    "{field: grade, ne: UNSET}",
    "{field: grade, in: [EXCEEDS_GOOD, MEETS_GOOD, DOES_NOT_MEET_GOOD, NOT_APPLICABLE]}",
    "{field: area, eq: PLANS}",
    "{field: audit_id, eq: anything}",  # an id is not enumerated
])
def test_values_a_field_can_hold_are_accepted(rules_copy: Path, when: str) -> None:
    _add_rule(rules_copy, "XX-01-probe.yaml",
              f"severity: ADVICE\napplies_to: area\nwhen: {when}\nmessage: probe\n")
    load_ruleset(rules_copy)
