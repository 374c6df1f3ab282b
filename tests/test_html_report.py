"""The HTML report of GET /api/report: what it shows, in which order, and that the estate cannot inject.

The unit tests parse the page with the standard library's HTML parser, so they check elements and
attributes rather than substrings. The browser tests render it in headless Chromium (Debian package
``chromium``) at a laptop and a phone width, keep the screenshots in ``artifacts/``, and check from the
rendered DOM that the problem rows are laid out inside the viewport with nothing scrolling sideways.
"""

from __future__ import annotations

import html
import json
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from shared.htmlreport import render_report
from shared.models import (
    RULE_AUTORENEW,
    ScanResult,
    Severity,
    Status,
    count_by_status,
)
from tests.browser import run_chromium
from tests.sample_results import (
    HOSTILE_ATTRIBUTE,
    HOSTILE_SCRIPT,
    SCAN_TIME,
    SUBSCRIPTION_DEV,
    WEBHOOK_PROBLEM,
    clean_result,
    empty_result,
    failed_result,
    finding,
    hostile_result,
    sample_result,
)

PORTAL = "https://portal.azure.com"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
GENERATED_AT = SCAN_TIME + timedelta(minutes=5)


def render(result: ScanResult, **kwargs: Any) -> str:
    return render_report(result, generated_at=GENERATED_AT, **kwargs)


# --- a small DOM, from the standard library's parser ---------------------------------------------------------

_VOID = {"meta", "link", "img", "br", "hr", "input", "source", "col", "wbr", "area", "base", "embed", "track"}


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str | None]
    ancestors: list[Element]
    page: Page
    texts: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def within(self, element_id: str) -> bool:
        return any(a.attrs.get("id") == element_id for a in self.ancestors)

    def find(self, tag: str, cls: str | None = None) -> list[Element]:
        """Descendants of this element."""
        return [e for e in self.page.find(tag, cls) if any(a is self for a in e.ancestors)]


