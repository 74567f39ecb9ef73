"""Browser test of the HTML report: Debian's headless Chromium (driven by the npm package
playwright-core, which downloads no browser) renders the sample report offline; the page
must have the expected headings and each chart must have drawn something."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from server.report import render_html
from tests.conftest import ROOT
from tests.report_sample import sample_report

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = ROOT / "tests" / "report_browser" / "shoot.js"
NODE = shutil.which("node")
CHART_IDS = ("chart-grade-mix", "chart-lens-radar", "chart-on-time")

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="/usr/bin/chromium is missing (apt-get install chromium; .ci/run does it)"),
    pytest.mark.skipif(NODE is None, reason="node is not on PATH"),
    pytest.mark.skipif(not (ROOT / "node_modules" / "playwright-core").is_dir(),
                       reason="node_modules/playwright-core is missing (run `npm ci`)"),
]


def shoot(html_file: Path, out_dir: Path, width: int = 1200) -> dict[str, Any]:
    """Runs shoot.js; returns its JSON (headings, screenshot paths, errors, requests)."""
    assert NODE is not None
    result = subprocess.run([NODE, str(SCRIPT), str(html_file), str(out_dir), str(width)],
                            cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"shoot.js failed ({result.returncode}): {result.stderr}"
    lines = result.stdout.strip().splitlines()
    assert lines, f"no output from shoot.js; stderr: {result.stderr}"
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def inked_share(png: Path, margin: int = 24) -> float:
    """Share of the image's pixels that differ from white by more than ``margin`` (a container
    with its border and caption but an empty chart inks about 1%)."""
    from PIL import Image

    with Image.open(png) as image:
        gray = image.convert("L")
        histogram = gray.histogram()
        inked = sum(histogram[: 256 - margin])
        return inked / (gray.width * gray.height)


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("report-browser")
    html_file = tmp / "report.html"
    html_file.write_text(render_html(sample_report()), encoding="utf-8")
    return shoot(html_file, tmp / "shots")


def test_the_page_has_the_expected_headings(shot: dict[str, Any]) -> None:
    assert shot["h1"] == ["Monthly performance compendium: March 2025"]
    assert shot["h2"] == ["At a glance", "QA Matters: themes this month", "Audit grades by area",
                          "Four lenses: latest service reviews", "Corrective actions completed on time",
                          "Service area: Safeguarding & Family Help", "Service area: Children in Care"]
    assert shot["title"] == "Performance compendium – March 2025"


def test_the_page_loads_nothing_and_logs_no_error(shot: dict[str, Any]) -> None:
    assert shot["requests"] == []
    assert shot["console_errors"] == []


@pytest.mark.parametrize("chart_id", CHART_IDS)
def test_each_chart_drew(shot: dict[str, Any], chart_id: str) -> None:
    from PIL import Image

    png = shot["charts"][chart_id]
    assert png, f"#{chart_id} is not on the page"
    with Image.open(png) as image:
        assert image.width >= 600 and image.height >= 200, image.size
    share = inked_share(Path(png))
    assert share > 0.04, f"#{chart_id}: only {share:.1%} of its pixels are not background"


def test_the_full_page_is_one_column_wide(shot: dict[str, Any]) -> None:
    from PIL import Image

    with Image.open(shot["page"]) as image:
        assert image.width == 1200, "something on the page is wider than the window"
        assert image.height > 2000
