"""Semantics of the history rules (GC-16, GC-17, GC-18, ES-03) and of ES-01's
withdrawal under realistic sequences of saves, through real gRPC calls (SQLite, and
PostgreSQL when LENSES_TEST_POSTGRES_URL is set).

rules.md: GC-16 compares "an earlier completed audit of the same case" by effective
grade; GC-18 counts "within the 6 months up to this audit's completion"; ES-03 counts
"completed audits of at least 3 distinct cases of the same service area within the 90
days up to this completion (this audit included)", while "no DEEP_DIVE_AUDIT is open
for that service area and area"; "Drafts get GC-01…GC-15 … but no history rule and no
escalation". The stored history must say what the latest revision (and moderation) of
each audit says, whatever revisions came before.

The history rules follow dates, not the order saves arrive in: a save that changes
what an earlier-dated audit says (a back-dated save, a revision, a moderation) runs
again the rules of the later audits whose history holds it, and raises what they ask
for beyond what they asked for before the save (server/late.py). GC-18 is not run
again (documented there)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from lenses.v1 import action_pb2, audit_pb2, common_pb2
from tests.api import Client, audit, error_code, revise, submit, unique

K = common_pb2


def listed(client: Client, **fields: Any) -> list[common_pb2.Action]:
    """Every action matching an ActionFilter (one page is plenty here)."""
    return list(client.actions.ListActions(action_pb2.ListActionsRequest(
        filter=K.ActionFilter(**fields), page_size=1000)).actions)


def deep_dives(client: Client, service_area: str, *statuses: int) -> list[common_pb2.Action]:
    return listed(client, service_area=service_area, kinds=[K.ACTION_KIND_DEEP_DIVE_AUDIT],
                  statuses=list(statuses))


def rule_ids(evaluation: audit_pb2.AuditEvaluation) -> set[str]:
    return {f.rule_id for f in evaluation.findings}


def kinds(evaluation: audit_pb2.AuditEvaluation, rule_id: str) -> list[common_pb2.Action]:
    return [a for a in evaluation.actions if a.rule_id == rule_id]


def concern(service_area: str, completed_on: str, *areas: str, **fields: Any) -> audit_pb2.CaseFileAudit:
    """A completed audit of a new case with ``areas`` (PLANS by default) below good."""
    return audit(areas or ("PLANS",), serviceArea=service_area, completedOn=completed_on,
                 lookbackFrom=completed_on, **fields)


def with_grade(message: audit_pb2.CaseFileAudit, area: str, grade: int) -> audit_pb2.CaseFileAudit:
    """The next revision of ``message`` with one area regraded."""
    later = revise(message)
    for judgement in later.areas:
        if judgement.area == K.Area.Value(f"AREA_{area}"):
            judgement.grade = grade  # type: ignore[assignment]
    return later


def moderate(client: Client, message: audit_pb2.CaseFileAudit, grade: int) -> audit_pb2.AuditEvaluation:
    return client.audits.ModerateAudit(audit_pb2.ModerateAuditRequest(
        audit_id=message.audit_id, moderator_id="psw-1", moderated_grade=grade, note=""))  # type: ignore[arg-type]


# ------------------------------------------------------------------ ES-03


def test_three_cases_open_one_deep_dive_per_service_area_and_area(client: Client) -> None:
    """ES-03: one DEEP_DIVE_AUDIT per service area AND area while one is open; due 60
    days after the completion that made three; another once it is completed."""
    area, other = unique("SA"), unique("SA")
    saved = [submit(client, concern(area, day, "PLANS", "REVIEWS"))
             for day in ("2026-01-01", "2026-01-10", "2026-01-20")]
    for day in ("2026-01-01", "2026-01-10"):
        submit(client, concern(other, day, "PLANS"))
    opened = deep_dives(client, area)
    assert sorted((a.detail.split()[3], a.due_on, a.audit_id) for a in opened) == [
        ("PLANS", "2026-03-21", saved[2].audit_id), ("REVIEWS", "2026-03-21", saved[2].audit_id)]
    assert deep_dives(client, other) == []  # two cases of PLANS there: not three
    # A fourth case while both are open: nothing new.
    fourth = submit(client, concern(area, "2026-01-25", "PLANS", "REVIEWS"))
    assert kinds(fourth, "ES-03") == [] and len(deep_dives(client, area)) == 2
    # Once the PLANS deep dive is completed, the next concern in the window opens another.
    plans = next(a for a in opened if "PLANS" in a.detail.split()[3])
    client.actions.CompleteAction(action_pb2.CompleteActionRequest(
        action_id=plans.action_id, completed_by="hos-1", completed_on="2026-02-01"))
    fifth = submit(client, concern(area, "2026-02-05", "PLANS"))
    (again,) = kinds(fifth, "ES-03")
    assert again.status == K.ACTION_STATUS_OPEN and again.due_on == "2026-04-06"


@pytest.mark.parametrize(("oldest", "fires"), [("2026-07-16", True), ("2026-07-15", False)])
def test_the_deep_dive_window_is_the_90_days_up_to_this_completion(
        client: Client, oldest: str, fires: bool) -> None:
    """ES-03 through the server's stored concerns: one completed exactly 90 days
    before this completion counts (as rules/tests/ES-03.yaml), 91 days does not."""
    area = unique("SA")
    submit(client, concern(area, oldest))
    submit(client, concern(area, "2026-09-01"))
    evaluation = submit(client, concern(area, "2026-10-14"))
    assert bool(kinds(evaluation, "ES-03")) is fires


REVISIONS: dict[str, dict[str, Any]] = {
    "completed outside the window": {"completedOn": "2025-09-01", "lookbackFrom": "2025-09-01"},
    "moved to another service area": {"serviceArea": unique("SA-elsewhere")},
    "back to draft": {"status": "AUDIT_STATUS_DRAFT"},
}


@pytest.mark.parametrize("change", [*REVISIONS, "of the second case", "area lifted", "unchanged"])
def test_later_audits_count_what_the_latest_revision_says(client: Client, change: str) -> None:
    """A revision that moves an audit out of the window, the service area or the
    completed audits, makes it another audit of a case already counted, or lifts the
    area, no longer counts for later audits; an unchanged revision still does."""
    area = unique("SA")
    first = concern(area, "2026-01-01")
    second = concern(area, "2026-01-10")
    submit(client, first)
    submit(client, second)
    if change == "area lifted":
        later = with_grade(first, "PLANS", K.GRADE_MEETS_GOOD)
    elif change == "of the second case":
        later = revise(first, caseRef=second.case_ref)
    else:
        later = revise(first, **REVISIONS.get(change, {}))
    submit(client, later)
    third = submit(client, concern(area, "2026-01-20"))
    assert bool(kinds(third, "ES-03")) is (change == "unchanged")


def test_a_stale_or_repeated_revision_changes_no_history(client: Client) -> None:
    """api.md: the same revision again "changes nothing"; a lower one is
    FAILED_PRECONDITION, "nothing changes". The history keeps the latest revision."""
    area = unique("SA")
    first = concern(area, "2026-01-01")
    saved = submit(client, first)
    lifted = with_grade(revise(first), "PLANS", K.GRADE_MEETS_GOOD)  # revision 3
    kept = submit(client, lifted)
    stale = revise(first)  # revision 2, still below good, arriving late
    assert error_code(lambda: submit(client, stale)) == grpc.StatusCode.FAILED_PRECONDITION
    assert submit(client, first) == saved and submit(client, lifted) == kept
    submit(client, concern(area, "2026-01-10"))
    third = submit(client, concern(area, "2026-01-20"))
    assert kinds(third, "ES-03") == []  # two cases: the first no longer counts
    assert deep_dives(client, area) == []


def test_a_draft_is_no_history_and_gets_no_history_rule_or_action(client: Client) -> None:
    """rules.md: drafts get "no history rule and no escalation"; a draft in the store
    is not a completed audit for anyone else's history either."""
    area = unique("SA")
    first = audit(overall="EXCEEDS_GOOD", serviceArea=area, completedOn="2026-01-01",
                  lookbackFrom="2026-01-01")
    submit(client, first)
    submit(client, concern(area, "2026-01-10"))
    draft = concern(area, "2026-01-20", caseRef=first.case_ref, status="AUDIT_STATUS_DRAFT",
                    overallGrade="GRADE_DOES_NOT_MEET_GOOD")
    evaluation = submit(client, draft)
    assert not rule_ids(evaluation) & {"GC-16", "GC-17", "GC-18", "ES-03"}
    assert list(evaluation.actions) == []
    fourth = submit(client, concern(area, "2026-01-25"))
    assert kinds(fourth, "ES-03") == [] and deep_dives(client, area) == []  # the draft is no third case


