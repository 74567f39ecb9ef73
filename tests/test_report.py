"""The compendium report's renderers (text, JSON, CSV, HTML) on hand-made data."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from google.protobuf import json_format

from lenses.v1 import review_pb2
from server.report import (
    ReportData,
    csv_header,
    render_csv,
    render_html,
    render_json,
    render_text,
)
from tests.report_sample import sample_report

CHART_IDS = ("chart-grade-mix", "chart-lens-radar", "chart-on-time")
NUMBER_FIELDS = [f.name for f in review_pb2.LensIndicators.DESCRIPTOR.fields
                 if f.type in (f.TYPE_INT32, f.TYPE_DOUBLE)]


@pytest.fixture(scope="module")
def data() -> ReportData:
    return sample_report()


@pytest.fixture(scope="module")
def page(data: ReportData) -> str:
    return render_html(data)


def empty_report() -> ReportData:
    return ReportData(month="2025-03", compendium=review_pb2.Compendium(month="2025-03"))


# --------------------------------------------------------------------------- text


def test_text_has_the_sections_and_the_summary_of_each_area(data: ReportData) -> None:
    text = render_text(data)
    assert text.startswith("Monthly performance compendium: March 2025\n")
    for heading in ("At a glance", "QA Matters: themes", "Service area: Safeguarding & Family Help",
                    "Service area: Children in Care", "Audit grades by area",
                    "Four lenses: latest service reviews", "Corrective actions completed on time"):
        assert f"\n{heading}" in text, heading
    assert "Audits completed: 28; at least good: 22 (79%)" in text
    assert "14 audits completed; 10 (71%) at least good." in text
    assert "Corrective actions: 5 due, 3 completed on time, 2 overdue." in text
    assert "Plan ratings: 1 red, 6 amber, 20 green." in text
    assert "43 active placements, 91% in good or outstanding provision." in text
    assert "1. Plans: 11 audits below good" in text
    for team in ("Assessment Team North", "Child Protection Team", "Looked After Children Team",
                 "Care Leavers Team"):
        assert team in text
    assert "No service performance review on record." in text  # the area never reviewed
    assert "Professional challenge 2.5" in text and "Citizen challenge 3.25" in text
    assert "Decision making" in text and "AREA_" not in text and "LENS_" not in text
    assert "February 2025" in text


def test_text_of_an_empty_month() -> None:
    text = render_text(empty_report())
    assert "No service area has data for this month." in text
    assert "No area was graded below good this month." in text


# --------------------------------------------------------------------------- JSON


def test_json_is_the_compendium_in_proto3_json_plus_lenses_and_on_time(data: ReportData) -> None:
    obj = json.loads(render_json(data))
    assert obj["month"] == "2025-03"
    parsed = json_format.ParseDict(obj, review_pb2.Compendium(), ignore_unknown_fields=True)
    assert parsed == data.compendium
    first = obj["serviceAreas"][0]["indicators"]
    assert first["auditsCompleted"] == 14
    assert first["topAreasBelowGood"] == ["AREA_DECISION_MAKING", "AREA_PLANS", "AREA_RISK"]
    assert obj["themes"][0] == {"area": "AREA_PLANS", "belowGoodCount": 11}
    assert obj["lensScores"] == {"Children in Care": {
        "LENS_INDEPENDENT_CHALLENGE": 3.0, "LENS_PROVIDER_CHALLENGE": 2.6,
        "LENS_PROFESSIONAL_CHALLENGE": 2.5, "LENS_CITIZEN_CHALLENGE": 3.25}}
    assert obj["reviewDates"] == {"Children in Care": "2025-01-14"}
    assert len(obj["onTime"]) == 12
    assert obj["onTime"][-1] == {"month": "2025-03", "due": 11, "completedOnTime": 8}


def test_json_prints_zero_counts() -> None:
    report = empty_report()
    report.compendium.service_areas.add(service_area="Quiet", indicators=review_pb2.LensIndicators())
    obj = json.loads(render_json(report))
    assert obj["serviceAreas"][0]["indicators"]["openDeepDives"] == 0
    assert obj["lensScores"] == {} and obj["onTime"] == []


# --------------------------------------------------------------------------- CSV


def test_csv_has_one_row_per_area_and_team_with_every_number(data: ReportData) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(data))))
    assert list(rows[0]) == csv_header()
    header = csv_header()
    assert header[:3] == ["month", "service_area", "team"]
    assert set(NUMBER_FIELDS) <= set(header)
    assert [(r["service_area"], r["team"]) for r in rows] == [
        ("Safeguarding & Family Help", ""),
        ("Safeguarding & Family Help", "Assessment Team North"),
        ("Safeguarding & Family Help", "Child Protection Team"),
        ("Children in Care", ""),
        ("Children in Care", "Looked After Children Team"),
        ("Children in Care", "Care Leavers Team"),
    ]
    assert {r["month"] for r in rows} == {"2025-03"}
    area = rows[3]
    ind = data.compendium.service_areas[1].indicators
    for name in NUMBER_FIELDS:
        assert float(area[name]) == pytest.approx(getattr(ind, name), abs=1e-4), name
    assert area["top_areas_below_good"] == "AREA_PLANS;AREA_REVIEWS;AREA_INDEPENDENCE"
    assert area["plans_does_not_meet_good"] == "5"
    team = rows[1]
    assert team["audits_completed"] == "8" and team["corrective_actions_overdue"] == "1"


def test_csv_of_an_empty_month_is_the_header() -> None:
    assert list(csv.reader(io.StringIO(render_csv(empty_report())))) == [csv_header()]


# --------------------------------------------------------------------------- HTML


def test_html_is_self_contained(page: str) -> None:
    lowered = page.lower()
    assert lowered.startswith("<!doctype html>")
    assert "<script" not in lowered
    assert "http://" not in lowered and "https://" not in lowered
    assert "<link" not in lowered and "@import" not in lowered and "@font-face" not in lowered
    assert "<img" not in lowered and "<iframe" not in lowered
    assert not re.search(r"\bsrc\s*=", lowered)
    assert all(u.startswith("url(#") for u in re.findall(r"url\([^)]*\)", page))
    assert all(h.startswith('href="#') for h in re.findall(r'href="[^"]*"', page))


def test_html_has_the_three_charts_as_inline_svg(page: str) -> None:
    for chart_id in CHART_IDS:
        assert page.count(f'id="{chart_id}"') == 1, chart_id
        block = page[page.index(f'id="{chart_id}"'):]
        assert block.index("<svg") < block.index("</figure>"), chart_id
    assert page.count("<svg") == 3
    assert "<text" not in page  # fonts drawn as paths: nothing to load
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "element ids repeat across charts"


def test_html_headings_and_content(page: str) -> None:
    h1 = re.findall(r"<h1>(.*?)</h1>", page)
    h2 = re.findall(r"<h2>(.*?)</h2>", page)
    assert h1 == ["Monthly performance compendium: March 2025"]
    assert h2 == ["At a glance", "QA Matters: themes this month", "Audit grades by area",
                  "Four lenses: latest service reviews", "Corrective actions completed on time",
                  "Service area: Safeguarding &amp; Family Help", "Service area: Children in Care"]
    for words in ("Decision making", "Professional challenge", "Citizen challenge", "No review on record",
                  "Care Leavers Team", "Service area total", "14 January 2025", "Quality of plans"):
        assert words in page, words
    assert "AREA_" not in page and "LENS_" not in page and "GRADE_" not in page
    assert "@media print" in page


def test_html_escapes_names() -> None:
    nasty = '<Team & "Co">'
    data = sample_report(area_names=(nasty, "Children in Care"))
    data.compendium.service_areas[0].teams[0].team = "<b>Bold</b> team"
    page = render_html(data)
    assert nasty not in page and "<b>Bold</b>" not in page
    assert "&lt;Team &amp; &quot;Co&quot;&gt;" in page
    assert "&lt;b&gt;Bold&lt;/b&gt; team" in page
    assert "<h2>Service area: &lt;Team &amp; &quot;Co&quot;&gt;</h2>" in page
    text = render_text(data)
    assert nasty in text  # plain text is not HTML


def test_html_of_an_empty_month_still_draws_the_charts() -> None:
    page = render_html(empty_report())
    assert "No service area has data for this month." in page
    for chart_id in CHART_IDS:
        assert f'id="{chart_id}"' in page
    assert page.count("<svg") == 3


def test_lens_keys_may_carry_the_enum_prefix(data: ReportData) -> None:
    report = sample_report()
    report.lens_scores = {"Children in Care": {"LENS_" + k: v
                                               for k, v in report.lens_scores["Children in Care"].items()}}
    assert render_text(report) == render_text(data)
    assert json.loads(render_json(report))["lensScores"] == json.loads(render_json(data))["lensScores"]


def test_report_command_on_a_demo_database(tmp_path: Path) -> None:
    """The documented commands: demo data, then the report as text, CSV and HTML."""
    import os
    import subprocess
    import sys

    lenses = Path(sys.executable).parent / "lenses"
    env = {**os.environ, "LENSES_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    subprocess.run([str(lenses), "demo-data", "--month", "2026-01"], env=env, check=True,
                   capture_output=True, timeout=300)
    html = tmp_path / "report.html"
    text = subprocess.run([str(lenses), "report", "--month", "2026-01", "--html", str(html)], env=env,
                          check=True, capture_output=True, text=True, timeout=300).stdout
    assert "Monthly performance compendium: January 2026" in text
    assert "Service area: Looked After Children" in text
    page = html.read_text()
    assert all(f'id="{chart}"' in page for chart in ("chart-grade-mix", "chart-lens-radar", "chart-on-time"))
    rows = subprocess.run([str(lenses), "report", "--month", "2026-01", "--format", "csv",
                           "--service-area", "Care Leavers"], env=env, check=True, capture_output=True,
                          text=True, timeout=300).stdout.splitlines()
    assert len(rows) == 3 and rows[1].split(",")[1] == "Care Leavers"  # header, area, its one team
