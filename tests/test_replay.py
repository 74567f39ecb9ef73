"""``lenses replay``: what another rules folder would change, writing nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, text

from engine import RulesEngine
from server.actions import Actor
from server.audits import AuditService
from server.migrate import upgrade
from server.store import Store
from tests.api import audit
from tests.conftest import RULES
from tests.server_harness import LENSES


def _row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        counts = {table: connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                  for table in ("audit_revisions", "evaluations", "actions", "action_events")}
    engine.dispose()
    return counts


def test_replay_counts_changes_per_rule_and_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lenses.db'}"
    upgrade(url)
    store = Store(url)
    service = AuditService(RulesEngine.from_directory(RULES))
    actor = Actor("test", date(2026, 3, 1))
    shortfalls = [("PLANS", "RISK", "REVIEWS"), ("PLANS", "REVIEWS"), ("PLANS",), ()]
    for below in shortfalls:  # overall good each time
        message = audit(below, completedOn="2026-02-10")
        store.run(lambda session, m=message: service.submit(session, m, actor))
    store.close()
    other = tmp_path / "rules"
    shutil.copytree(RULES, other)
    params = other / "params.yaml"
    params.write_text(params.read_text().replace("shortcomings_threshold: 3", "shortcomings_threshold: 2"))
    before = _row_counts(url)
    env = {**os.environ, "LENSES_DATABASE_URL": url, "LENSES_RULES_DIR": str(RULES)}
    out = subprocess.run([str(LENSES), "replay", "--rules", str(other)], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    assert "GC-06: +1 audits, -0 audits" in out  # the audit with exactly two areas below good
    assert "4 stored audits re-evaluated" in out
    same = subprocess.run([str(LENSES), "replay", "--rules", str(RULES)], env=env, check=True,
                          capture_output=True, text=True, timeout=120).stdout
    assert same.startswith("no rule would change")
    assert _row_counts(url) == before


def test_replay_counts_an_action_raised_differently(tmp_path: Path) -> None:
    """A changed timescale makes no rule fire or stop firing, yet changes the due date
    of every action it sets: replay must show it, not "no rule would change"."""
    url = f"sqlite:///{tmp_path / 'lenses.db'}"
    upgrade(url)
    store = Store(url)
    service = AuditService(RulesEngine.from_directory(RULES))
    actor = Actor("test", date(2026, 3, 1))
    message = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-01-15")  # ES-01
    store.run(lambda session: service.submit(session, message, actor))
    store.close()
    other = tmp_path / "rules"
    shutil.copytree(RULES, other)
    (es01,) = (other / "escalation").glob("ES-01*.yaml")
    text = es01.read_text()
    assert "due: {end_of_month_after: completed_on}" in text
    es01.write_text(text.replace("due: {end_of_month_after: completed_on}",
                                 "due: {days_after: completed_on, days: 30}"))
    env = {**os.environ, "LENSES_DATABASE_URL": url, "LENSES_RULES_DIR": str(RULES)}
    out = subprocess.run([str(LENSES), "replay", "--rules", str(other)], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    changed = [line for line in out.splitlines() if line[:3] in ("GC-", "MO-", "ES-", "LS-")]
    assert changed == [f"ES-01: +0 audits, -0 audits, 1 audits changed (e.g. {message.audit_id})"]