# ---------------------------------------------------------- GC-16 / GC-17

EARLIER = {
    "of another case": {"caseRef": unique("C-else")},
    "back to draft": {"status": "AUDIT_STATUS_DRAFT"},
    "now completed after it": {"completedOn": "2026-04-01", "lookbackFrom": "2026-04-01"},
    "regraded one step": {"overallGrade": "GRADE_MEETS_GOOD"},
}


@pytest.mark.parametrize("change", [*EARLIER, "unchanged"])
def test_gc16_and_gc17_read_the_earlier_audits_latest_revision(client: Client, change: str) -> None:
    """GC-16/GC-17 look at "an earlier completed audit of the same case" as its latest
    revision has it."""
    earlier = audit(overall="EXCEEDS_GOOD", completedOn="2026-01-10", lookbackFrom="2026-01-10")
    submit(client, earlier)
    submit(client, revise(earlier, **EARLIER.get(change, {})))
    later = submit(client, audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", caseRef=earlier.case_ref,
                                 completedOn="2026-03-02", lookbackFrom="2026-03-02"))
    swing = change == "unchanged"
    assert ("GC-16" in rule_ids(later)) is swing and bool(kinds(later, "GC-16")) is swing
    assert ("GC-17" in rule_ids(later)) is (change in ("unchanged", "regraded one step"))


