"""PostgreSQL: two back-dated saves that run the same later audit again at once,
each holding a different turn of its history, both keep what they gained in its
decision log (the log turn of late._log, store.LOG_TURNS).

Area SA: a concern audit of case C1 on 01-05, and L (case CL, PLANS below good) on
02-15: two cases, no deep dive.
  X: a back-dated concern of a third case in SA on 01-20. It holds SA's turn and runs
     L again: three cases within the window, so L gains ES-03's deep dive (an action;
     ES-03 gives no finding). Its decision-log row for L adds no finding.
  Y: a back-dated audit of case CL in another service area on 01-10. It holds CL's
     turn (not SA's) and runs L again: L gains GC-16 and GC-17.
Each wrote L's next decision-log row from the last committed one: when X wrote
second, its row, built without Y's, hid GC-16 and GC-17 from GetAudit (the actions
were kept: their keys are unique). With the log turn, the second waits for the
first to commit and builds on its row. Both orders are run; X second is the one
that lost findings. The first save holds L's row uncommitted until the second has
either ended (it logged L too) or waits for L's log turn (``until_waiting``), so the
race is run every time, whatever the machine's load.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from lenses.v1 import audit_pb2
from server import late
from server.audits import AuditService
from server.db import Action
from server.store import Store
from tests.api import audit, unique
from tests.test_late_review4 import ACTOR, Aborts, _concern, _in_thread, _save, until_waiting


def _the_two_saves(area: str, later: audit_pb2.CaseFileAudit) -> dict[str, audit_pb2.CaseFileAudit]:
    return {
        "concern": _concern(area, "2026-01-20"),  # X: a third case, in SA's window
        "case": audit(overall="EXCEEDS_GOOD", serviceArea=unique("SA"), caseRef=later.case_ref,
                      completedOn="2026-01-10", lookbackFrom="2026-01-10"),  # Y
    }


@pytest.mark.parametrize("first", ["concern", "case"])
def test_two_back_dated_saves_running_one_later_audit_again_both_keep_their_findings(
        pg_audits: tuple[Store, AuditService], monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    store, service = pg_audits
    area = unique("SA")
    _save(store, service, _concern(area, "2026-01-05"))
    later = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                  completedOn="2026-02-15", lookbackFrom="2026-02-15", auditedPreviously=False)
    own = {f.rule_id for f in _save(store, service, later).findings}
    assert not {"ES-03", "GC-16", "GC-17"} & own  # nothing yet of what the two saves add
    saves = _the_two_saves(area, later)
    second_message = saves["case" if first == "concern" else "concern"]
    saving = threading.current_thread()
    second: list[threading.Thread] = []
    reached: list[bool] = []  # whether the second save waited for a lock, or ended, meanwhile
    failures: list[BaseException] = []
    original = late._log

    def log(session, later_audit, evaluation, findings, actor):  # type: ignore[no-untyped-def]
        original(session, later_audit, evaluation, findings, actor)
        if later_audit.audit.audit_id == later.audit_id and threading.current_thread() is saving \
                and not second:
            # The first save has logged L (not committed): the second runs L again now,
            # and logs L too (no log turn) or waits for L's log turn.
            second.append(_in_thread(lambda: _save(store, service, second_message), failures))
            reached.append(until_waiting(store, second[0]))

    monkeypatch.setattr(late, "_log", log)
    with Aborts(store) as aborted:
        _save(store, service, saves[first])
        second[0].join(30)
    assert not second[0].is_alive() and not failures, failures
    assert reached == [True], "the second save neither waited nor ended: no race was run"
    assert "40P01" not in aborted, aborted
    kinds = set(store.read(lambda s: s.scalars(select(Action.kind).where(
        Action.audit_id == later.audit_id)).all()))
    assert {"DEEP_DIVE_AUDIT", "MODERATION_REVIEW"} <= kinds  # the actions were never at stake
    got = store.read(lambda s: service.get(s, later.audit_id, ACTOR.today)).evaluation
    assert {"ES-03", "GC-16"} <= {a.rule_id for a in got.actions}
    findings = {f.rule_id for f in got.findings}
    assert {"GC-16", "GC-17"} <= findings, f"L's decision log kept only {sorted(findings)}"
