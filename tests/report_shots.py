"""Regenerate the report's screenshots in docs/ from the sample scan, its month of history and its services:

    python -m tests.report_shots

docs/report-screenshot.png is the top of the page at 1280 px (verdict, counts, the trend of 30 scans, what
changed since the previous scan, the first problems); docs/report-services.png is the Services section.
Both come from tests/sample_results.py, drawn by headless Chromium (Debian package ``chromium``).
"""

from __future__ import annotations

import re
import struct
import sys
import tempfile
import zlib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from shared.history import ReportHistory
from shared.htmlreport import render_report
from shared.models import RULE_AUTORENEW, Status
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
    """Rows ``top``..``bottom`` of an 8-bit RGB(A) PNG, written unfiltered (no image library needed)."""
    data = source.read_bytes()
    position, chunks, header = 8, [], b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind == b"IHDR":
            header = data[position + 8 : position + 8 + length]
        elif kind == b"IDAT":
            chunks.append(data[position + 8 : position + 8 + length])
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if (depth, interlace) != (8, 0) or colour not in (2, 6):
        raise BrowserError(f"{source}: expected an 8-bit, non-interlaced RGB(A) PNG")
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(chunks))
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    top, bottom = max(0, top), min(height, bottom)
    body = zlib.compress(b"".join(b"\x00" + row for row in rows[top:bottom]), 9)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, bottom - top, 8, colour, 0, 0, 0)
    target.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def main() -> int:
    page_html = sample_page()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        page = folder / "report.html"
        page.write_text(page_html, encoding="utf-8")
        screenshot(page, TOP_SHOT, folder / "profile", WIDTH, TOP_HEIGHT)

        page.write_text(page_html.replace("</body>", _MEASURE), encoding="utf-8")
        found = re.search(r'data-services="(\d+) (\d+)"', dump_dom(page, folder / "profile", WIDTH, TOP_HEIGHT))
        if found is None:
            raise BrowserError("could not measure the Services section")
        top, bottom = int(found.group(1)) - 12, int(found.group(2)) + 16
        page.write_text(page_html, encoding="utf-8")
        full = folder / "full.png"
        screenshot(page, full, folder / "profile", WIDTH, bottom)
        crop_png(full, SERVICES_SHOT, top, bottom)
    for path in (TOP_SHOT, SERVICES_SHOT):
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