@pytest.mark.parametrize(("graded", "moderated", "fires"), [
    ("MEETS_GOOD", K.GRADE_EXCEEDS_GOOD, True), ("EXCEEDS_GOOD", K.GRADE_MEETS_GOOD, False)])
def test_gc16_compares_the_earlier_audits_effective_grade(
        client: Client, graded: str, moderated: int, fires: bool) -> None:
    """GC-16: "an earlier completed audit of the same case has an effective grade two
    steps away"; effective = "the moderated grade if the audit was moderated"."""
    earlier = audit(overall=graded, completedOn="2026-01-10", lookbackFrom="2026-01-10")
    submit(client, earlier)
    moderate(client, earlier, moderated)
    later = submit(client, audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", caseRef=earlier.case_ref,
                                 completedOn="2026-03-02", lookbackFrom="2026-03-02",
                                 auditedPreviously=True))
    reviews = kinds(later, "GC-16")
    assert bool(reviews) is fires
    if fires:
        (review,) = reviews
        assert (review.kind, review.owner_role, review.due_on) == (
            K.ACTION_KIND_MODERATION_REVIEW, K.OWNER_ROLE_PRINCIPAL_SOCIAL_WORKER, "2026-03-30")


def test_moderating_an_audit_reruns_its_escalations(client: Client) -> None:
    """MO-01: "the effective grade changes and every escalation rule is re-run on it";
    ES-01: a moderation that lifts the effective grade withdraws the corrective
    action; GC-16 no longer finds a swing."""
    earlier = audit(overall="EXCEEDS_GOOD", completedOn="2026-01-10", lookbackFrom="2026-01-10")
    submit(client, earlier)
    later = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", caseRef=earlier.case_ref,
                  completedOn="2026-03-02", lookbackFrom="2026-03-02", auditedPreviously=True)
    saved = submit(client, later)
    assert kinds(saved, "ES-01") and kinds(saved, "GC-16")
    moderated = moderate(client, later, K.GRADE_MEETS_GOOD)
    assert "GC-16" not in rule_ids(moderated)
    (corrective,) = kinds(moderated, "ES-01")
    assert corrective.status == K.ACTION_STATUS_WITHDRAWN and corrective.withdrawn_reason


# ------------------------------------------------------------------ GC-18


def calibrated_area(client: Client, colleagues_on: list[str]) -> tuple[str, list[audit_pb2.CaseFileAudit]]:
    """A service area whose colleagues grade every audit good (one per date given)."""
    area = unique("SA")
    saved = []
    for i, day in enumerate(colleagues_on):
        message = audit(serviceArea=area, auditorId=f"colleague-{i % 3}", completedOn=day,
                        lookbackFrom=day)
        submit(client, message)
        saved.append(message)
    return area, saved


def harsh(client: Client, area: str, auditor: str, days: list[str]) -> audit_pb2.AuditEvaluation:
    """The auditor's audits, all below good; the evaluation of the last."""
    evaluation = None
    for day in days:
        evaluation = submit(client, audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", serviceArea=area,
                                          auditorId=auditor, completedOn=day, lookbackFrom=day))
    assert evaluation is not None
    return evaluation


