"""Regenerate the report's screenshots in docs/ from the sample scan, its month of history and its services:

    python -m tests.report_shots

docs/report-screenshot.png is the top of the page at 1280 px (verdict, counts, the trend of 30 scans, what
changed since the previous scan, the first problems); docs/report-services.png is the Services section.
Both come from tests/sample_results.py (``--services-from .demo/report.html`` takes the Services section from
the demo's report instead), drawn by headless Chromium (Debian package ``chromium``), cropped with Pillow.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from PIL import Image

from shared.models import RULE_AUTORENEW, Status
from shared.report.history import ReportHistory
from shared.report.html import render_report
from tests.browser import REPO, BrowserError, dump_dom, screenshot
from tests.sample_results import SCAN_TIME, binding_result, sample_result, scan_history

DOCS = REPO / "docs"
TOP_SHOT = DOCS / "report-screenshot.png"
SERVICES_SHOT = DOCS / "report-services.png"
WIDTH = 1280
TOP_HEIGHT = 1400

_MEASURE = """<script>
const box = document.getElementById('services').getBoundingClientRect();
document.body.setAttribute('data-services', `${Math.floor(box.top + scrollY)} ${Math.ceil(box.bottom + scrollY)}`);
</script></body>"""


def sample_page() -> str:
    result = binding_result()
    yesterday = sample_result(SCAN_TIME - timedelta(days=1))
    # Yesterday api-contoso-com was not in the vault yet, and www-contoso-com had no AutoRenew.
    yesterday.findings = [
        replace(f, status=Status.NON_COMPLIANT, reason="No lifetime action is configured.")
        if (f.certificate_name, f.rule_id) == ("www-contoso-com", RULE_AUTORENEW)
        else f
        for f in yesterday.findings
        if f.certificate_name != "api-contoso-com"
    ]
    history = ReportHistory(scans=scan_history(29), previous=yesterday)
    return render_report(result, generated_at=SCAN_TIME + timedelta(minutes=5), history=history)


def crop_png(source: Path, target: Path, top: int, bottom: int) -> None:
    """Rows ``top``..``bottom`` of a screenshot."""
    with Image.open(source) as image:
        image.crop((0, max(0, top), image.width, min(image.height, bottom))).save(target)


def main(argv: list[str] | None = None) -> int:
    """``--services-from PATH`` takes the Services section from another report (e.g. the demo's
    ``.demo/report.html``, after ``make demo``) instead of the sample scan."""
    args = sys.argv[1:] if argv is None else argv
    page_html = sample_page()
    services_html = Path(args[1]).read_text(encoding="utf-8") if args[:1] == ["--services-from"] else page_html
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        page = folder / "report.html"
        page.write_text(page_html, encoding="utf-8")
        screenshot(page, TOP_SHOT, folder / "profile", WIDTH, TOP_HEIGHT)

        page.write_text(services_html.replace("</body>", _MEASURE), encoding="utf-8")
        found = re.search(r'data-services="(\d+) (\d+)"', dump_dom(page, folder / "profile", WIDTH, TOP_HEIGHT))
        if found is None:
            raise BrowserError("could not measure the Services section")
        top, bottom = int(found.group(1)) - 12, int(found.group(2)) + 16
        page.write_text(services_html, encoding="utf-8")
        full = folder / "full.png"
        screenshot(page, full, folder / "profile", WIDTH, bottom)
        crop_png(full, SERVICES_SHOT, top, bottom)
    for path in (TOP_SHOT, SERVICES_SHOT):
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
