"""The monthly compendium as a report: text, JSON, CSV, or a self-contained HTML
page with charts (``lenses report``).

The data comes from the store (see ``server.reviews``); this module only
presents it. The HTML page has no script and loads nothing: its charts are
matplotlib SVG inlined into the page, text drawn as paths (no fonts).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from google.protobuf import json_format

from lenses.v1 import common_pb2, review_pb2


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


# --------------------------------------------------------------------------- vocabulary

LENSES = ("INDEPENDENT_CHALLENGE", "PROVIDER_CHALLENGE", "PROFESSIONAL_CHALLENGE", "CITIZEN_CHALLENGE")
LENS_QUESTIONS = {
    "INDEPENDENT_CHALLENGE": "what our performance data tells us",
    "PROVIDER_CHALLENGE": "how our providers perform",
    "PROFESSIONAL_CHALLENGE": "our own reviews and feedback from others",
    "CITIZEN_CHALLENGE": "what those we help tell us",
}
# The audit tool's twelve questions, shortened (domain.md).
AREA_QUESTIONS = {
    "RISK": "Risk is identified, responded to and reduced in a timely way",
    "INVOLVEMENT": "Children, young people and families are involved; seen, seen alone; voice heard",
    "DECISION_MAKING": "Decision making is effective and timely; management oversight; recording",
    "ASSESSMENT": "Assessments are timely, comprehensive, analytical, of high quality",
    "COORDINATION": "Coordination between agencies is effective",
    "DIVERSITY": "Consideration and impact of diversity",
    "PLANS": "Quality of plans",
    "PERMANENCE": "Permanence is achieved without delay and reflects assessed needs",
    "REVIEWS": "Children participate in and benefit from effective regular reviews",
    "PLACEMENT": "Quality of placement (at home or looked after)",
    "INDEPENDENCE": "Young people are prepared for independence and well accommodated",
    "OUTCOMES": "How the help provided has improved outcomes",
}
GRADE_FIELDS = ("exceeds_good", "meets_good", "does_not_meet_good", "not_applicable")
GRADE_LABELS = ("Exceeds good", "Meets good", "Does not meet good", "Not applicable")
OFSTED_SCALE = {1: "Inadequate", 2: "Requires improvement", 3: "Good", 4: "Outstanding"}

# Colours (print well, distinguishable without colour vision for the main pair).
NAVY = "#1f3b5b"
INK = "#1d2530"
MUTED = "#5b6675"
GRID = "#d5dae1"
GRADE_COLOURS = ("#1a7f5a", "#8fcfa9", "#d95f3b", "#c8ccd2")
ON_TIME = "#1a7f5a"
LATE = "#e6a23c"
RADAR = "#2b6cb0"


def _words(name: str, prefix: str = "") -> str:
    """An enum value as readable words: AREA_DECISION_MAKING -> "Decision making"."""
    text = name.removeprefix(prefix).replace("_", " ").lower()
    return text[:1].upper() + text[1:]


def _area_code(area: int) -> str:
    return common_pb2.Area.Name(area).removeprefix("AREA_") if area in common_pb2.Area.values() else str(area)


def area_words(area: int) -> str:
    """An ``Area`` value as words, e.g. "Decision making"."""
    return _words(_area_code(area))


def _lens_code(key: str) -> str:
    return key.upper().removeprefix("LENS_")


def lens_words(key: str) -> str:
    """A lens key (INDEPENDENT_CHALLENGE or LENS_INDEPENDENT_CHALLENGE) as words."""
    return _words(_lens_code(key))


def month_words(month: str) -> str:
    """2025-03 -> "March 2025" (the text itself when it is not a month)."""
    try:
        return date.fromisoformat(month + "-01").strftime("%B %Y")
    except ValueError:
        return month


def _short_month(month: str) -> str:
    try:
        return date.fromisoformat(month + "-01").strftime("%b %y")
    except ValueError:
        return month


def date_words(day: str) -> str:
    """2025-01-14 -> "14 January 2025"."""
    try:
        d = date.fromisoformat(day)
    except ValueError:
        return day
    return f"{d.day} {d.strftime('%B %Y')}"


def _score(value: float) -> str:
    """A lens score: 3 -> "3.0", 3.25 -> "3.25", 2.333 -> "2.33"."""
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def _ratio(part: int, whole: int) -> str:
    return _pct(part / whole) if whole else "–"


def _good_count(ind: review_pb2.LensIndicators) -> int:
    return round(ind.audits_good_or_better_share * ind.audits_completed)


def _lens_scores(data: ReportData, area: str) -> dict[str, float]:
    return {_lens_code(k): v for k, v in data.lens_scores.get(area, {}).items()}


def _review_areas(data: ReportData) -> list[str]:
    areas = [sa.service_area for sa in data.compendium.service_areas]
    return areas + sorted(a for a in data.lens_scores if a not in areas)


# --------------------------------------------------------------------------- totals


@dataclass
class _Totals:
    audits: int = 0
    good: int = 0
    ca_due: int = 0
    ca_on_time: int = 0
    ca_overdue: int = 0
    deep_dives: int = 0
    red: int = 0
    amber: int = 0
    green: int = 0
    placements: int = 0
    placements_good: float = 0.0


def _totals(data: ReportData) -> _Totals:
    t = _Totals()
    for sa in data.compendium.service_areas:
        i = sa.indicators
        t.audits += i.audits_completed
        t.good += _good_count(i)
        t.ca_due += i.corrective_actions_due
        t.ca_on_time += i.corrective_actions_completed_on_time
        t.ca_overdue += i.corrective_actions_overdue
        t.deep_dives += i.open_deep_dives
        t.red += i.plan_ratings_red
        t.amber += i.plan_ratings_amber
        t.green += i.plan_ratings_green
        t.placements += i.active_placements
        t.placements_good += i.placements_good_or_outstanding_share * i.active_placements
    return t


def _grade_mix(data: ReportData) -> dict[str, list[int]]:
    """Audit area code -> [exceeds, meets, does not meet, n/a], summed over service areas."""
    mix = {code: [0, 0, 0, 0] for code in AREA_QUESTIONS}
    for sa in data.compendium.service_areas:
        for counts in sa.indicators.area_grade_counts:
            row = mix.setdefault(_area_code(counts.area), [0, 0, 0, 0])
            for k, name in enumerate(GRADE_FIELDS):
                row[k] += getattr(counts, name)
    return mix


def _summary_lines(data: ReportData, sa: review_pb2.ServiceAreaIndicators) -> list[str]:
    """The short summary of one service area, one sentence a line."""
    i = sa.indicators
    lines = []
    if i.audits_completed:
        lines.append(f"{i.audits_completed} audits completed; {_good_count(i)} "
                     f"({_pct(i.audits_good_or_better_share)}) at least good.")
    else:
        lines.append("No audits completed this month.")
    lines.append(f"Corrective actions: {i.corrective_actions_due} due, "
                 f"{i.corrective_actions_completed_on_time} completed on time, "
                 f"{i.corrective_actions_overdue} overdue.")
    lines.append(f"Deep dive audits open: {i.open_deep_dives}.")
    lines.append(f"Plan ratings: {i.plan_ratings_red} red, {i.plan_ratings_amber} amber, "
                 f"{i.plan_ratings_green} green.")
    if i.active_placements:
        lines.append(f"{i.active_placements} active placements, "
                     f"{_pct(i.placements_good_or_outstanding_share)} in good or outstanding provision.")
    else:
        lines.append("No active placements.")
    # Open actions about every provider a child is placed with, not only inadequate ones.
    lines.append(f"Providers rated inadequate: {i.providers_inadequate}. Open actions about "
                 f"the providers children are placed with: {i.open_provider_actions}.")
    if i.top_areas_below_good:
        lines.append("Most often below good: "
                     + ", ".join(area_words(a) for a in i.top_areas_below_good) + ".")
    day = data.review_dates.get(sa.service_area)
    if _lens_scores(data, sa.service_area):
        when = f" (panel {date_words(day)})" if day else ""
        lines.append(f"Latest four-lenses review{when}: "
                     + ", ".join(f"{lens_words(k)} {_score(v)}"
                                 for k, v in _ordered_scores(_lens_scores(data, sa.service_area))) + ".")
    else:
        lines.append("No service performance review on record.")
    return lines


def _ordered_scores(scores: dict[str, float]) -> list[tuple[str, float]]:
    return [(k, scores[k]) for k in LENSES if k in scores] + sorted(
        (k, v) for k, v in scores.items() if k not in LENSES)


# --------------------------------------------------------------------------- text

TEAM_COLUMNS = ("Team", "Audits", "Good+", "CA due", "On time", "Overdue", "Deep dives",
                "R", "A", "G", "Placed", "Good/Outst.", "Inadequate", "Most often below good")


def _team_row(name: str, i: review_pb2.LensIndicators) -> list[str]:
    return [name, str(i.audits_completed),
            _pct(i.audits_good_or_better_share) if i.audits_completed else "–",
            str(i.corrective_actions_due), str(i.corrective_actions_completed_on_time),
            str(i.corrective_actions_overdue), str(i.open_deep_dives),
            str(i.plan_ratings_red), str(i.plan_ratings_amber), str(i.plan_ratings_green),
            str(i.active_placements),
            _pct(i.placements_good_or_outstanding_share) if i.active_placements else "–",
            str(i.providers_inadequate),
            ", ".join(area_words(a) for a in i.top_areas_below_good) or "–"]


_NUMERIC = re.compile(r"[\d.,%–-]*")


def _text_table(header: Iterable[str], rows: list[list[str]]) -> list[str]:
    """A plain-text table: numeric columns right-aligned, others left-aligned."""
    table = [list(header), *rows]
    columns = range(len(table[0]))
    widths = [max(len(r[c]) for r in table) for c in columns]
    left = [not all(_NUMERIC.fullmatch(r[c]) for r in rows) for c in columns]

    def line(row: list[str]) -> str:
        cells = [cell.ljust(w) if left[c] else cell.rjust(w)
                 for c, (cell, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()

    return [line(table[0]), "  ".join("-" * w for w in widths), *(line(r) for r in table[1:])]


def _heading(text: str, char: str) -> list[str]:
    return [text, char * len(text)]


def render_text(data: ReportData) -> str:
    """The compendium as plain text (a terminal or an email)."""
    out: list[str] = []
    out += _heading(f"Monthly performance compendium: {month_words(data.month)}", "=")
    areas = data.compendium.service_areas
    t = _totals(data)
    out += ["", *_heading("At a glance", "-")]
    if not areas:
        out.append("No service area has data for this month.")
    else:
        out.append(f"Service areas: {len(areas)}")
        out.append(f"Audits completed: {t.audits}; at least good: {t.good} ({_ratio(t.good, t.audits)})")
        out.append(f"Corrective actions due: {t.ca_due}; completed on time: {t.ca_on_time} "
                   f"({_ratio(t.ca_on_time, t.ca_due)}); overdue: {t.ca_overdue}")
        out.append(f"Open deep dives: {t.deep_dives}")
        out.append(f"Plan ratings: {t.red} red, {t.amber} amber, {t.green} green")
        out.append(f"Active placements: {t.placements}; in good or outstanding provision: "
                   f"{_ratio(round(t.placements_good), t.placements)}")

    out += ["", *_heading("QA Matters: themes", "-")]
    if data.compendium.themes:
        for n, theme in enumerate(data.compendium.themes, 1):
            out.append(f"{n}. {area_words(theme.area)}: {theme.below_good_count} audits below good"
                       f" ({AREA_QUESTIONS.get(_area_code(theme.area), '')})".replace(" ()", ""))
    else:
        out.append("No area was graded below good this month.")

    for sa in areas:
        out += ["", *_heading(f"Service area: {sa.service_area}", "-")]
        out += [f"- {line}" for line in _summary_lines(data, sa)]
        out.append("")
        rows = [_team_row(team.team, team.indicators) for team in sa.teams]
        rows.append(_team_row("Service area total", sa.indicators))
        out += _text_table(TEAM_COLUMNS, rows)

    out += ["", *_heading("Audit grades by area (all service areas)", "-")]
    mix = _grade_mix(data)
    out += _text_table(("Area", *GRADE_LABELS, "Good+"),
                       [[_words(code), *(str(n) for n in counts),
                         _ratio(counts[0] + counts[1], sum(counts[:3]))]
                        for code, counts in mix.items()])

    out += ["", *_heading("Four lenses: latest service reviews", "-")]
    review_rows = []
    for area in _review_areas(data):
        scores = _lens_scores(data, area)
        if scores:
            review_rows.append([area, date_words(data.review_dates.get(area, "")) or "–",
                                *(_score(scores[k]) if k in scores else "–" for k in LENSES)])
        else:
            review_rows.append([area, "no review on record", *("–" for _ in LENSES)])
    if review_rows:
        out += _text_table(("Service area", "Panel", *(lens_words(k) for k in LENSES)), review_rows)
    else:
        out.append("No service area.")

    out += ["", *_heading("Corrective actions completed on time, by month", "-")]
    if data.on_time:
        out += _text_table(("Month", "Due", "On time", "Share"),
                           [[month_words(m), str(due), str(ok), _ratio(ok, due)]
                            for m, due, ok in data.on_time])
    else:
        out.append("No corrective actions in the last twelve months.")
    out += ["", "Counts only: no child is named or identified in this report."]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- JSON / CSV


def _lens_enum_name(key: str) -> str:
    return "LENS_" + _lens_code(key)


def render_json(data: ReportData) -> str:
    """One JSON object: the compendium in the proto3 JSON mapping (every field, defaults
    included) plus ``lensScores`` (service area -> LENS_* -> score), ``reviewDates``
    (service area -> YYYY-MM-DD) and ``onTime`` ([{month, due, completedOnTime}])."""
    obj: dict[str, Any] = json_format.MessageToDict(
        data.compendium, always_print_fields_with_no_presence=True)
    obj["month"] = obj.get("month") or data.month
    obj["lensScores"] = {area: {_lens_enum_name(k): v for k, v in _ordered_scores(_lens_scores(data, area))}
                         for area in data.lens_scores}
    obj["reviewDates"] = dict(data.review_dates)
    obj["onTime"] = [{"month": m, "due": due, "completedOnTime": ok} for m, due, ok in data.on_time]
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


_SKIP_CSV = {"service_area", "period_start", "period_end", "area_grade_counts", "top_areas_below_good"}


def _number_fields() -> list[str]:
    return [f.name for f in review_pb2.LensIndicators.DESCRIPTOR.fields if f.name not in _SKIP_CSV]


def csv_header() -> list[str]:
    """Columns of ``render_csv``."""
    grade_cols = [f"{code.lower()}_{g}" for code in AREA_QUESTIONS for g in GRADE_FIELDS]
    return ["month", "service_area", "team", "period_start", "period_end", *_number_fields(),
            "top_areas_below_good", *grade_cols]


def _csv_row(month: str, area: str, team: str, i: review_pb2.LensIndicators) -> list[Any]:
    numbers = []
    for name in _number_fields():
        value = getattr(i, name)
        numbers.append(round(value, 4) if isinstance(value, float) else value)
    counts = {_area_code(c.area): c for c in i.area_grade_counts}
    grades = [getattr(counts[code], g) if code in counts else 0
              for code in AREA_QUESTIONS for g in GRADE_FIELDS]
    return [month, area, team, i.period_start, i.period_end, *numbers,
            ";".join(common_pb2.Area.Name(a) if a in common_pb2.Area.values() else str(a)
                     for a in i.top_areas_below_good), *grades]


def render_csv(data: ReportData) -> str:
    """One row per service area (team '') and per team: the month, the names, the period and
    every LensIndicators number; top areas as AREA_* names joined by ';'; then the grade
    counts per audit area (``risk_exceeds_good`` ...)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(csv_header())
    for sa in data.compendium.service_areas:
        writer.writerow(_csv_row(data.month, sa.service_area, "", sa.indicators))
        for team in sa.teams:
            writer.writerow(_csv_row(data.month, sa.service_area, team.team, team.indicators))
    return buf.getvalue()