@pytest.mark.parametrize(("change", "fires"), [
    ({"status": "AUDIT_STATUS_DRAFT"}, False),
    ({"serviceArea": unique("SA-elsewhere")}, False),
    ({"completedOn": "2025-08-01", "lookbackFrom": "2025-08-01"}, False),
    ({"overallGrade": "GRADE_DOES_NOT_MEET_GOOD"}, True),  # still counted: 9 of 10, gap 90
    ({}, True),
])
def test_calibration_counts_follow_revisions(client: Client, change: dict[str, Any], fires: bool) -> None:
    """GC-18 counts the completed audits of the service area in the window as their
    latest revision has them (the server's day counts)."""
    area, colleagues = calibrated_area(client, ["2026-03-01"] * 10)
    submit(client, revise(colleagues[0], **change))
    fifth = harsh(client, area, unique("harsh"), ["2026-03-02"] * 5)
    assert ("GC-18" in rule_ids(fifth)) is fires


@pytest.mark.parametrize(("oldest", "fires"), [("2026-02-28", True), ("2026-02-27", False)])
def test_the_calibration_window_is_six_calendar_months(client: Client, oldest: str, fires: bool) -> None:
    """GC-18: "within the 6 months up to this audit's completion": six calendar months
    before 2026-08-31 is 2026-02-28 (clamped to the month's end), and counts."""
    area, _ = calibrated_area(client, [oldest] + ["2026-05-01"] * 9)
    fifth = harsh(client, area, unique("harsh"), ["2026-08-31"] * 5)
    assert ("GC-18" in rule_ids(fifth)) is fires


def test_one_open_calibration_review_per_auditor(client: Client) -> None:
    """GC-18: "one open at a time per auditor", in whatever service area; once it is
    completed the next audit that meets the condition raises another."""
    auditor = unique("harsh")
    first_area, _ = calibrated_area(client, ["2026-03-01"] * 10)
    harsh(client, first_area, auditor, ["2026-03-02"] * 5)
    second_area, _ = calibrated_area(client, ["2026-03-01"] * 10)
    harsh(client, second_area, auditor, ["2026-03-02"] * 5)
    (review,) = listed(client, kinds=[K.ACTION_KIND_MODERATION_REVIEW],
                       owner_role=K.OWNER_ROLE_HEAD_OF_SAFEGUARDING, statuses=[K.ACTION_STATUS_OPEN],
                       service_area=first_area)
    assert review.subject_id == auditor and review.subject_type == K.SUBJECT_TYPE_AUDITOR
    assert listed(client, kinds=[K.ACTION_KIND_MODERATION_REVIEW], service_area=second_area) == []
    client.actions.CompleteAction(action_pb2.CompleteActionRequest(
        action_id=review.action_id, completed_by="hos-1", completed_on="2026-03-10"))
    after = harsh(client, second_area, auditor, ["2026-03-11"])
    (again,) = kinds(after, "GC-18")
    assert again.status == K.ACTION_STATUS_OPEN and again.action_id != review.action_id


# ------------------------------------------------------- order of saves
#
# rules.md dates every history rule ("within the 90 days up to this completion",
# "an earlier completed audit of the same case"), so the result follows dates, not
# the order saves arrive in: a save that changes what an earlier-dated audit says
# runs the rules of the later audits whose history holds it again, and raises what
# they ask for beyond what they asked for before the save (server/late.py).


def gained_findings(client: Client, audit_id: str) -> set[str]:
    """The rule ids of the findings GetAudit now shows for an audit."""
    got = client.audits.GetAudit(audit_pb2.GetAuditRequest(audit_id=audit_id))
    return rule_ids(got.evaluation)


def test_a_back_dated_concern_opens_the_deep_dive_date_order_would(client: Client) -> None:
    """In date order the 01-20 audit opens a deep dive (due 03-21) naming three cases;
    saved 01-20, 01-10, then 01-01, the last save opens it, as the 01-20 audit's."""
    area = unique("SA")
    messages = [concern(area, day) for day in ("2026-01-20", "2026-01-10", "2026-01-01")]
    for message in messages[:2]:
        submit(client, message)
    assert deep_dives(client, area) == []
    back_dated = submit(client, messages[2])
    assert kinds(back_dated, "ES-03") == []  # the 01-20 audit's action, not this one's
    (opened,) = deep_dives(client, area)
    assert opened.due_on == "2026-03-21" and opened.audit_id == messages[0].audit_id
    assert sorted(opened.detail.split("cases (")[1].split(";")[0].split(", ")) == sorted(
        m.case_ref for m in messages)
    # Resaving the latest audit finds it open: nothing new, the same action shown.
    (shown,) = kinds(submit(client, revise(messages[0])), "ES-03")
    assert shown.action_id == opened.action_id and len(deep_dives(client, area)) == 1


