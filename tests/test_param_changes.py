"""Non-default parameter values (rules.md, "What rule authors can change without
code": "Changing a number in rules/params.yaml ... must change behaviour with no
code edit"). Each test runs the server's own services in-process (SQLite) on a
copy of ``rules/`` with one parameter changed:

- a zero minimum count does not make a rule compare against a share of no audits
  at all (GC-18, LS-05: such a share had been taken to be 0%);
- a history window or timescale is at most 100 years: ``lenses check`` refuses
  more (a window of thousands of years had made every save of a completed audit
  fail), and a window of 100 years counts every stored audit.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from server.actions import Actor
from server.audits import AuditService
from server.reviews import ReviewService
from server.store import Store
from tests.api import audit, unique
from tests.conftest import RULES
from tests.server_harness import fresh_database
from tests.test_cli import lenses
from tests.test_lens_caps import engine_with
from tests.test_server_reviews import review

ACTOR = Actor("test", date(2026, 1, 5))


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    with fresh_database("sqlite", tmp_path) as url:
        store = Store(url)
        yield store
        store.close()


def test_gc18_needs_colleague_audits_to_compare_with_when_their_minimum_is_zero(
        tmp_path: Path, store: Store) -> None:
    """rules.md GC-18: "the auditor's share of audits graded at least good differs from
    the others' share by 30 points or more". With ``calibration_min_other_audits: 0`` a
    council drops the minimum, not the comparison: with no audits by other auditors
    there is no others' share to differ from. (Five good audits by the only auditor
    of a service area had raised GC-18 ("colleagues 0% of 0: a gap of 100
    points") and a MODERATION_REVIEW for HEAD_OF_SAFEGUARDING.)"""
    service = AuditService(engine_with(tmp_path, calibration_min_other_audits="0"))
    area, auditor = unique("SA"), unique("auditor")
    results = []
    for day in (5, 6, 7, 8, 9):  # five completed audits, all MEETS_GOOD, one auditor
        message = audit(serviceArea=area, auditorId=auditor, completedOn=f"2025-06-0{day}")
        results.append(store.run(lambda session, m=message: service.submit(session, m, ACTOR)))
    raised = [(f.rule_id, f.message) for r in results for f in r.findings if f.rule_id == "GC-18"]
    assert raised == []
    assert not [a for r in results for a in r.actions if a.rule_id == "GC-18"]


def test_ls05_does_not_challenge_on_no_audits_when_the_minimum_is_zero(
        tmp_path: Path, store: Store) -> None:
    """rules.md LS-05: "in the review period, at least 5 audits of the service area were
    completed and fewer than 0.7 of them have an effective grade of at least good". With
    the minimum set to 0 and no audit completed in the period, 0 good audits is not
    fewer than 0.7 of 0 audits: nothing contradicts the GOOD judgement. (The review
    had been challenged: "only 0 of the 0 audits completed in the period are at least
    good".)"""
    service = ReviewService(engine_with(tmp_path, audit_challenge_min_audits="0"))
    message = review(unique("SA"), CASE_FILE_AUDITS="GOOD")  # no audits stored there
    score = store.run(lambda session: service.submit(session, message, ACTOR, dry_run=True))
    assert [f.message for f in score.findings if f.rule_id == "LS-05"] == []


@pytest.mark.parametrize("param, limit", [
    ("calibration_window_months", 1200),
    ("deep_dive_window_days", 36525),
    ("deep_dive_due_days", 36525),
])
def test_check_refuses_a_window_or_timescale_over_100_years(tmp_path: Path, param: str,
                                                            limit: int) -> None:
    """A window of thousands of years (``calibration_window_months: 30000``,
    ``deep_dive_window_days: 1000000``), which ``lenses check`` accepted, reached
    before the calendar's first date: every save of a completed audit (or of one
    below good) then failed with INTERNAL. Now ``check`` names the file and line."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    params = rules / "params.yaml"
    lines = params.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith(f"{param}:"))
    for value, refused in ((limit, False), (limit + 1, True)):
        lines[number - 1] = f"{param}: {value}"
        params.write_text("\n".join(lines) + "\n")
        result = lenses("check", rules)
        assert "Traceback" not in result.stderr
        assert (result.returncode == 1) is refused, result.stdout
        if refused:
            assert f"rules/params.yaml:{number}" in result.stdout, result.stdout


@pytest.mark.parametrize("param, value", [
    ("calibration_window_months", "1200"),  # 100 years: "all history" for GC-18
    ("deep_dive_window_days", "36525"),     # 100 years: "all history" for ES-03
])
def test_a_window_of_100_years_counts_all_history(
        tmp_path: Path, store: Store, param: str, value: str) -> None:
    """The longest window ``lenses check`` accepts, from audits dated early in the
    range the API accepts, counts every stored audit and fails no save."""
    service = AuditService(engine_with(tmp_path, **{param: value}))
    area = unique("SA")
    for year in (1900, 1950, 1999):  # three cases below good in PLANS, decades apart
        message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                        completedOn=f"{year}-06-05")
        result = store.run(lambda session, m=message: service.submit(session, m, ACTOR))
    deep_dives = [a for a in result.actions if a.rule_id == "ES-03"]
    assert bool(deep_dives) is (param == "deep_dive_window_days"), result.actions