class Page(HTMLParser):
    """Every element in document order, each with its ancestors and all the text inside it."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), list(self._open), self)
        self.elements.append(element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.texts.append(data)

    def find(self, tag: str, cls: str | None = None) -> list[Element]:
        return [e for e in self.elements if e.tag == tag and (cls is None or cls in e.classes)]

    def one(self, tag: str, cls: str | None = None) -> Element:
        found = self.find(tag, cls)
        assert len(found) == 1, f"expected one <{tag} class={cls}>, found {len(found)}"
        return found[0]

    @property
    def text(self) -> str:
        return self.one("body").text


def problem_rows(page: Page) -> list[Element]:
    return [e for e in page.find("tbody", "finding") if e.within("problems")]


def other_rows(page: Page) -> list[Element]:
    return [e for e in page.find("tbody", "finding") if e.within("by-vault")]


def row_value(row: Element, cls: str) -> str:
    return row.find("td", cls)[0].text


# --- escaping and self-containment ---------------------------------------------------------------------------


def test_hostile_names_reasons_and_problems_are_shown_as_text_never_as_markup() -> None:
    result = hostile_result()
    markup = render(result)
    page = Page(markup)

    assert "<script" not in markup.lower()
    assert "<img" not in markup.lower()
    assert not [e for e in page.elements if e.tag in ("script", "img", "iframe", "object", "embed", "form")]
    assert not [(e.tag, name) for e in page.elements for name in e.attrs if name.lower().startswith("on")]
    # Shown to the reader exactly as they are in the estate.
    text = page.text
    assert HOSTILE_SCRIPT in text
    assert HOSTILE_ATTRIBUTE in text
    assert f"Only EmailContacts is configured {HOSTILE_SCRIPT} {HOSTILE_ATTRIBUTE}; set AutoRenew." in text
    assert f"The alert webhook failed: {HOSTILE_SCRIPT}{HOSTILE_ATTRIBUTE}" in page.one("section", "banner").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in markup
    # The hostile resource group reaches the portal link only percent-encoded, inside one attribute.
    (link,) = page.find("a", "portal")[:1]
    href = link.attrs["href"] or ""
    assert href.startswith(f"{PORTAL}/#@/resource/subscriptions/")
    assert '"' not in href
    assert "<" not in href
    assert ">" not in href
    assert " " not in href


@pytest.mark.parametrize(
    "result",
    [sample_result(), clean_result(), empty_result(), failed_result(), hostile_result()],
    ids=["partial", "clean", "empty", "failed", "hostile"],
)
def test_the_page_loads_nothing_and_runs_nothing(result: ScanResult) -> None:
    markup = render(result)
    page = Page(markup)

    assert "<script" not in markup.lower()
    assert not [e.tag for e in page.elements if e.tag in ("script", "link", "img", "iframe", "object", "embed")]
    assert not [e for e in page.elements if "src" in e.attrs or "srcset" in e.attrs or "style" in e.attrs]
    assert not [(e.tag, name) for e in page.elements for name in e.attrs if name.lower().startswith("on")]
    css = page.one("style").text
    assert "url(" not in css
    assert "@import" not in css
    assert "http://" not in markup

    links = [e for e in page.elements if "href" in e.attrs]
    external = [e for e in links if not (e.attrs["href"] or "").startswith("#")]
    for link in external:
        assert (link.attrs["href"] or "").startswith(f"{PORTAL}/#@/resource/subscriptions/")
        assert link.attrs.get("rel") == "noopener noreferrer"
    # Every https:// on the page is one of those portal links.
    assert markup.count("https://") == len(external)


def test_the_head_is_made_for_phones_and_kept_out_of_search_engines() -> None:
    page = Page(render(sample_result()))
    metas = {e.attrs.get("name"): e.attrs.get("content") for e in page.find("meta") if e.attrs.get("name")}

    assert metas["viewport"] == "width=device-width, initial-scale=1"
    assert "noindex" in (metas["robots"] or "")
    assert page.one("html").attrs["lang"] == "en"
    assert page.find("meta")[0].attrs == {"charset": "utf-8"}
    assert "11 problems" in page.one("title").text


# --- what the page shows --------------------------------------------------------------------------------------


def test_problems_come_first_most_severe_first_then_everything_else_by_vault() -> None:
    result = sample_result()
    page = Page(render(result))
    problems, others = problem_rows(page), other_rows(page)

    assert len(problems) == len(result.problems) == 11
    assert len(others) == len(result.findings) - 11
    rows = page.find("tbody", "finding")
    assert rows[: len(problems)] == problems, "every problem row comes before the rest"

    def severity(row: Element) -> Severity:
        (cls,) = [c for c in row.classes if c.startswith("sev-")]
        return Severity(cls.removeprefix("sev-"))

    ranks = [severity(row).rank for row in problems]
    assert ranks == sorted(ranks)
    assert severity(problems[0]) == Severity.CRITICAL
    assert all({"st-non_compliant", "st-not_assessed"} & row.classes for row in problems)
    assert not [row for row in others if {"st-non_compliant", "st-not_assessed"} & row.classes]

    first = problems[0]
    assert row_value(first, "c-sev") == "critical"
    assert row_value(first, "c-status") == "non-compliant"
    assert row_value(first, "c-rule").startswith("CertificateExpiry")
    assert row_value(first, "c-vault").startswith("kv-webapp-prod")
    assert row_value(first, "c-cert") == "legacy-portal-imported"
    assert row_value(first, "c-exp") == "2025-11-24 expired 3 days ago"
    assert row_value(first, "c-issuer") == "Unknown"
    assert first.find("tr", "reason")[0].text == (
        "The certificate expired on 2025-11-24 04:00 UTC (3 days ago); replace it now."
    )


def test_each_problem_row_carries_every_fact_a_person_needs() -> None:
    page = Page(render(sample_result()))
    by_place = {(row_value(r, "c-cert"), row_value(r, "c-rule").split()[0]): r for r in problem_rows(page)}

    email_only = by_place[("api-contoso-com", "KeyVault-006")]
    assert row_value(email_only, "c-sev") == "high"
    assert row_value(email_only, "c-exp") == "2025-12-09 in 12 days"
    assert row_value(email_only, "c-issuer") == "Self"
    assert row_value(email_only, "c-action") == "EmailContacts 3 days before expiry"
    assert "set the lifetime action to AutoRenew." in email_only.find("tr", "reason")[0].text

    stuck = by_place[("payments-gateway", "CertificateExpiry")]
    assert row_value(stuck, "c-action") == "AutoRenew at 80% of its lifetime"
    assert row_value(stuck, "c-exp") == "2025-12-02 in 4 days"
    assert "Renewal looks stuck" in stuck.find("tr", "reason")[0].text

    no_action = by_place[("partner-mtls-client", "KeyVault-006")]
    assert row_value(no_action, "c-action") == "none"

    unreadable = by_place[("hsm-code-signing", "KeyVault-006")]
    assert row_value(unreadable, "c-status") == "not assessed"
    assert row_value(unreadable, "c-issuer") == "—"  # not read, which is not the same as none

    vault_rows = [r for r in problem_rows(page) if row_value(r, "c-vault").startswith("kv-locked-down")]
    assert len(vault_rows) == 2
    assert all(row_value(r, "c-cert") == "whole vault (its certificates could not be listed)" for r in vault_rows)


def test_portal_links_open_the_vaults_certificates_blade() -> None:
    result = sample_result()
    page = Page(render(result))
    first = problem_rows(page)[0]
    (link,) = first.find("a", "portal")
    vault_id = next(f.vault_id for f in result.findings if f.vault_name == "kv-webapp-prod")

    assert link.attrs["href"] == f"{PORTAL}/#@/resource{vault_id}/certificates"
    assert link.attrs["rel"] == "noopener noreferrer"
    assert link.attrs["aria-label"] == "Open kv-webapp-prod in the Azure portal"


def test_portal_url_follows_the_cloud_and_only_http_links_are_made() -> None:
    sovereign = Page(render(sample_result(), portal_url="https://portal.azure.us/"))
    hrefs = [a.attrs["href"] or "" for a in sovereign.find("a", "portal")]
    assert hrefs
    assert all(h.startswith("https://portal.azure.us/#@/resource/subscriptions/") for h in hrefs)

    for bad in ("javascript:alert(1)", "data:text/html,hi", "portal.azure.com", ""):
        markup = render(sample_result(), portal_url=bad)
        assert not Page(markup).find("a", "portal"), bad
        assert "javascript:" not in markup


def test_a_finding_without_a_resource_id_has_no_link_and_a_subscription_failure_says_so() -> None:
    findings = [
        finding(
            RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            vault="kv-no-id",
            certificate="c1",
            reason="No lifetime action is configured.",
            with_vault_id=False,
        ),
        finding(
            RULE_AUTORENEW,
            Status.NOT_ASSESSED,
            Severity.HIGH,
            vault=None,
            certificate=None,
            subscription_id=SUBSCRIPTION_DEV,
            reason="Could not list the subscription's Key Vaults (HTTP 403 AuthorizationFailed).",
        ),
    ]
    result = sample_result()
    result.findings = findings
    page = Page(render(result))
    rows = problem_rows(page)

    assert not page.find("a", "portal")
    assert [row_value(r, "c-vault") for r in rows] == [
        "kv-no-id",
        f"subscription could not be listed {SUBSCRIPTION_DEV}",
    ]
    assert row_value(rows[1], "c-cert") == "all vaults of the subscription"


def test_counts_scan_facts_and_scan_problems_are_at_the_top() -> None:
    result = sample_result()
    page = Page(render(result))
    counts = count_by_status(result.findings)

    tiles = {
        next(c for c in tile.classes if c.startswith("st-")).removeprefix("st-"): tile.find("span", "n")[0].text
        for tile in page.find("li", "tile")
    }
    assert tiles == {status: str(n) for status, n in counts.items()}
    labels = [tile.find("span", "label")[0].text for tile in page.find("li", "tile")]
    assert labels == ["non-compliant", "not assessed", "compliant", "exempt", "not applicable"]

    header = page.one("header").text
    assert page.one("h1").text == "11 problems need attention"
    assert result.scan.id in header
    assert "partial" in header
    assert "2 subscriptions · 4 vaults · 11 certificates" in header
    assert "2025-11-27 06:00 UTC · took 42 s" in header

    banner = page.one("section", "banner")
    assert banner.attrs["role"] == "alert"
    assert WEBHOOK_PROBLEM in banner.text
    assert "This scan is partial" in banner.text


def test_every_vault_has_a_folded_group_with_its_counts() -> None:
    page = Page(render(sample_result()))
    groups = page.find("details", "vault")

    names = [g.find("span", "vault-name")[0].text for g in groups]
    assert names == ["kv-locked-down", "kv-payments-prod", "kv-shared-dev", "kv-webapp-prod"]
    assert all("open" not in g.attrs for g in groups)
    summaries = {name: g.find("summary")[0].text for name, g in zip(names, groups, strict=True)}
    assert "certificates not listed" in summaries["kv-locked-down"]
    assert "2 problems above" in summaries["kv-locked-down"]
    assert "4 certificates" in summaries["kv-payments-prod"]
    assert "3 compliant" in summaries["kv-payments-prod"]
    assert "1 exempt" in summaries["kv-payments-prod"]
    assert "4 problems above" in summaries["kv-payments-prod"]
    assert "Everything in this vault is listed under Problems above." in groups[0].text


# --- scans with nothing to list ------------------------------------------------------------------------------


def test_a_clean_scan_says_there_is_nothing_to_do() -> None:
    page = Page(render(clean_result()))

    assert page.one("h1").text == "No problems: every certificate renews itself and none is close to expiry."
    assert "verdict" in page.one("h1").classes
    assert "good" in page.one("h1").classes
    assert not problem_rows(page)
    problems = next(e for e in page.find("section") if e.attrs.get("id") == "problems")
    assert "None. Nothing is non-compliant and everything was assessed." in problems.text
    assert len(other_rows(page)) == len(clean_result().findings)
    assert not page.find("section", "banner")


def test_an_empty_scan_says_no_certificate_was_found() -> None:
    page = Page(render(empty_result()))

    assert page.one("h1").text == "No certificates found."
    assert "The scan read 1 vault in 1 subscription and found no certificate to check." in page.text
    assert not page.find("table")
    assert "No vault holds a certificate to check." in page.text
    assert [t.find("span", "n")[0].text for t in page.find("li", "tile")] == ["0"] * 5


def test_a_failed_scan_leads_with_why_it_failed() -> None:
    result = failed_result()
    page = Page(render(result))

    assert page.one("h1").text == "The scan failed: nothing could be read."
    assert "bad" in page.one("h1").classes
    banner = page.one("section", "banner").text
    assert result.scan.problems[0] in banner
    assert "The scan failed" in banner
    assert not page.find("table")
    assert "No finding: the scan could not read anything, so nothing was assessed." in page.text
    assert "failed" in page.one("span", "pill").text
    assert "scan failed" in page.one("title").text


# --- in a real browser ---------------------------------------------------------------------------------------

# Chromium's --dump-dom will not lay a window out narrower than 500 px (its screenshots will), so the layout
# is measured in an iframe of the exact width: a test-only probe inside it records the boxes of the problem
# rows and anything wider than the viewport, and hands its own DOM up to the page that --dump-dom prints.
_PROBE = """<script>
(() => {
  const width = document.documentElement.clientWidth;
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.width, r.height]; };
  const probe = {
    width,
    scrollWidth: document.documentElement.scrollWidth,
    rows: [...document.querySelectorAll('#problems tbody.finding')].map(box),
    tiles: [...document.querySelectorAll('li.tile')].map(box),
    // Headings visually hidden for screen readers (a 1 px clipped box on phones) do not count.
    wider: [...document.querySelectorAll('body *')]
      .filter((e) => !e.closest('thead') || e.closest('thead').getBoundingClientRect().width > 1)
      .filter((e) => e.getBoundingClientRect().right > width + 1)
      .map((e) => e.tagName + '.' + e.className).slice(0, 10),
  };
  document.body.setAttribute('data-probe', JSON.stringify(probe));
  parent.document.getElementById('dom').textContent = document.documentElement.outerHTML;
})();
</script>"""
_HARNESS = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><style>body {{ margin: 0; }} iframe {{ border: 0; display: block; }}</style></head>
<body><iframe width="{width}" height="{height}" srcdoc="{page}"></iframe><pre id="dom"></pre></body></html>
"""