# --------------------------------------------------------------------------- charts (SVG)

_RC: Any = {  # rcParams of every chart
    "svg.fonttype": "path",
    "svg.hashsalt": "lenses-report",
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.edgecolor": GRID,
    "axes.labelcolor": MUTED,
    "axes.titlecolor": INK,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "text.color": INK,
}


def _svg(fig: Any, prefix: str, max_width: int | None = None) -> str:
    """A figure as an SVG element to inline: no XML prolog, comments, metadata or
    namespace URLs; every id prefixed so that several charts share one page."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    svg = svg.replace("xlink:href=", "href=")
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    if ids:
        pattern = re.compile(r'(\bid="|href="#|url\(#)(' + "|".join(map(re.escape, ids)) + r')(?=[")])')
        svg = pattern.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    style = f' style="max-width: {max_width}px; margin: 0 auto"' if max_width else ""
    svg = re.sub(r"<svg\b", f'<svg role="img" focusable="false" aria-hidden="true"{style}', svg, count=1)
    return svg.strip()


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _style_axes(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)


def grade_mix_svg(data: ReportData) -> str:
    """Stacked horizontal bars: the grade mix of each of the twelve audit areas."""
    import matplotlib as mpl

    mix = _grade_mix(data)
    codes = list(mix)
    with mpl.rc_context(_RC):
        fig = _figure(10, 0.36 * len(codes) + 1.3)
        ax = fig.add_subplot()
        _style_axes(ax)
        ys = range(len(codes))
        left = [0] * len(codes)
        total_max = max((sum(c) for c in mix.values()), default=0) or 1
        for k, (label, colour) in enumerate(zip(GRADE_LABELS, GRADE_COLOURS, strict=True)):
            widths = [mix[c][k] for c in codes]
            bars = ax.barh(ys, widths, left=left, color=colour, label=label, height=0.68,
                           edgecolor="white", linewidth=0.8)
            for bar, w in zip(bars, widths, strict=True):
                if w and w / total_max > 0.035:
                    ax.text(bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2, str(w),
                            ha="center", va="center", fontsize=8.5,
                            color="white" if k in (0, 2) else INK)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        for y, code in zip(ys, codes, strict=True):
            ex, meets, below, _na = mix[code]
            graded = ex + meets + below
            ax.text(left[y] + total_max * 0.012, y, f"{_ratio(ex + meets, graded)} good+" if graded else "",
                    va="center", fontsize=8.5, color=MUTED)
        ax.set_yticks(list(ys), [_words(c) for c in codes])
        ax.invert_yaxis()
        ax.set_xlim(0, total_max * 1.12)
        ax.set_xlabel("Completed audits grading the area")
        ax.xaxis.grid(True, color=GRID, linewidth=0.6)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_axisbelow(True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=4, frameon=False, fontsize=9)
        return _svg(fig, "gm")


def lens_radar_svg(data: ReportData) -> str:
    """One radar (polar) chart per service area: the latest review's four lens scores."""
    import matplotlib as mpl

    areas = _review_areas(data) or ["(no service area)"]
    cols = min(len(areas), 3)
    rows = math.ceil(len(areas) / cols)
    angles = [2 * math.pi * k / len(LENSES) for k in range(len(LENSES))]
    labels = ["\n".join(textwrap.wrap(lens_words(k), 12)) for k in LENSES]
    with mpl.rc_context(_RC):
        fig = _figure(3.4 * cols + 0.6, 3.8 * rows)
        for n, area in enumerate(areas):
            ax = fig.add_subplot(rows, cols, n + 1, projection="polar")
            ax.set_theta_offset(math.pi / 2)  # first lens at the top, then clockwise
            ax.set_theta_direction(-1)
            ax.set_xticks(angles, labels, fontsize=8.5)
            ax.set_xlim(0, 2 * math.pi)
            ax.set_ylim(0, 4)
            ax.tick_params(axis="x", pad=6)
            for label, angle in zip(ax.get_xticklabels(), angles, strict=True):
                side = math.sin(angle)  # clockwise from the top: > 0 on the right
                label.set_horizontalalignment("left" if side > 0.1 else "right" if side < -0.1 else "center")
            ax.grid(color=GRID, linewidth=0.7)
            ax.spines["polar"].set_color(GRID)
            scores = _lens_scores(data, area)
            title = "\n".join(textwrap.wrap(area, 32)[:2])
            ring = [*angles, angles[0]]
            if scores:
                ax.set_yticks([1, 2, 3, 4], ["1", "2", "3", "4"], fontsize=7, color=MUTED)
                ax.set_rlabel_position(45)
                values = [scores.get(k, 0.0) for k in LENSES]
                circle = [2 * math.pi * k / 120 for k in range(121)]
                ax.plot(circle, [3] * len(circle), color=GRADE_COLOURS[0], linewidth=1.1, linestyle="--")
                ax.fill(ring, [*values, values[0]], color=RADAR, alpha=0.22)
                ax.plot(ring, [*values, values[0]], color=RADAR, linewidth=2)
                ax.plot(angles, values, "o", color=RADAR, markersize=4)
                for a, v in zip(angles, values, strict=True):
                    ax.annotate(_score(v), (a, v), xytext=(0, 0), textcoords="offset points",
                                ha="center", va="center", fontsize=8, color="white", fontweight="bold",
                                bbox={"boxstyle": "round,pad=0.25", "facecolor": RADAR, "edgecolor": "none"})
                day = data.review_dates.get(area)
                subtitle = f"Review panel {date_words(day)}" if day else "Latest review"
            else:
                ax.set_yticks([1, 2, 3, 4], [])
                ax.text(0, 0, "No review\non record", ha="center", va="center", fontsize=10,
                        color=MUTED, fontstyle="italic",
                        bbox={"boxstyle": "round,pad=0.5", "facecolor": "white", "edgecolor": GRID})
                subtitle = "No service performance review"
            ax.set_title(title, fontsize=10.5, fontweight="bold", pad=50)
            ax.annotate(subtitle, (0.5, 1.0), xycoords="axes fraction", xytext=(0, 36),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8.5,
                        color=MUTED).set_in_layout(False)
        return _svg(fig, "lr", max_width=round(fig.get_figwidth() * 110))


