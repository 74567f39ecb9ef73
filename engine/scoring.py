"""Lens scoring of a service performance review (rules.md, "Lens scoring").

Points, bands and caps all come from ``params.yaml``:

- ``lens_points``: points per Ofsted grade;
- ``lens_bands``: ``[{min_score, judgement}]``, highest first; below the last
  band the judgement is ``lens_floor_judgement``;
- an area of a lens judged ``lens_area_cap_grade`` or worse caps that lens at
  ``lens_cap_judgement``; a lens judged ``lens_area_cap_grade`` or worse caps
  the overall likewise ("or worse": with the cap grade set to
  REQUIRES_IMPROVEMENT, an INADEQUATE area must not cap less than a
  REQUIRES_IMPROVEMENT one);
- a lens in ``limiting_lenses`` judged INADEQUATE makes the overall INADEQUATE
  whatever the cap grade (rules.md: only the list is a parameter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .model import OFSTED_GRADES, LensScore, ReviewJudgement

OVERALL = "OVERALL"
INADEQUATE = "INADEQUATE"  # what a limiting lens must be judged to limit, and limits to


def _band(score: float, params: Mapping[str, Any]) -> str:
    for band in params["lens_bands"]:
        if score >= band["min_score"]:
            return str(band["judgement"])
    return str(params["lens_floor_judgement"])


def _rank(judgement: str) -> int:
    """Higher for a better grade: Ofsted's order, not ``lens_points``, which a rule
    author may set to any numbers (0.25 .. 1 would all be rank 0 if truncated)."""
    return len(OFSTED_GRADES) - OFSTED_GRADES.index(judgement)


def _at_or_below(judgement: str | None, grade: str) -> bool:
    """``judgement`` is ``grade`` or a worse one (never so when there is none)."""
    return judgement is not None and _rank(judgement) <= _rank(grade)


def _cap_label(params: Mapping[str, Any]) -> str:
    """What capped, as ``limited_by`` names it: "INADEQUATE" (the default cap grade,
    the worst there is), else e.g. "REQUIRES_IMPROVEMENT or worse"."""
    cap_grade = str(params["lens_area_cap_grade"])
    return cap_grade if cap_grade == INADEQUATE else f"{cap_grade} or worse"


def _cap(judgement: str, ceiling: str) -> str:
    """``judgement`` lowered to ``ceiling`` if it is above it ("at most ``ceiling``")."""
    return ceiling if _rank(judgement) > _rank(ceiling) else judgement


def score_lens(lens: str, judgements: Sequence[ReviewJudgement], params: Mapping[str, Any]) -> LensScore:
    """Mean points of the lens's judged areas, banded, then capped."""
    graded = [j for j in judgements if j.lens == lens and j.grade is not None]
    if not graded:
        return LensScore(lens, 0.0, None)
    points = params["lens_points"]
    score = round(sum(points[j.grade] for j in graded) / len(graded), 4)
    judgement = _band(score, params)
    capping = sorted(j.judgement_area for j in graded
                     if _at_or_below(j.grade, params["lens_area_cap_grade"]))
    capped = _cap(judgement, params["lens_cap_judgement"])
    limited_by = ""
    if capping and capped != judgement:
        limited_by = f"{_cap_label(params)} area: {', '.join(capping)}"
        judgement = capped
    return LensScore(lens, score, judgement, limited_by)


def score_overall(lenses: Sequence[LensScore], params: Mapping[str, Any]) -> LensScore:
    """Mean of the lens scores, banded, then capped by inadequate or limiting lenses."""
    scored = [s for s in lenses if s.judgement is not None]
    if not scored:
        return LensScore(OVERALL, 0.0, None)
    score = round(sum(s.score for s in scored) / len(scored), 4)
    judgement = _band(score, params)
    limiting = sorted(s.lens for s in scored if s.lens in params["limiting_lenses"]
                      and s.judgement == INADEQUATE)
    weak = sorted(s.lens for s in scored
                  if _at_or_below(s.judgement, params["lens_area_cap_grade"]))
    if limiting and judgement != INADEQUATE:
        return LensScore(OVERALL, score, INADEQUATE, f"limiting lens {INADEQUATE}: {', '.join(limiting)}")
    capped = _cap(judgement, params["lens_cap_judgement"])
    if weak and capped != judgement:
        return LensScore(OVERALL, score, capped, f"lens {_cap_label(params)}: {', '.join(weak)}")
    return LensScore(OVERALL, score, judgement)


def score_review(
    judgements: Sequence[ReviewJudgement], lenses: Sequence[str], params: Mapping[str, Any]
) -> tuple[list[LensScore], LensScore]:
    """Each lens's score and the overall score."""
    scores = [score_lens(lens, judgements, params) for lens in lenses]
    return scores, score_overall(scores, params)
