"""The ``lenses`` command, run as a user would run it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import json_format

from lenses.v1 import audit_pb2, provider_pb2, review_pb2
from tests.conftest import EXAMPLES, RULES

LENSES = Path(sys.executable).parent / "lenses"
BELOW_GOOD = EXAMPLES / "audit-below-good.json"


def lenses(*args: object, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LENSES), *map(str, args)], capture_output=True, text=True,
                          check=check, timeout=120)


@pytest.fixture()
def rules_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    return copy


def test_eval_reports_gc06_and_gc03_with_messages_and_because() -> None:
    result = lenses("eval", BELOW_GOOD, check=True)
    out = result.stdout
    assert "GC-06" in out and "GC-03 [PLACEMENT]" in out
    assert "3 areas do not meet good" in out
    assert "because: overall=MEETS_GOOD; below_good=ASSESSMENT,PLANS,REVIEWS" in out
    assert "threshold=3" in out


def test_eval_json_is_an_audit_evaluation_per_file_in_order() -> None:
    good = EXAMPLES / "audit-good.json"
    result = lenses("eval", "--format", "json", BELOW_GOOD, good, check=True)
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    first = json_format.Parse(lines[0], audit_pb2.AuditEvaluation())
    second = json_format.Parse(lines[1], audit_pb2.AuditEvaluation())
    assert first.audit_id == "AUD-2026-0057"
    gc06 = next(f for f in first.findings if f.rule_id == "GC-06")
    assert gc06.because["threshold"] == "3" and gc06.message
    assert {f.rule_id for f in first.findings} >= {"GC-06", "GC-03"}
    assert list(second.findings) == [] and list(second.actions) == []


def test_eval_json_for_every_example_kind() -> None:
    shapes = {
        "inspection-inadequate.json": provider_pb2.RecordInspectionResponse,
        "placement.json": provider_pb2.RecordPlacementResponse,
        "review.json": review_pb2.ReviewScore,
    }
    for name, message in shapes.items():
        result = lenses("eval", "--format", "json", "--as-of", "2026-01-01", EXAMPLES / name,
                        check=True)
        parsed = json_format.Parse(result.stdout, message())
        assert parsed.actions, name


def test_a_changed_threshold_changes_behaviour_and_fails_the_boundary_test(rules_copy: Path) -> None:
    params = rules_copy / "params.yaml"
    params.write_text(params.read_text().replace("shortcomings_threshold: 3",
                                                 "shortcomings_threshold: 4"))
    assert "GC-06" not in lenses("eval", "--rules", rules_copy, BELOW_GOOD, check=True).stdout
    result = lenses("test", rules_copy)
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any("GC-06" in line and "boundary" in line for line in failures), result.stdout
    assert lenses("test", RULES).returncode == 0


def test_history_feeds_the_history_rules(tmp_path: Path) -> None:
    earlier = json.loads(BELOW_GOOD.read_text())["audit"]
    earlier.update(auditId="AUD-EARLIER", completedOn="2026-03-01")
    history = tmp_path / "history.json"
    history.write_text(json.dumps({"audits": [earlier]}))
    current = json.loads((EXAMPLES / "audit-good.json").read_text())
    current["audit"]["caseRef"] = earlier["caseRef"]
    request = tmp_path / "audit.json"
    request.write_text(json.dumps(current))
    assert "GC-17" not in lenses("eval", request, check=True).stdout
    assert "GC-17" in lenses("eval", "--history", history, request, check=True).stdout


def test_invalid_input_names_every_bad_field(tmp_path: Path) -> None:
    body = json.loads(BELOW_GOOD.read_text())
    body["audit"].pop("caseRef")
    body["audit"]["completedOn"] = "2026-13-40"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(body))
    result = lenses("eval", bad)
    assert result.returncode == 2
    assert "audit.case_ref: is required" in result.stderr
    assert "audit.completed_on: is not a date" in result.stderr


def test_explain_shows_text_parameters_and_covering_tests() -> None:
    out = lenses("explain", "GC-06", check=True).stdout
    assert "SHORTCOMINGS_NOT_REFLECTED" in out
    assert "param shortcomings_threshold = 3" in out
    assert "rules/tests/GC-06.yaml" in out


def test_check_passes_on_the_project_rules() -> None:
    assert "35 rules" in lenses("check", RULES, check=True).stdout


BROKEN = [
    ("grading/GC-06-shortcomings-not-reflected.yaml",
     "- {field: overall_grade, in: [EXCEEDS_GOOD, MEETS_GOOD]}\n",
     "- {field: overall_grade, in: [EXCEEDS_GOOD, MEETS_GOOD]\n", "invalid YAML"),
    ("grading/GC-04-not-succinct.yaml", "{field: words, gt: {param: succinct_max_words}}",
     "{field: words, greater: 3}", "'greater' was unexpected"),
    ("grading/GC-09-below-good-unsupported.yaml", "{field: overall_grade, eq: DOES_NOT_MEET_GOOD}",
     "{field: overal_grade, eq: DOES_NOT_MEET_GOOD}", "no field 'overal_grade'"),
    ("grading/GC-10-lookback-too-long.yaml", "{param: lookback_max_months}",
     "{param: lookback_months_max}", "unknown parameter 'lookback_months_max'"),
]


@pytest.mark.parametrize(("file", "old", "new", "problem"), BROKEN)
def test_check_names_file_line_and_problem(rules_copy: Path, file: str, old: str, new: str,
                                           problem: str) -> None:
    path = rules_copy / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    line = next(i for i, content in enumerate(path.read_text().splitlines(), 1)
                if new.strip().splitlines()[0] in content)
    result = lenses("check", rules_copy)
    assert result.returncode == 1
    assert f"rules/{file}:" in result.stdout, result.stdout
    reported = int(result.stdout.split(f"rules/{file}:")[1].split()[0].rstrip(":"))
    assert abs(reported - line) <= 1, result.stdout
    assert problem in result.stdout


BAD_PARAMS = [
    ("succinct_max_words: 250", 'succinct_max_words: "many"', "'many' is not of type 'integer'"),
    ("shortcomings_threshold: 3", "shortcomings_threshold: -3", "-3 is less than the minimum of 0"),
    ("deep_dive_min_cases: 3", "deep_dive_min_cases: true", "True is not of type 'integer'"),
    ("exceeds_min_share: 0.5", "exceeds_min_share: 1.5", "1.5 is greater than the maximum of 1"),
    ("reaudit_moderation_working_days: 20", 'reaudit_moderation_working_days: "20"',
     "'20' is not of type 'integer'"),
]


@pytest.mark.parametrize(("old", "new", "problem"), BAD_PARAMS)
def test_check_refuses_a_parameter_of_the_wrong_type(rules_copy: Path, old: str, new: str,
                                                      problem: str) -> None:
    params = rules_copy / "params.yaml"
    text = params.read_text()
    assert old in text
    params.write_text(text.replace(old, new))
    name = new.split(":")[0]
    line = next(i for i, content in enumerate(params.read_text().splitlines(), 1)
                if content.startswith(f"{name}:"))
    result = lenses("check", rules_copy)
    assert result.returncode == 1, result.stdout
    assert f"rules/params.yaml:{line} {name}: {problem}" in result.stdout, result.stdout


def test_check_refuses_a_condition_given_a_parameter_of_the_wrong_type(rules_copy: Path) -> None:
    # A parameter no schema entry types (a new rule's) is still checked against the field.
    with (rules_copy / "params.yaml").open("a") as params:
        params.write("new_word_limit: many\n")
    rule = rules_copy / "grading/GC-04-not-succinct.yaml"
    old = "{param: succinct_max_words}}"
    assert old in rule.read_text()
    rule.write_text(rule.read_text().replace(old, "{param: new_word_limit}}"))
    line = next(i for i, content in enumerate(rule.read_text().splitlines(), 1)
                if "new_word_limit" in content)
    result = lenses("check", rules_copy)
    assert result.returncode == 1
    assert (f"rules/grading/GC-04-not-succinct.yaml:{line} when.gt: field 'words' is a num, "
            "but parameter 'new_word_limit' in params.yaml is 'many', a str") in result.stdout
