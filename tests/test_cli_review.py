"""The local command line tools against operations.md: clear errors that name the
file (and, for ``lenses check``, the right line), and failures that show the difference."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from server.migrate import upgrade
from tests.conftest import EXAMPLES, RULES
from tests.server_harness import LENSES
from tests.test_cli import BELOW_GOOD, lenses


@pytest.fixture()
def rules_copy(tmp_path: Path) -> Path:
    """A copy of the project's rules to break (as in test_cli)."""
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    return copy


def _line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of ``path`` containing ``text``."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _no_traceback(result: object) -> None:
    assert "Traceback" not in getattr(result, "stderr", ""), getattr(result, "stderr", "")


# ------------------------------------------------------------------ eval


def test_eval_names_the_file_of_a_review_whose_area_is_not_in_the_catalogue(tmp_path: Path) -> None:
    body = json.loads((EXAMPLES / "review.json").read_text())
    body["review"]["judgements"][0]["judgementArea"] = "NO_SUCH_AREA"
    bad = tmp_path / "bad-review.json"
    bad.write_text(json.dumps(body))
    result = lenses("eval", "--format", "json", EXAMPLES / "review.json", bad)
    assert result.returncode == 2
    _no_traceback(result)
    # The file is wrong, not the rules: say which file, not "rules error".
    assert f"{bad}: invalid review: judgements[0]: 'NO_SUCH_AREA'" in result.stderr, result.stderr
    assert "rules error" not in result.stderr


@pytest.mark.parametrize("history", [{"audits": 5}, {"inspections": None}, {"placements": "x"}])
def test_eval_history_whose_section_is_not_a_list_is_a_clear_error(tmp_path: Path,
                                                                   history: object) -> None:
    path = tmp_path / "history.json"
    path.write_text(json.dumps(history))
    result = lenses("eval", "--history", path, BELOW_GOOD)
    assert result.returncode == 2, result.stderr
    _no_traceback(result)
    group = next(iter(history))  # type: ignore[call-overload]
    assert f'{path}: "{group}" must be a list of records' in result.stderr


# ----------------------------------------------------------------- check

UNKNOWN_KEYS = [
    # (file, old, new, the text on the line that must be named, problem)
    ("grading/GC-06-shortcomings-not-reflected.yaml", "severity: WARNING\n",
     "severty: WARNING\n", "severty:", "'severty' was unexpected"),
    ("grading/GC-06-shortcomings-not-reflected.yaml",
     "      gte: {param: shortcomings_threshold}\n",
     "      gte: {param: shortcomings_threshold}\n      strict: true\n", "strict:",
     "('strict' was unexpected)"),
    ("tests/GC-06.yaml", "    base: audit_good\n", "    bass: audit_good\n", "bass:",
     "'bass' was unexpected"),
]


@pytest.mark.parametrize(("file", "old", "new", "marker", "problem"), UNKNOWN_KEYS)
def test_check_names_the_line_of_an_unexpected_key(rules_copy: Path, file: str,
                                                   old: str, new: str, marker: str,
                                                   problem: str) -> None:
    path = rules_copy / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    result = lenses("check", rules_copy)
    assert result.returncode == 1
    assert f"rules/{file}:{_line_of(path, marker)} " in result.stdout, result.stdout
    assert problem in result.stdout


def test_check_names_the_id_line_of_a_duplicate_rule(rules_copy: Path) -> None:
    source = rules_copy / "grading/GC-06-shortcomings-not-reflected.yaml"
    copy = rules_copy / "grading/GC-99-copy.yaml"
    copy.write_text("# a copy made while editing\n\n" + source.read_text())
    result = lenses("check", rules_copy)
    assert result.returncode == 1
    assert (f"rules/grading/GC-99-copy.yaml:{_line_of(copy, 'id: GC-06')}: rule id GC-06 is also "
            "defined in") in result.stdout, result.stdout