_VIEWPORTS = {"desktop": (1280, 2000), "phone": (390, 1600)}
# Solid fills of the severity badges: critical dark red, high red-orange, medium amber.
_BADGE_COLOURS = {"critical": (0x7F, 0x1D, 0x1D), "high": (0xC2, 0x41, 0x0C), "medium": (0xFC, 0xD3, 0x4D)}


def _run_chromium(args: list[str], profile: Path, width: int, height: int) -> subprocess.CompletedProcess[str]:
    return run_chromium(args, profile, width, height)


@dataclass
class Png:
    width: int
    height: int
    colour_type: int
    pixels: bytes  # zlib-decompressed scanlines, each with its filter byte

    @classmethod
    def read(cls, path: Path) -> Png:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        position, chunks, header = 8, [], b""
        while position < len(data):
            length, kind = struct.unpack(">I4s", data[position : position + 8])
            body = data[position + 8 : position + 8 + length]
            if kind == b"IHDR":
                header = body
            elif kind == b"IDAT":
                chunks.append(body)
            position += 12 + length
        width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
        assert (depth, interlace) == (8, 0), "Chromium writes 8-bit, non-interlaced PNGs"
        assert colour_type in (2, 6), "RGB or RGBA"
        return cls(width, height, colour_type, zlib.decompress(b"".join(chunks)))

    def rows(self) -> Iterator[bytearray]:
        """Unfiltered scanlines (PNG filters None, Sub, Up, Average, Paeth)."""
        bpp = 3 if self.colour_type == 2 else 4
        stride = self.width * bpp
        previous = bytearray(stride)
        position = 0
        for _ in range(self.height):
            kind, line = self.pixels[position], bytearray(self.pixels[position + 1 : position + 1 + stride])
            position += 1 + stride
            if kind == 1:
                for i in range(bpp, stride):
                    line[i] = (line[i] + line[i - bpp]) & 0xFF
            elif kind == 2:
                line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
            elif kind == 3:
                for i in range(stride):
                    left = line[i - bpp] if i >= bpp else 0
                    line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
            elif kind == 4:
                for i in range(stride):
                    a = line[i - bpp] if i >= bpp else 0
                    b = previous[i]
                    c = previous[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
            yield line
            previous = line

    def colours(self, step: int = 2) -> set[tuple[int, int, int]]:
        """The distinct colours of every ``step``-th pixel of every ``step``-th row."""
        bpp = 3 if self.colour_type == 2 else 4
        found: set[tuple[int, int, int]] = set()
        for y, line in enumerate(self.rows()):
            if y % step == 0:
                found.update((line[x], line[x + 1], line[x + 2]) for x in range(0, len(line), bpp * step))
        return found


@pytest.mark.browser
@pytest.mark.parametrize("viewport", list(_VIEWPORTS))
def test_the_report_renders_in_headless_chromium(viewport: str, tmp_path: Path) -> None:
    width, height = _VIEWPORTS[viewport]
    result = sample_result()
    markup = render(result)
    ARTIFACTS.mkdir(exist_ok=True)
    page_file = ARTIFACTS / "report.html"
    page_file.write_text(markup, encoding="utf-8")
    screenshot = ARTIFACTS / f"report-{viewport}.png"
    screenshot.unlink(missing_ok=True)

    # What a person sees: the page exactly as served.
    _run_chromium([f"--screenshot={screenshot}", page_file.as_uri()], tmp_path / "profile", width, height)
    # What the browser built and where it put it: the same page, plus the probe, in an iframe of the width.
    harness = tmp_path / "harness.html"
    probed = markup.replace("</body>", f"{_PROBE}\n</body>")
    harness.write_text(
        _HARNESS.format(width=width, height=height, page=html.escape(probed, quote=True)), encoding="utf-8"
    )
    window = max(width, 500)
    dumped = _run_chromium(["--dump-dom", harness.as_uri()], tmp_path / "profile", window, height + 100).stdout
    inner = Page(dumped).one("pre").text
    assert inner, f"the probe did not run in the report's iframe: {dumped[:500]}"

    dom = Page(inner)
    rows = problem_rows(dom)
    assert len(rows) == len(result.problems)
    assert [row_value(r, "c-cert") for r in rows][:3] == [
        "legacy-portal-imported",
        "legacy-portal-imported",
        "payments-gateway",
    ]
    probe = json.loads(dom.one("body").attrs["data-probe"] or "{}")
    assert probe["width"] == width
    assert probe["scrollWidth"] <= width, f"the page scrolls sideways at {width}px: {probe['wider']}"
    assert not probe["wider"], f"elements wider than the viewport: {probe['wider']}"
    assert len(probe["rows"]) == len(result.problems)
    for left, right, row_width, row_height in probe["rows"]:
        assert row_width > 200
        assert row_height > 40
        assert left >= 0
        assert right <= width
    assert len(probe["tiles"]) == 5
    if viewport == "phone":
        # Cards, one under the other, each as wide as the screen allows.
        assert all(r[2] > width * 0.8 for r in probe["rows"])
    else:
        # Table rows: the full width of the table, facts in one line above the reason.
        assert all(r[2] > 1000 for r in probe["rows"])

    png = Png.read(screenshot)
    assert (png.width, png.height) == (width, height)
    assert screenshot.stat().st_size > 30_000, "a blank page compresses to a few kilobytes"
    colours = png.colours()
    assert len(colours) > 100, "the screenshot is nearly blank"
    visible = {name for name, rgb in _BADGE_COLOURS.items() if rgb in colours}
    # The first screen shows the worst problems: on a phone at least the critical and the high cards.
    expected = {"critical", "high", "medium"} if viewport == "desktop" else {"critical", "high"}
    assert expected <= visible, f"severity badges painted: {sorted(visible)}"
