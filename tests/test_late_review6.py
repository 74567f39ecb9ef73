"""A sixth review: PostgreSQL locking of a deep dive's completion
(AuditService.complete_action, late.after_deep_dive_completed).

- The completion computed the audits it will run again (and so the case turns it
  takes) from an unlocked read made *before* it waited for its service area's turn,
  then ran again the set it read *after* the action's row lock. An audit saved by a
  write that held the area turn meanwhile was run again without its case's turn,
  and a back-dated save of that case in another service area ran it again at the
  same time: the lost decision-log row review 5 fixed came back. The completion now
  takes the area's turn, then reads the set, then takes its cases' turns.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lenses.v1 import common_pb2
from server import late
from server.audits import AuditService
from server.store import Store
from tests.test_late_review4 import ACTOR, Aborts, _in_thread, _save, until_waiting
from tests.test_late_review5 import race_of_a_completion_and_a_save, the_later_audit_kept_both

K = common_pb2


# ------------------------------------------------------------------------------
# Area SA: concern audits 01-01, 01-10, 01-20 open a deep dive D (PLANS).
#   S: save of L (SA, case C, 02-15), in flight (holds SA's and C's turns).
#   X: CompleteAction(D, 02-10) arrives: its unlocked read finds no audit on or after
#      02-10 (L is not committed), so it will take SA's turn and no case turn; it
#      waits for SA's turn; S commits.
#   X: takes SA's turn, locks D, completes it, reads the set again: {L}. It runs L
#      again holding no turn of C.
#   B: a back-dated save of case C in another area (OTHER, 01-10) takes OTHER's and
#      C's turns at once and runs L again too (GC-16/17). B logs L first (not yet
#      committed), X logs L from the last committed row (L's own save), and X's row,
#      written last, hides B's findings. Expected: X holds C's turn, B waits, and its
#      row is built on X's (GetAudit shows GC-16/GC-17).


def test_a_completion_runs_again_an_audit_saved_while_it_waited_only_holding_its_case_turn(
        pg_audits: tuple[Store, AuditService], monkeypatch: pytest.MonkeyPatch) -> None:
    store, service = pg_audits
    area, later, back_dated, request = race_of_a_completion_and_a_save(store, service)
    failures: list[BaseException] = []
    completing: list[threading.Thread] = []
    saving_b: list[threading.Thread] = []
    b_logged, x_logged = threading.Event(), threading.Event()
    original_find, original_log = late.LaterAudits.find, late._log

    def find(service, session, saved, stored=None):  # type: ignore[no-untyped-def]
        if saved.audit_id == later.audit_id and not completing:
            # L's save holds SA's turn: the completion arrives, reads its set without L
            # and waits for the turn.
            completing.append(_in_thread(lambda: store.run(
                lambda s: service.complete_action(s, request, ACTOR)), failures))
            until_waiting(store, completing[-1])
        return original_find(service, session, saved, stored)

    def log(session: Any, later_audit: Any, evaluation: Any, findings: Any, actor: Any) -> None:
        if later_audit.audit.audit_id != later.audit_id:
            return original_log(session, later_audit, evaluation, findings, actor)
        if completing and threading.current_thread() is completing[0]:
            # X runs L again: B arrives now and, if it does not wait for C's turn, logs L.
            saving_b.append(_in_thread(lambda: _save(store, service, back_dated), failures))
            b_logged.wait(3)
            original_log(session, later_audit, evaluation, findings, actor)
            x_logged.set()
        else:
            original_log(session, later_audit, evaluation, findings, actor)
            b_logged.set()
            x_logged.wait(3)  # B commits after X has logged
        return None

    monkeypatch.setattr(late.LaterAudits, "find", staticmethod(find))
    monkeypatch.setattr(late, "_log", log)
    with Aborts(store) as aborted:
        _save(store, service, later)
        completing[0].join(30)
        for thread in saving_b:
            thread.join(30)
    assert completing and saving_b and not failures, failures
    assert "40P01" not in aborted, aborted
    the_later_audit_kept_both(store, service, area, later.audit_id)