def test_check_names_file_and_line_of_a_key_that_is_not_a_plain_value(
        rules_copy: Path) -> None:
    rule = rules_copy / "grading/GC-04-not-succinct.yaml"
    rule.write_text(rule.read_text() + "? [a, b]\n: 1\n")
    line = _line_of(rule, "? [a, b]")
    result = lenses("check", rules_copy)
    assert result.returncode == 1
    assert (f"rules/grading/GC-04-not-succinct.yaml:{line}: mapping keys must be plain values"
            in result.stdout), result.stdout


def test_a_case_whose_history_is_not_a_list_fails_check_and_does_not_crash_test(
        rules_copy: Path) -> None:
    cases = rules_copy / "tests/zz-broken.yaml"
    cases.write_text("rule: GC-17\ncases:\n  - note: history not a list\n    base: audit_good\n"
                     "    history: {audits: 5}\n    want: {absent: [GC-17]}\n")
    checked = lenses("check", rules_copy)
    assert checked.returncode == 1
    assert "rules/tests/zz-broken.yaml:5 cases.0.history.audits: 5 is not of type 'array'" \
        in checked.stdout, checked.stdout
    tested = lenses("test", rules_copy)
    assert tested.returncode != 0
    _no_traceback(tested)
    assert "rules/tests/zz-broken.yaml:5" in tested.stderr


# ------------------------------------------------------------------ test


def test_test_shows_how_a_finding_that_fired_differs(rules_copy: Path) -> None:
    params = rules_copy / "params.yaml"
    params.write_text(params.read_text().replace("shortcomings_threshold: 3",
                                                 "shortcomings_threshold: 2"))
    result = lenses("test", rules_copy)
    assert result.returncode == 1
    assert "the nearest GC-06 finding has because.threshold '2' (expected '3')" in result.stdout, \
        result.stdout


def test_test_shows_how_an_action_that_was_created_differs(rules_copy: Path) -> None:
    rule = rules_copy / "escalation/ES-04-provider-inadequate.yaml"
    rule.write_text(rule.read_text().replace("obtain and agree the provider", "obtain the provider"))
    result = lenses("test", rules_copy)
    assert result.returncode == 1
    assert "the nearest such action has detail \"Home A (PR-001) was rated INADEQUATE " \
           "(inspection INS-002, 2026-10-09): obtain the provider's action plan." in result.stdout, \
        result.stdout


# ---------------------------------------------------------------- report


def test_report_html_to_a_path_that_cannot_be_written_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'lenses.db'}"
    upgrade(url)
    target = tmp_path / "no-such-folder" / "report.html"
    monkeypatch.setenv("LENSES_DATABASE_URL", url)
    result = lenses("report", "--month", "2026-11", "--html", target)
    assert result.returncode == 2
    _no_traceback(result)
    assert f"lenses: cannot write {target}: No such file or directory" in result.stderr


# ------------------------------------------------------------ flags, pipes


@pytest.mark.parametrize("args", [
    ("sweep", "--as-of", "20260101"),
    ("replay", "--rules", str(RULES), "--since", "2026-W01-1"),
    ("eval", "--as-of", "2026-02-30", str(BELOW_GOOD)),
])
def test_date_flags_are_read_as_the_api_reads_dates(args: tuple[str, ...]) -> None:
    """Exactly YYYY-MM-DD, a real day: Python's ``fromisoformat`` alone also takes
    20260101 and week dates, which the API refuses."""
    result = lenses(*args)
    assert result.returncode == 2
    assert "YYYY-MM-DD" in result.stderr
    _no_traceback(result)


def test_output_cut_short_by_its_reader_ends_quietly() -> None:
    """``lenses eval … | head``: the reader goes away; no traceback."""
    process = subprocess.Popen(
        [str(LENSES), "eval", "--format", "json", *[str(BELOW_GOOD)] * 400],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10)
    process.stdout.close()  # as ``head`` does once it has its lines
    errors = process.stderr.read()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in errors and "Exception ignored" not in errors, errors
