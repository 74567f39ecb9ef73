"""Second review of the local tools (``lenses eval``, ``test``, ``check``, ``explain``)
against operations.md and api.md: what test_cli, test_cli_review and
test_contract_review do not cover. Each test here is a defect the review found
(each failed on the code as reviewed):

- operations.md, `lenses eval FILE…`: valid JSON nested too deeply for Python was a
  traceback (exit 1), not a clear error naming the file (exit 2);
- rules.md GC-16 ("an earlier completed audit of the same case"): with two
  revisions of one earlier audit in ``--history``, whichever came last in the file
  spoke for it; an audit is what its latest revision says (as on the server);
- "`lenses test [DIR]` runs the rule test cases in rules/tests/ (or DIR)": a folder
  of cases was read as a rules folder, and ``--rules`` ignored;
- `lenses check` ("errors name file, line and what is wrong"), `lenses test` and
  `lenses explain` named a file as ``<folder name>/<path inside>``: for a copy of
  ``rules`` elsewhere, that is the project's own file, not the one that is wrong."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from engine import history as summaries
from engine.loader import load_ruleset
from engine.model import Audit, ServiceReview
from tests.conftest import EXAMPLES, ROOT, RULES
from tests.server_harness import LENSES


def _lenses(*args: object, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LENSES), *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def _example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


@pytest.fixture()
def rules_copy(tmp_path: Path) -> Path:
    """A copy of the project's rules in a folder also called ``rules`` (as a QA lead
    trying a change would make one), outside the project."""
    copy_dir = tmp_path / "rules"
    shutil.copytree(RULES, copy_dir)
    return copy_dir


def _resolve(named: str, cwd: Path) -> Path:
    """The file a path printed by the CLI points at, for a user in ``cwd``."""
    path = Path(named)
    return (path if path.is_absolute() else cwd / path).resolve()


# ------------------------------------------------------------------ eval: malformed JSON


@pytest.mark.parametrize("where", ["request", "history"])
def test_eval_deeply_nested_json_is_a_clear_error_not_a_traceback(tmp_path: Path,
                                                                  where: str) -> None:
    nested = tmp_path / "nested.json"
    depth = 100_000
    key = "audit" if where == "request" else "audits"
    nested.write_text('{"' + key + '": ' + "[" * depth + "]" * depth + "}")
    args = (["eval", nested] if where == "request"
            else ["eval", "--history", nested, EXAMPLES / "audit-good.json"])
    result = _lenses(*args)
    assert "Traceback" not in result.stderr, result.stderr[-1500:]
    assert result.returncode == 2, result.stderr[-1500:]
    assert str(nested) in result.stderr


# ------------------------------------------------------------------ eval --history


def _earlier_audit(revision: str, grade: str) -> dict[str, Any]:
    """An earlier completed audit AUD-H1 of the good example's case, every area and
    the overall grade at ``grade``."""
    audit = copy.deepcopy(_example("audit-good.json")["audit"])
    audit.update(auditId="AUD-H1", revision=revision, completedOn="2026-08-01",
                 lookbackFrom="2026-03-01", overallGrade=grade)
    for area in audit["areas"]:
        area["grade"] = grade
    return audit


def _current_below_good_audit() -> dict[str, Any]:
    """A completed audit of the same case, graded DOES_NOT_MEET_GOOD overall."""
    body = _example("audit-below-good.json")
    audit = body["audit"]
    audit.update(caseRef=_example("audit-good.json")["audit"]["caseRef"],
                 overallGrade="GRADE_DOES_NOT_MEET_GOOD")
    for area in audit["areas"]:
        if area["area"] == "AREA_RISK":
            area["grade"] = "GRADE_DOES_NOT_MEET_GOOD"
        if not area["impact"]:
            area["impact"] = "Recorded."
    return body


def test_eval_history_judges_an_earlier_audit_by_its_latest_revision(tmp_path: Path) -> None:
    request = tmp_path / "audit.json"
    request.write_text(json.dumps(_current_below_good_audit()))
    exceeds = _earlier_audit("1", "GRADE_EXCEEDS_GOOD")
    meets = _earlier_audit("2", "GRADE_MEETS_GOOD")

    # Control: the scenario does swing when the earlier audit is EXCEEDS_GOOD.
    swing = tmp_path / "swing.json"
    swing.write_text(json.dumps({"audits": [exceeds]}))
    fired = _lenses("eval", "--format", "json", "--as-of", "2026-11-01", "--history", swing,
                    request)
    assert fired.returncode == 0, fired.stderr
    assert "GC-16" in {f["ruleId"] for f in json.loads(fired.stdout).get("findings", [])}

    # Revision 2 lifted the earlier audit to MEETS_GOOD: one step away, no swing,
    # whatever the order of the revisions in the file.
    revised = tmp_path / "revised.json"
    revised.write_text(json.dumps({"audits": [meets, exceeds]}))
    result = _lenses("eval", "--format", "json", "--as-of", "2026-11-01", "--history", revised,
                     request)
    assert result.returncode == 0, result.stderr
    evaluation = json.loads(result.stdout)
    assert "GC-16" not in {f["ruleId"] for f in evaluation.get("findings", [])}, evaluation
    assert "GC-16" not in {a["ruleId"] for a in evaluation.get("actions", [])}, evaluation


# ------------------------------------------------------------------ lenses test [DIR]


def test_test_runs_the_cases_of_a_case_folder_given_as_dir(tmp_path: Path) -> None:
    cases = tmp_path / "my-cases"
    cases.mkdir()
    for name in ("GC-06.yaml", "fixtures.yaml"):
        shutil.copy(RULES / "tests" / name, cases / name)
    result = _lenses("test", "--rules", RULES, cases)
    assert "rules error" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed, 0 failed" in result.stdout, result.stdout


# ------------------------------------------------------------------ file names in messages


@pytest.mark.parametrize("command", ["check", "test"])
def test_messages_name_the_file_that_is_wrong_not_a_namesake(rules_copy: Path,
                                                             command: str) -> None:
    params = rules_copy / "params.yaml"
    if command == "check":
        params.write_text(params.read_text().replace("shortcomings_threshold: 3",
                                                     "shortcomings_threshold: -3"))
        expected = params
    else:
        params.write_text(params.read_text().replace("shortcomings_threshold: 3",
                                                     "shortcomings_threshold: 4"))
        expected = rules_copy / "tests" / "GC-06.yaml"
    result = _lenses(command, rules_copy, cwd=ROOT)
    assert result.returncode == 1, result.stdout + result.stderr
    if command == "check":
        line = result.stdout.splitlines()[0]  # "<file>:<line> shortcomings_threshold: …"
        named = line.split(" ", 1)[0].rsplit(":", 1)[0]
    else:
        line = next(x for x in result.stdout.splitlines()
                    if x.startswith("FAIL") and "GC-06" in x)
        named = line.split()[1].rsplit(":", 1)[0]  # "FAIL <file>:<line> [GC-06] …"
    assert _resolve(named, ROOT) == expected.resolve(), line


def test_explain_names_the_files_of_the_folder_it_explains(rules_copy: Path) -> None:
    result = _lenses("explain", "GC-06", "--rules", rules_copy, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    source = next(x for x in lines if x.strip().startswith("file:")).split("file:", 1)[1].strip()
    assert _resolve(source, ROOT) == (
        rules_copy / "grading" / "GC-06-shortcomings-not-reflected.yaml").resolve(), source
    tests = [x.split()[0].rsplit(":", 1)[0] for x in lines if "GC-06.yaml:" in x]
    assert tests, result.stdout
    for named in tests:
        assert _resolve(named, ROOT) == (rules_copy / "tests" / "GC-06.yaml").resolve(), named


# ------------------------------------------------------------------ after the fixes


def test_a_rules_folder_has_one_version_wherever_it_is_and_however_it_is_named(
        rules_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages now name files by the path given; the ruleset version (stored with every
    action) must still not depend on it: a copy of ``rules`` elsewhere, and the
    folder named as ``.`` from inside it, have the version of the project's rules."""
    version = load_ruleset(RULES).version
    assert load_ruleset(rules_copy).version == version
    monkeypatch.chdir(rules_copy)
    assert load_ruleset(".").version == version


def test_review_evidence_counts_an_audit_once_as_its_latest_revision_says() -> None:
    """LS-05's audits in the period, from a history holding two revisions of one audit:
    one audit, graded as revision 2 says (revision 1 was good, revision 2 is not)."""
    good = _audit_revision(1, "MEETS_GOOD")
    revised = _audit_revision(2, "DOES_NOT_MEET_GOOD")
    review = ServiceReview("R-1", 1, good.service_area, date(2026, 1, 1), date(2026, 6, 30))
    for history in ([good, revised], [revised, good]):
        evidence = summaries.review_evidence(review, history, [], [])
        assert (evidence.audits_completed, evidence.audits_good_or_better) == (1, 0)


def _audit_revision(revision: int, grade: str) -> Audit:
    return Audit(audit_id="AUD-R", revision=revision, status="COMPLETED", case_ref="C-R",
                 service_area="S-R", auditor_id="tm-1", completed_on=date(2026, 3, 1),
                 overall_grade=grade)