def test_a_back_dated_earlier_audit_raises_the_swing_date_order_would(client: Client) -> None:
    """In date order the 03-02 audit (DOES_NOT_MEET_GOOD) gets GC-16's moderation review
    after the 01-10 one (EXCEEDS_GOOD); saved the other way round, it gets it too."""
    later = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-03-02",
                  lookbackFrom="2026-03-02", auditedPreviously=True)
    submit(client, later)
    submit(client, audit(overall="EXCEEDS_GOOD", caseRef=later.case_ref, completedOn="2026-01-10",
                         lookbackFrom="2026-01-10"))
    (review,) = listed(client, audit_id=later.audit_id, kinds=[K.ACTION_KIND_MODERATION_REVIEW])
    assert (review.rule_id, review.owner_role, review.due_on) == (
        "GC-16", K.OWNER_ROLE_PRINCIPAL_SOCIAL_WORKER, "2026-03-30")
    assert "GC-16" in gained_findings(client, later.audit_id)


def test_moderating_an_earlier_audit_raises_the_swing_on_the_later_one(client: Client) -> None:
    """Moderated before the 03-02 audit was saved, the 01-10 audit's EXCEEDS_GOOD gives
    the later one GC-16's review; moderated after, it does too."""
    earlier = audit(overall="MEETS_GOOD", completedOn="2026-01-10", lookbackFrom="2026-01-10")
    submit(client, earlier)
    later = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", caseRef=earlier.case_ref,
                  completedOn="2026-03-02", lookbackFrom="2026-03-02", auditedPreviously=True)
    submit(client, later)
    assert listed(client, audit_id=later.audit_id, kinds=[K.ACTION_KIND_MODERATION_REVIEW]) == []
    moderate(client, earlier, K.GRADE_EXCEEDS_GOOD)
    assert listed(client, audit_id=later.audit_id, kinds=[K.ACTION_KIND_MODERATION_REVIEW])


def test_a_back_dated_save_that_opens_its_own_deep_dive_opens_no_second_one(client: Client) -> None:
    """01-01 and 01-02, then 04-10 and 04-20 (whose windows miss the first two): no deep
    dive. A back-dated 03-20 completes its own window (01-01, 01-02, itself): one deep
    dive, its own, due 60 days after it. It completes the 04-20 audit's window too
    (03-20, 04-10, 04-20); in date order that audit would have found it open."""
    area = unique("SA")
    for day in ("2026-01-01", "2026-01-02", "2026-04-10", "2026-04-20"):
        submit(client, concern(area, day))
    assert deep_dives(client, area) == []
    back_dated = concern(area, "2026-03-20")
    submit(client, back_dated)
    (opened,) = deep_dives(client, area)
    assert opened.audit_id == back_dated.audit_id and opened.due_on == "2026-05-19"


def test_two_later_audits_calling_for_one_deep_dive_open_it_once_from_the_earliest(
        client: Client) -> None:
    """04-01 (one case) and 04-10, 04-20 (another case, counted once): two cases in
    each window, no deep dive. A back-dated 03-20 (a third case) makes both windows
    hold three: one deep dive opens, the 04-10 audit's, due 06-09, as in date order
    (the 04-20 audit would then have found it open)."""
    area = unique("SA")
    submit(client, concern(area, "2026-04-01"))
    first = concern(area, "2026-04-10")
    submit(client, first)
    submit(client, concern(area, "2026-04-20", caseRef=first.case_ref))
    assert deep_dives(client, area) == []
    submit(client, concern(area, "2026-03-20"))
    (opened,) = deep_dives(client, area)
    assert opened.audit_id == first.audit_id and opened.due_on == "2026-06-09"


