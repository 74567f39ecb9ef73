"""Every parameter has its type: a wrong one is refused when a rules folder is
loaded (``lenses check``, ``lenses eval`` and the server all load through
:func:`engine.loader.load_ruleset`), never silently turning a rule off."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from engine import RulesEngine
from engine.errors import RuleParseErrors, RulesError
from engine.loader import load_ruleset, schema
from tests.conftest import RULES

PARAMS = yaml.safe_load((RULES / "params.yaml").read_text())


def test_every_parameter_of_the_rules_has_a_type_in_the_schema() -> None:
    typed = schema("params")["properties"]
    assert set(PARAMS) <= set(typed), set(PARAMS) - set(typed)


def _with(tmp_path: Path, name: str, value: str) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    params = copy / "params.yaml"
    lines = [f"{name}: {value}" if line.startswith(f"{name}:") else line
             for line in params.read_text().splitlines()]
    params.write_text("\n".join(lines) + "\n")
    return copy


NUMBERS = [name for name, value in PARAMS.items()
           if isinstance(value, (int, float)) and not isinstance(value, bool)]


@pytest.mark.parametrize("name", NUMBERS)
@pytest.mark.parametrize("value", ['"many"', "true", "-1", '"20"', "[1]"])
def test_a_numeric_parameter_of_the_wrong_type_is_refused_on_load(tmp_path: Path, name: str,
                                                                   value: str) -> None:
    with pytest.raises(RuleParseErrors) as caught:
        RulesEngine.from_directory(copy := _with(tmp_path, name, value))
    errors = caught.value.errors
    assert any(e.location.file == str(copy / "params.yaml") and e.location.path == name
               and e.location.line > 1 for e in errors), [str(e) for e in errors]


@pytest.mark.parametrize(("name", "value"), [
    ("exceeds_min_share", "1.01"), ("audit_challenge_min_good_share", "-0.1"),
    ("calibration_gap_points", "101"), ("never_not_applicable_areas", "[RISK, RSK]"),
    ("good_provider_grades", "[GOOD, 4]"), ("succinct_max_words", "2.5"),
])
def test_out_of_range_parameters_are_refused(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(RulesError):
        load_ruleset(_with(tmp_path, name, value))


def test_sensible_changes_still_load(tmp_path: Path) -> None:
    copy = _with(tmp_path, "exceeds_min_share", "1")
    ruleset = load_ruleset(copy)
    assert ruleset.params["exceeds_min_share"] == 1
    assert load_ruleset(_with(tmp_path / "b", "placement_visit_working_days", "0"))
