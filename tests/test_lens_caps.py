"""Lens scoring's caps when a council changes them (rules.md, "Lens scoring"; LS-04).

The cap grade is "this grade or worse", and a limiting lens limits when it is
INADEQUATE whatever the cap grade: both compared for equality with
``lens_area_cap_grade`` once, so with the cap grade set to REQUIRES_IMPROVEMENT
an INADEQUATE area capped nothing and an INADEQUATE limiting lens limited
nothing, with no LS-04 to say so."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from engine import RulesEngine
from engine.model import ReviewAction, ReviewInput, ReviewJudgement, ServiceReview
from tests.conftest import RULES


def engine_with(tmp_path: Path, **params: str) -> RulesEngine:
    """The project's rules with some one-line parameters changed (in a copy)."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "params.yaml"
    lines = path.read_text().splitlines()
    for name, value in params.items():
        assert any(line.startswith(f"{name}:") for line in lines), name
        lines = [f"{name}: {value}" if line.startswith(f"{name}:") else line for line in lines]
    path.write_text("\n".join(lines) + "\n")
    return RulesEngine.from_directory(rules)


def _review(engine: RulesEngine, grades: dict[str, list[str]]) -> ServiceReview:
    """A review judging every catalogue area; ``grades[lens]`` lists the lens's grades
    in catalogue order (a lens not listed is all OUTSTANDING). Every area has evidence
    and an action, so only the scoring (LS-04) is in question."""
    judgements = []
    for lens, areas in engine.ruleset.catalogue.items():
        given = grades.get(lens, ["OUTSTANDING"] * len(areas))
        assert len(given) == len(areas), lens
        judgements += [
            ReviewJudgement(lens, area, grade, evidence="evidence",
                            actions=(ReviewAction("act", "owner-1", date(2026, 12, 1)),))
            for area, grade in zip(areas, given, strict=True)
        ]
    return ServiceReview("REV-S10", 1, "SA-S10", date(2026, 4, 1), date(2026, 9, 30),
                         date(2026, 10, 21), tuple(judgements))


def test_a_limiting_lens_judged_inadequate_limits_whatever_the_area_cap_grade(
        tmp_path: Path) -> None:
    """rules.md: "the lens in [PROFESSIONAL_CHALLENGE] INADEQUATE -> INADEQUATE";
    params.yaml: "limiting_lenses: ... this lens INADEQUATE -> overall INADEQUATE".
    Only the list is a parameter. A council that makes an area judged
    REQUIRES_IMPROVEMENT cap its lens (lens_area_cap_grade: REQUIRES_IMPROVEMENT)
    still has a limiting lens."""
    engine = engine_with(tmp_path, lens_area_cap_grade="REQUIRES_IMPROVEMENT")
    review = _review(engine, {"PROFESSIONAL_CHALLENGE": ["INADEQUATE"] * 6})
    evaluation = engine.evaluate_review(ReviewInput(review))
    professional = next(s for s in evaluation.lens_scores if s.lens == "PROFESSIONAL_CHALLENGE")
    assert professional.judgement == "INADEQUATE"  # 1.0: the band says so, uncapped
    assert evaluation.overall is not None
    # Before the fix: overall 3.25 GOOD, limited_by "", no LS-04.
    assert evaluation.overall.judgement == "INADEQUATE", evaluation.overall
    assert evaluation.overall.limited_by == "limiting lens INADEQUATE: PROFESSIONAL_CHALLENGE"
    assert any(f.rule_id == "LS-04" for f in evaluation.findings)


def test_an_area_worse_than_the_cap_grade_caps_its_lens_too(tmp_path: Path) -> None:
    """rules.md: a lens is "then capped: any area of the lens INADEQUATE -> at most
    REQUIRES_IMPROVEMENT" ("the bands and caps" are the rule author's to change).
    With lens_area_cap_grade REQUIRES_IMPROVEMENT and lens_cap_judgement GOOD,
    CITIZEN_CHALLENGE with six OUTSTANDING areas and one REQUIRES_IMPROVEMENT is
    capped at GOOD (LS-04 fires); the same lens with one INADEQUATE area instead
    stayed OUTSTANDING, uncapped, with no LS-04."""
    engine = engine_with(tmp_path, lens_area_cap_grade="REQUIRES_IMPROVEMENT",
                          lens_cap_judgement="GOOD")

    last_area = engine.ruleset.catalogue["CITIZEN_CHALLENGE"][-1]

    def citizen(worst: str) -> tuple[str | None, str, bool]:
        review = _review(engine, {"CITIZEN_CHALLENGE": ["OUTSTANDING"] * 6 + [worst]})
        evaluation = engine.evaluate_review(ReviewInput(review))
        lens = next(s for s in evaluation.lens_scores if s.lens == "CITIZEN_CHALLENGE")
        capped = any(f.rule_id == "LS-04" and "CITIZEN_CHALLENGE" in f.message
                     for f in evaluation.findings)
        return lens.judgement, lens.limited_by, capped

    limited_by = f"REQUIRES_IMPROVEMENT or worse area: {last_area}"
    assert citizen("REQUIRES_IMPROVEMENT") == ("GOOD", limited_by, True)  # 3.71, capped
    # Before the fix: ("OUTSTANDING", "", False) - 3.57, the INADEQUATE area capped nothing.
    assert citizen("INADEQUATE") == ("GOOD", limited_by, True)