@pytest.mark.parametrize("change", [{}, {"strand": "STRAND_LOOKED_AFTER_AND_PERMANENCE"}])
def test_only_what_the_save_changed_is_raised(client: Client, change: dict[str, Any]) -> None:
    """Three audits in date order open the deep dive, which is then completed. A
    revision of the earliest, unchanged or with another strand (the later windows
    still hold three cases, before the save as after it), raises no new deep dive:
    the later audits asked for one before the save as they do after it."""
    area = unique("SA")
    messages = [concern(area, day) for day in ("2026-01-01", "2026-01-10", "2026-01-20")]
    for message in messages:
        submit(client, message)
    (opened,) = deep_dives(client, area)
    client.actions.CompleteAction(action_pb2.CompleteActionRequest(
        action_id=opened.action_id, completed_by="hos-1", completed_on="2026-02-01"))
    submit(client, revise(messages[0], **change))
    assert [a.action_id for a in deep_dives(client, area)] == [opened.action_id]


def test_a_revision_that_adds_a_concern_raises_what_it_adds(client: Client) -> None:
    """01-01 (PLANS), 01-10 (PLANS, REVIEWS), 01-20 (REVIEWS): two cases of each area in
    the 01-20 window, no deep dive. A revision of the 01-01 audit with REVIEWS below
    good too makes three for REVIEWS at 01-20: the deep dive it would have opened in
    date order, for REVIEWS only."""
    area = unique("SA")
    first = concern(area, "2026-01-01", "PLANS")
    submit(client, first)
    submit(client, concern(area, "2026-01-10", "PLANS", "REVIEWS"))
    latest = concern(area, "2026-01-20", "REVIEWS")
    submit(client, latest)
    assert deep_dives(client, area) == []
    submit(client, with_grade(first, "REVIEWS", K.GRADE_DOES_NOT_MEET_GOOD))
    (opened,) = deep_dives(client, area)
    assert opened.detail.split()[3] == "REVIEWS" and opened.audit_id == latest.audit_id
    assert opened.due_on == "2026-03-21"


def same_day_swing(client: Client) -> tuple[audit_pb2.CaseFileAudit, audit_pb2.AuditEvaluation]:
    """A DOES_NOT_MEET_GOOD audit of 03-02, then an EXCEEDS_GOOD one of its case on the
    same day: the first, and the evaluation of the second."""
    first = audit(("PLANS",), overall="DOES_NOT_MEET_GOOD", completedOn="2026-03-02",
                  lookbackFrom="2026-03-02", auditedPreviously=True)
    submit(client, first)
    second = submit(client, audit(overall="EXCEEDS_GOOD", caseRef=first.case_ref,
                                  completedOn="2026-03-02", lookbackFrom="2026-03-02",
                                  auditedPreviously=True))
    return first, second


def test_a_later_audit_of_the_same_day_is_decided_by_the_save_itself(client: Client) -> None:
    """Same day, same case: each audit is the other's earlier audit, and the one saved
    second sees the first. The swing is the second's (its own GC-16), once."""
    first, second = same_day_swing(client)
    assert len(kinds(second, "GC-16")) == 1
    assert listed(client, audit_id=first.audit_id, kinds=[K.ACTION_KIND_MODERATION_REVIEW]) == []


def test_a_back_dated_save_leaves_an_open_deep_dive_as_it_is(client: Client) -> None:
    """Three audits in date order open the deep dive (the third's, due 60 days after
    it); a fourth, back-dated, is in its window too, and changes nothing of it."""
    area = unique("SA")
    for day in ("2026-01-01", "2026-01-10", "2026-01-20"):
        submit(client, concern(area, day))
    (opened,) = deep_dives(client, area)
    submit(client, concern(area, "2026-01-05"))
    (still,) = deep_dives(client, area)
    assert still == opened


@pytest.mark.parametrize("back_dated_on", ["2026-01-10", "2026-01-18"])
def test_a_deep_dive_raised_for_a_later_date_covers_a_back_dated_concern_once_completed(
        client: Client, back_dated_on: str) -> None:
    """01-15, 01-20 and 02-05 (three cases): the 02-05 audit opens the deep dive, which
    is completed. A back-dated fourth case (01-10: it completes the 01-20 window; 01-18:
    its own window too) opens no second one: in date order the earlier audit would have
    opened it, and the 02-05 one found it open. A deep dive raised for an earlier date
    and completed does not count (the existing ES-03 test: the next concern opens another)."""
    area = unique("SA")
    for day in ("2026-01-15", "2026-01-20", "2026-02-05"):
        submit(client, concern(area, day))
    (opened,) = deep_dives(client, area)
    client.actions.CompleteAction(action_pb2.CompleteActionRequest(
        action_id=opened.action_id, completed_by="hos-1", completed_on="2026-03-01"))
    submit(client, concern(area, back_dated_on))
    assert [a.action_id for a in deep_dives(client, area)] == [opened.action_id]
