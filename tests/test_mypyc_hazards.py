"""Where the mypyc-compiled engine could behave differently from the same sources run
as plain Python (tools/compile_engine.py), found by a review.

A compiled dataclass checks its annotations when it is built: ``model.OpenAction``
refuses an ``int`` for ``action_id: str``, ``model.Calibration`` a ``float`` for
``auditor_audits: int``, each with a ``TypeError`` where plain Python took the
value. ``server/rule_cases.py`` built those records from a case file's YAML as
written (a ``sweep``, a ``summary``), which the case schema lets through, so
``lenses test`` stopped with a traceback under the compiled engine only. Now the
case's values are checked as the records are built: a value of another type is
reported as a problem of that case (and the run goes on), and a count written
4.0 (an integer to the case schema) counts as 4, whichever engine runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine import _compiled
from server import cli
from tests.conftest import RULES

COMPILED = (Path(_compiled.__file__).parent / _compiled.RECORD).exists()


SWEEP_CASES = """\
rule: ES-02
cases:
  - note: a numeric action id (YAML int) is the case's mistake
    sweep:
      as_of: "2026-04-01"
      open_actions:
        - {action_id: 1001, kind: CORRECTIVE_ACTION, due_on: "2026-03-31", audit_id: AUD-100}
    want:
      actions:
        - {rule_id: ES-02, kind: CORRECTIVE_ACTION_ESCALATION, escalated_from: "1001"}
  - note: escalated written as 0 is the case's mistake
    sweep:
      as_of: "2026-04-01"
      open_actions:
        - {action_id: ACT-1, kind: CORRECTIVE_ACTION, due_on: "2026-03-31", audit_id: AUD-100,
           escalated: 0}
    want:
      actions:
        - {rule_id: ES-02, kind: CORRECTIVE_ACTION_ESCALATION, escalated_from: ACT-1}
"""

SUMMARY_CASES = """\
rule: GC-18
cases:
  - note: a count written 4.0 (an integer to the case schema) counts as 4
    base: audit_good
    summary:
      calibration: {auditor_audits: 4.0, auditor_good: 4, others_audits: 10, others_good: 7}
    want:
      findings:
        - rule_id: GC-18
"""


def _lenses_test(tmp_path: Path, name: str, text: str,
                 capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``lenses test`` of a folder holding one case file ``name``: exit code, and what
    it printed (standard output, then standard error)."""
    cases = tmp_path / "cases"
    cases.mkdir()
    shutil.copy(RULES / "tests" / "fixtures.yaml", cases / "fixtures.yaml")
    (cases / name).write_text(text)
    code = cli.main(["test", str(cases), "--rules", str(RULES)])
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def test_a_sweep_case_with_values_of_the_wrong_type_is_reported_not_a_crash(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _lenses_test(tmp_path, "ES-02.yaml", SWEEP_CASES, capsys)
    assert code == 1, out
    assert "0 passed, 2 failed" in out
    assert "sweep.open_actions[0].action_id must be text, not 1001" in out
    assert "sweep.open_actions[0].escalated must be true or false, not 0" in out


def test_a_summary_count_written_as_a_whole_float_counts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _lenses_test(tmp_path, "GC-18.yaml", SUMMARY_CASES, capsys)
    assert code == 0, out
    assert "1 passed, 0 failed" in out


def test_a_summary_count_that_is_not_whole_is_refused_with_the_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _lenses_test(tmp_path, "GC-18.yaml", SUMMARY_CASES.replace("4.0", "4.5"), capsys)
    assert code == 2  # the case schema refuses it before any case runs
    assert (f"{tmp_path / 'cases' / 'GC-18.yaml'}:6 cases.0.summary.calibration.auditor_audits: "
            "4.5 is not of type 'integer'") in out