def on_time_svg(data: ReportData) -> str:
    """Bars per month: corrective actions due, split into completed on time and not."""
    import matplotlib as mpl

    series = data.on_time or [(data.month, 0, 0)]
    xs = range(len(series))
    on_time = [ok for _, _, ok in series]
    late = [max(due - ok, 0) for _, due, ok in series]
    top = max((due for _, due, _ in series), default=0) or 1
    with mpl.rc_context(_RC):
        fig = _figure(10, 3.6)
        ax = fig.add_subplot()
        _style_axes(ax)
        ax.bar(xs, on_time, color=ON_TIME, width=0.62, label="Completed on time")
        ax.bar(xs, late, bottom=on_time, color=LATE, width=0.62, label="Not completed on time")
        for x, (_, due, ok) in zip(xs, series, strict=True):
            ax.text(x, due + top * 0.03, _ratio(ok, due) if due else "none due", ha="center", va="bottom",
                    fontsize=8.5, color=INK if due else MUTED)
        ax.set_xticks(list(xs), [_short_month(m) for m, _, _ in series], fontsize=8.5)
        ax.tick_params(axis="y", labelsize=8.5)
        ax.set_ylim(0, top * 1.18)
        ax.set_ylabel("Corrective actions due")
        ax.yaxis.grid(True, color=GRID, linewidth=0.6)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_axisbelow(True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False, fontsize=9)
        return _svg(fig, "ot")


