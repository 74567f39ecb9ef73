"""The monthly compendium as a report: text, JSON, CSV, or a self-contained HTML
page with charts (``lenses report``).

The data comes from the store (see ``server.reviews``); this module only
presents it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lenses.v1 import review_pb2


@dataclass
class ReportData:
    """Everything the report shows for one month."""

    month: str  # YYYY-MM
    compendium: review_pb2.Compendium
    # service area -> lens (INDEPENDENT_CHALLENGE, PROVIDER_CHALLENGE, PROFESSIONAL_CHALLENGE,
    # CITIZEN_CHALLENGE) -> score 1..4 of the area's latest review panel (missing if never reviewed)
    lens_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    # service area -> the date (YYYY-MM-DD) of the review panel those scores come from
    review_dates: dict[str, str] = field(default_factory=dict)
    # the twelve months up to ``month``: (YYYY-MM, corrective actions due that month,
    # of which completed on or before their due date)
    on_time: list[tuple[str, int, int]] = field(default_factory=list)