# --------------------------------------------------------------------------- HTML

_CSS = """
:root { --ink: #1d2530; --muted: #5b6675; --navy: #1f3b5b; --line: #d5dae1; --band: #f3f5f8;
        --green: #1a7f5a; --amber: #c98410; --red: #c0392b; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: #fff; color: var(--ink);
       font: 15px/1.5 "Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 0 32px 40px; }
header.title { background: var(--navy); color: #fff; padding: 28px 0 22px; margin-bottom: 8px; }
header.title .inner { max-width: 1120px; margin: 0 auto; padding: 0 32px; }
header.title p { margin: 2px 0; color: #d6e0ec; }
header.title .kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: #a9bdd3; }
h1 { font-size: 30px; line-height: 1.2; margin: 4px 0 6px; font-weight: 650; }
h2 { font-size: 21px; color: var(--navy); margin: 36px 0 10px; padding-bottom: 6px;
     border-bottom: 2px solid var(--navy); break-after: avoid; }
h3 { font-size: 16px; margin: 18px 0 6px; color: var(--navy); break-after: avoid; }
p.lead { color: var(--muted); margin: 4px 0 14px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(165px, 1fr)); gap: 12px;
         margin: 16px 0 8px; }
.tile { border: 1px solid var(--line); border-top: 4px solid var(--navy); border-radius: 4px;
        padding: 10px 14px 12px; background: #fff; break-inside: avoid; }
.tile .value { font-size: 28px; font-weight: 650; line-height: 1.15; font-variant-numeric: tabular-nums; }
.tile .label { font-size: 13px; color: var(--muted); }
.tile.good { border-top-color: var(--green); } .tile.warn { border-top-color: var(--amber); }
.tile.bad { border-top-color: var(--red); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 13.5px;
        font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); font-size: 13px; padding: 0 0 6px; caption-side: top; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: var(--band); color: var(--navy); font-weight: 600; text-align: right;
           vertical-align: bottom; border-bottom: 2px solid var(--line); }
thead tr + tr th { white-space: nowrap; }
thead th.group { text-align: center; border-bottom: 1px solid var(--line); }
th.name, td.name, thead th.name, td.text, thead th.text { text-align: left; }
td.name { min-width: 11em; font-weight: 500; }
td.themes { font-size: 12.5px; min-width: 11em; }
td.rags { white-space: nowrap; }
td { text-align: right; }
tbody tr:nth-child(even) td { background: #fafbfc; }
tr.total td { font-weight: 650; border-top: 2px solid var(--navy); background: #fff !important; }
.num-bad { color: var(--red); font-weight: 650; }
.rag { display: inline-block; min-width: 1.9em; padding: 0 6px; border-radius: 9px; text-align: center;
       font-size: 12.5px; font-weight: 600; }
.rag.r { background: #f6d5d1; color: #8e2418; } .rag.a { background: #fbe7c4; color: #7a4f05; }
.rag.g { background: #d3ecdf; color: #0f5a3e; }
section.area { margin-top: 8px; }
.area-summary { display: grid; grid-template-columns: 1fr 1fr; gap: 0 28px; margin: 6px 0 10px; padding: 0;
                list-style: none; }
.area-summary li { padding: 5px 0 5px 14px; border-bottom: 1px dotted var(--line); position: relative; }
.area-summary li::before { content: ""; position: absolute; left: 0; top: 14px; width: 6px; height: 6px;
                           background: var(--navy); border-radius: 50%; }
figure.chart { margin: 10px 0 6px; padding: 12px 14px 8px; border: 1px solid var(--line); border-radius: 4px;
               background: #fff; break-inside: avoid; }
figure.chart svg { display: block; width: 100%; height: auto; }
figure.chart figcaption { font-size: 13px; color: var(--muted); margin-top: 4px; }
ol.themes { margin: 8px 0; padding-left: 0; list-style: none; counter-reset: theme; }
ol.themes li { counter-increment: theme; display: grid; grid-template-columns: 34px 1fr auto; gap: 12px;
               align-items: baseline; padding: 8px 0; border-bottom: 1px solid var(--line); }
ol.themes li::before { content: counter(theme); font-weight: 700; color: #fff; background: var(--red);
                       border-radius: 50%; width: 26px; height: 26px; line-height: 26px; text-align: center; }
ol.themes .what { font-weight: 650; }
ol.themes .why { display: block; color: var(--muted); font-size: 13.5px; font-weight: 400; }
ol.themes .count { font-weight: 650; white-space: nowrap; }
.none { color: var(--muted); font-style: italic; }
footer { margin-top: 40px; padding-top: 12px; border-top: 1px solid var(--line); color: var(--muted);
         font-size: 12.5px; }
@media (max-width: 760px) { .area-summary { grid-template-columns: 1fr; } }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10pt; }
  main, header.title .inner { max-width: none; padding: 0; }
  header.title { background: none; color: var(--ink); border-bottom: 3px solid var(--navy);
                 padding: 0 0 8px; }
  header.title p, header.title .kicker { color: var(--muted); }
  h1 { font-size: 20pt; color: var(--navy); }
  h2 { font-size: 14pt; margin-top: 18pt; }
  table { font-size: 8.5pt; }
  th, td { padding: 3px 4px; }
  td.name { min-width: 7em; }
  td.themes { min-width: 0; }
  td.themes { font-size: 7.5pt; }
  .rag { font-size: 7.5pt; min-width: 1.6em; padding: 0 3px; }
  .tiles { grid-template-columns: repeat(3, 1fr); gap: 8px; }
  .area-summary li { padding: 2px 0 2px 12px; }
  .area-summary li::before { top: 9px; }
  .tile .value { font-size: 18pt; }
  section.area { break-before: page; }
  section, figure.chart, .tiles, table, ol.themes li { break-inside: avoid; }
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _tile(value: str, label: str, tone: str = "") -> str:
    cls = f"tile {tone}".strip()
    return (f'<div class="{cls}"><div class="value">{_e(value)}</div>'
            f'<div class="label">{_e(label)}</div></div>')


def _rag(red: int, amber: int, green: int) -> str:
    return (f'<span class="rag r" title="red">{red}</span> <span class="rag a" title="amber">{amber}</span> '
            f'<span class="rag g" title="green">{green}</span>')


_BAD = ' class="num-bad"'


def _indicator_cells(i: review_pb2.LensIndicators) -> str:
    overdue = i.corrective_actions_overdue
    inadequate = i.providers_inadequate
    cells = [
        str(i.audits_completed),
        _pct(i.audits_good_or_better_share) if i.audits_completed else "–",
        str(i.corrective_actions_due),
        str(i.corrective_actions_completed_on_time),
    ]
    out = "".join(f"<td>{_e(c)}</td>" for c in cells)
    out += f'<td{_BAD if overdue else ""}>{overdue}</td>'
    out += f"<td>{i.open_deep_dives}</td>"
    rag = _rag(i.plan_ratings_red, i.plan_ratings_amber, i.plan_ratings_green)
    out += f'<td class="text rags">{rag}</td>'
    out += f"<td>{i.active_placements}</td>"
    share = _pct(i.placements_good_or_outstanding_share) if i.active_placements else "–"
    out += f"<td>{_e(share)}</td>"
    out += f'<td{_BAD if inadequate else ""}>{inadequate}</td>'
    return out


def _indicator_head(first: str, with_themes: bool) -> str:
    extra_group = '<th rowspan="2" class="text">Most often below good</th>' if with_themes else ""
    return (
        "<thead><tr>"
        f'<th rowspan="2" class="name">{_e(first)}</th>'
        '<th colspan="2" class="group">Audits</th>'
        '<th colspan="3" class="group">Corrective actions</th>'
        '<th rowspan="2">Open deep dives</th>'
        '<th rowspan="2" class="text">Plan ratings<br>R&nbsp;/&nbsp;A&nbsp;/&nbsp;G</th>'
        '<th colspan="2" class="group">Placements</th>'
        '<th rowspan="2">Providers inadequate</th>'
        f"{extra_group}</tr><tr>"
        "<th>Completed</th><th>At least good</th>"
        "<th>Due</th><th>On time</th><th>Overdue</th>"
        "<th>Active</th><th>Good / outst.</th>"
        "</tr></thead>"
    )


def _themes_cell(i: review_pb2.LensIndicators) -> str:
    text = ", ".join(area_words(a) for a in i.top_areas_below_good) or "–"
    return f'<td class="text themes">{_e(text)}</td>'


def _chart(chart_id: str, svg: str, caption: str, label: str) -> str:
    return (f'<figure class="chart" id="{chart_id}" aria-label="{_e(label)}">{svg}'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def render_html(data: ReportData) -> str:
    """The compendium as one self-contained HTML page (inline CSS and SVG charts; no script,
    no external resource), readable on screen and printed on A4."""
    comp = data.compendium
    areas = list(comp.service_areas)
    t = _totals(data)
    month = month_words(data.month)
    scope = (f"Service area: {areas[0].service_area}" if len(areas) == 1
             else f"{len(areas)} service areas" if areas else "No service area")
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en-GB"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Performance compendium – {_e(month)}</title>",
        f"<style>{_CSS}</style></head><body>",
        '<header class="title"><div class="inner">',
        "<p class=\"kicker\">Children's services quality assurance · four lenses</p>",
        f"<h1>Monthly performance compendium: {_e(month)}</h1>",
        f"<p>{_e(scope)} · audits, corrective actions, plan ratings, providers and service reviews"
        " from the Lenses database</p>",
        "</div></header><main>",
    ]

    # At a glance
    parts.append("<h2>At a glance</h2>")
    if not areas:
        parts.append('<p class="none">No service area has data for this month.</p>')
    else:
        placed_good = round(t.placements_good)
        parts.append('<div class="tiles">')
        parts.append(_tile(str(t.audits), "audits completed"))
        parts.append(_tile(_ratio(t.good, t.audits), f"at least good ({t.good} of {t.audits})",
                           "good" if t.audits and t.good / t.audits >= 0.8 else "warn"))
        parts.append(_tile(_ratio(t.ca_on_time, t.ca_due),
                           f"corrective actions on time ({t.ca_on_time} of {t.ca_due} due)"))
        parts.append(_tile(str(t.ca_overdue), "corrective actions overdue",
                           "bad" if t.ca_overdue else "good"))
        parts.append(_tile(str(t.deep_dives), "deep dive audits open", "warn" if t.deep_dives else ""))
        parts.append(_tile(_ratio(placed_good, t.placements),
                           f"of {t.placements} placements in good or outstanding provision"))
        parts.append("</div>")
        parts.append('<table class="summary"><caption>By service area, this month</caption>')
        parts.append(_indicator_head("Service area", with_themes=False))
        parts.append("<tbody>")
        for sa in areas:
            parts.append(f'<tr><td class="name">{_e(sa.service_area)}</td>'
                         f"{_indicator_cells(sa.indicators)}</tr>")
        parts.append("</tbody></table>")

    # QA Matters
    parts.append("<h2>QA Matters: themes this month</h2>")
    parts.append('<p class="lead">The audit areas most often graded below good in completed audits — '
                 "the learning to share with practitioners.</p>")
    if comp.themes:
        parts.append('<ol class="themes">')
        for theme in comp.themes:
            question = AREA_QUESTIONS.get(_area_code(theme.area), "")
            count = theme.below_good_count
            parts.append(
                f'<li><span class="what">{_e(area_words(theme.area))}'
                f'<span class="why">{_e(question)}</span></span>'
                f'<span class="count">{count} audit{"" if count == 1 else "s"} below good</span></li>')
        parts.append("</ol>")
    else:
        parts.append('<p class="none">No area was graded below good this month.</p>')

    # Charts
    parts.append("<h2>Audit grades by area</h2>")
    parts.append('<p class="lead">How completed audits graded each of the twelve areas of the audit tool'
                 " (all service areas in this report). “Good+” is the share at least good among audits"
                 " that graded the area.</p>")
    parts.append(_chart("chart-grade-mix", grade_mix_svg(data),
                        "Stacked bars: exceeds good, meets good, does not meet good, not applicable.",
                        "Grade mix per audit area"))

    parts.append("<h2>Four lenses: latest service reviews</h2>")
    parts.append('<p class="lead">Scores of the latest six-monthly service performance review panel, per lens'
                 " (1 inadequate, 2 requires improvement, 3 good, 4 outstanding; dashed ring: good).</p>")
    parts.append(_chart("chart-lens-radar", lens_radar_svg(data),
                        "Radar charts: one per service area; an area without a review is shown as such.",
                        "Lens scores of the latest review per service area"))
    review_areas = _review_areas(data)
    if review_areas:
        parts.append('<table class="lenses"><thead><tr><th class="name">Service area</th>'
                     '<th class="text">Review panel</th>'
                     + "".join(f"<th>{_e(lens_words(k))}</th>" for k in LENSES) + "</tr></thead><tbody>")
        for area in review_areas:
            scores = _lens_scores(data, area)
            if scores:
                day = data.review_dates.get(area, "")
                cells = "".join(f"<td>{_score(scores[k])}</td>" if k in scores else "<td>–</td>"
                                for k in LENSES)
                parts.append(f'<tr><td class="name">{_e(area)}</td>'
                             f'<td class="text">{_e(date_words(day) if day else "–")}</td>{cells}</tr>')
            else:
                parts.append(f'<tr><td class="name">{_e(area)}</td><td class="text none" '
                             f'colspan="{len(LENSES) + 1}">No review on record</td></tr>')
        parts.append("</tbody></table>")

    parts.append("<h2>Corrective actions completed on time</h2>")
    due_12 = sum(due for _, due, _ in data.on_time)
    ok_12 = sum(ok for _, _, ok in data.on_time)
    parts.append('<p class="lead">Corrective actions for cases graded less than good are due in the month'
                 " after the audit; bars show those due each month and how many were completed by their"
                 f" due date. Twelve months: {ok_12} of {due_12} on time ({_ratio(ok_12, due_12)}).</p>")
    parts.append(_chart("chart-on-time", on_time_svg(data),
                        "Month by month, the twelve months up to this report's month.",
                        "Corrective actions completed on time, month by month"))

    # Per service area
    for sa in areas:
        i = sa.indicators
        parts.append('<section class="area">')
        parts.append(f"<h2>Service area: {_e(sa.service_area)}</h2>")
        if i.period_start and i.period_end:
            parts.append(f'<p class="lead">Period: {_e(date_words(i.period_start))} to '
                         f"{_e(date_words(i.period_end))}</p>")
        parts.append('<ul class="area-summary">')
        parts += [f"<li>{_e(line)}</li>" for line in _summary_lines(data, sa)]
        parts.append("</ul>")
        parts.append(f'<table class="teams"><caption>Teams of {_e(sa.service_area)}</caption>')
        parts.append(_indicator_head("Team", with_themes=True))
        parts.append("<tbody>")
        for team in sa.teams:
            parts.append(f'<tr><td class="name">{_e(team.team)}</td>{_indicator_cells(team.indicators)}'
                         f"{_themes_cell(team.indicators)}</tr>")
        parts.append(f'<tr class="total"><td class="name">Service area total</td>{_indicator_cells(i)}'
                     f"{_themes_cell(i)}</tr>")
        parts.append("</tbody></table></section>")

    parts.append(
        "<footer><p>Counts only: this report names no child and no case. “At least good” means an effective"
        " grade of meets good or exceeds good. Corrective actions are counted in the month they fall due;"
        " overdue actions are those still open at the month's end. Placements and providers are as at the"
        " month's end.</p>"
        f"<p>Lenses · four-lenses quality assurance framework · compendium for {_e(month)}.</p></footer>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
