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
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from shared.api import get_report
from shared.models import (
    RULE_AUTORENEW,
    RULE_BINDING,
    RULE_EXPIRY,
    Finding,
    Scan,
    ScanResult,
    ScanStatus,
    Severity,
    Status,
    count_by_status,
)
from shared.report.history import ReportHistory
from shared.report.html import render_report
from shared.store import StoreError
from tests.browser import run_chromium
from tests.sample_results import (
    HOSTILE_ATTRIBUTE,
    HOSTILE_SCRIPT,
    SCAN_TIME,
    SUBSCRIPTION_DEV,
    VERSION_CURRENT,
    VERSION_OLD,
    WEBHOOK_PROBLEM,
    binding_finding,
    binding_result,
    clean_result,
    empty_result,
    failed_result,
    finding,
    hostile_result,
    sample_result,
    scan_history,
    service_id,
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


def test_the_chart_and_the_services_load_nothing_either() -> None:
    markup = render(binding_result(), history=ReportHistory(scans=scan_history(29), previous=sample_result()))
    page = Page(markup)

    assert "<script" not in markup.lower()
    assert "http://" not in markup  # inline SVG needs no namespace URL
    assert not [
        e for e in page.elements if "src" in e.attrs or "style" in e.attrs or ("href" in e.attrs and e.tag != "a")
    ]
    # The only url() is the chart's own pattern, by fragment: nothing is fetched.
    fills = {e.attrs["fill"] for e in page.elements if "url(" in (e.attrs.get("fill") or "")}
    assert fills == {"url(#trend-hatch)"}
    external = [a.attrs["href"] or "" for a in page.find("a") if not (a.attrs["href"] or "").startswith("#")]
    assert all(h.startswith(f"{PORTAL}/#@/resource/subscriptions/") for h in external)
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


# --- the trend and what changed since the previous scan -------------------------------------------------------


def section(page: Page, element_id: str) -> Element:
    (found,) = [e for e in page.elements if e.attrs.get("id") == element_id]
    return found


def joined(element: Element) -> str:
    """The element's text as a browser shows it (Element.text puts a space between every text node)."""
    return " ".join("".join(element.texts).split())


def bars(page: Page) -> list[Element]:
    return [g for g in page.find("g", "scan") if g.within("history")]


def bar_value(bar: Element) -> int:
    return int(next(t for t in bar.find("text") if {"v"} & t.classes).text)


def test_the_trend_of_one_scan_is_one_bar_and_says_the_chart_grows() -> None:
    result = sample_result()
    page = Page(render(result, history=ReportHistory()))

    (only,) = bars(page)
    assert "current" in only.classes
    assert bar_value(only) == len(result.problems) == 11
    assert "11 problems in this scan, the first one stored" in section(page, "trend-summary").text
    changes = section(page, "changes")
    assert "This is the first stored scan: there is nothing to compare it with yet." in changes.text


def test_the_trend_shows_the_last_30_finished_scans_oldest_first() -> None:
    result = sample_result()
    older = scan_history(40)
    failed = Scan(
        id="20251126T120000Z-dead0002",
        started_at=SCAN_TIME - timedelta(hours=18),
        finished_at=SCAN_TIME - timedelta(hours=18),
        status=ScanStatus.FAILED,
        counts={"non_compliant": 999},
    )
    running = Scan(id="20251127T070000Z-running1", started_at=SCAN_TIME + timedelta(hours=1), counts={})
    page = Page(render(result, history=ReportHistory(scans=[running, *older[:20], failed, *older[20:]])))

    shown = bars(page)
    assert len(shown) == 30
    assert [("current" in b.classes) for b in shown] == [False] * 29 + [True]
    expected = [s.counts["non_compliant"] + s.counts["not_assessed"] for s in reversed(older[:29])]
    assert [bar_value(b) for b in shown] == [*expected, 11]
    assert 999 not in [bar_value(b) for b in shown], "a failed scan's counts are no trend"
    # The same numbers as a table, newest first, for screen readers and for anyone who wants them exact.
    table = page.one("table", "trend-table")
    rows = [r for r in table.find("tr") if r.within("history") and r.find("td")]
    assert len(rows) == 30
    assert [int(r.find("td")[1].text) for r in rows] == [11, *reversed(expected)]
    assert "(this scan)" in rows[0].text
    summary = section(page, "trend-summary").text
    assert summary.startswith(f"11 problems now, {expected[-1]} at the scan before")
    assert f"{expected[0]} at the first of these 30 scans" in summary


def test_the_trend_reads_without_colour() -> None:
    page = Page(render(sample_result(), history=ReportHistory(scans=scan_history(14))))
    svg = page.one("svg", "chart")

    # A name for assistive technology, pointing at elements that exist.
    assert svg.attrs["role"] == "img"
    ids = {e.attrs.get("id") for e in page.elements}
    assert set((svg.attrs["aria-labelledby"] or "").split()) <= ids
    # Every bar says its numbers twice: its value written above it and a tooltip with the breakdown.
    for bar in bars(page):
        (tooltip,) = bar.find("title")
        assert "problem" in tooltip.text
        assert f"{bar_value(bar)} problem" in tooltip.text
    # "Not assessed" is a hatched pattern, not only another colour, and the legend says which is which.
    hatched = [r for r in svg.find("rect") if "na" in r.classes]
    assert hatched
    assert all(r.attrs.get("fill") == "url(#trend-hatch)" for r in hatched)
    assert [p.attrs.get("id") for p in svg.find("pattern")] == ["trend-hatch"]
    legend = page.one("p", "legend").text
    assert "non-compliant (solid)" in legend
    assert "not assessed (hatched)" in legend


def test_a_scan_without_problems_is_a_zero_bar_not_a_gap() -> None:
    result = clean_result()
    page = Page(render(result, history=ReportHistory(scans=scan_history(3))))
    last = bars(page)[-1]

    assert bar_value(last) == 0
    assert [r for r in last.find("rect") if "zero" in r.classes]


def previous_scan() -> ScanResult:
    """The day before :func:`sample_result`: api-contoso-com was fine, www-contoso-com had no AutoRenew yet,
    and a certificate since deleted was expiring."""
    before = sample_result(SCAN_TIME - timedelta(days=1))
    kept = [f for f in before.findings if f.certificate_name not in ("api-contoso-com", "www-contoso-com")]
    web = partial(finding, vault="kv-webapp-prod", resource_group="rg-web-prod", now=before.scan.started_at)
    before.findings = [
        *kept,
        web(RULE_AUTORENEW, Status.COMPLIANT, Severity.HIGH, certificate="api-contoso-com", reason="AutoRenew."),
        web(RULE_EXPIRY, Status.COMPLIANT, Severity.MEDIUM, certificate="api-contoso-com", reason="Far."),
        web(RULE_AUTORENEW, Status.NON_COMPLIANT, Severity.HIGH, certificate="www-contoso-com", reason="No action."),
        web(RULE_EXPIRY, Status.COMPLIANT, Severity.MEDIUM, certificate="www-contoso-com", reason="Far."),
        web(RULE_EXPIRY, Status.NON_COMPLIANT, Severity.HIGH, certificate="retired-api", reason="Expires soon."),
    ]
    before.scan.counts = count_by_status(before.findings)
    return before


def test_changes_since_the_previous_scan_list_the_new_and_the_fixed_problems_by_certificate() -> None:
    page = Page(render(sample_result(), history=ReportHistory(previous=previous_scan())))
    changes = section(page, "changes")

    assert "Compared with the scan of 2025-11-26 06:00 UTC" in changes.text
    assert "2 new problems, 2 fixed, 9 still open." in changes.text
    (new,) = changes.find("div", "new")
    places = [li for li in new.find("li") if li.find("ul")]
    assert [p.find("span", "name")[0].text for p in places] == ["kv-webapp-prod / api-contoso-com"]
    assert [joined(li) for li in places[0].find("li")] == [
        "KeyVault-006: high non-compliant",
        "CertificateExpiry: medium non-compliant",
    ]
    assert "New problems (2 on 1 certificate)" in new.text
    (fixed,) = changes.find("div", "fixed")
    lines = {p.find("span", "name")[0].text: joined(p.find("li")[0]) for p in fixed.find("li") if p.find("ul")}
    assert lines == {
        "kv-webapp-prod / retired-api": "CertificateExpiry: was high non-compliant; no longer reported",
        "kv-webapp-prod / www-contoso-com": "KeyVault-006: was high non-compliant; now compliant",
    }
    assert not changes.find("div", "changed")


def test_a_problem_whose_severity_moved_is_listed_as_changed_and_an_unchanged_scan_says_so() -> None:
    before = sample_result(SCAN_TIME - timedelta(days=1))
    before.findings = [
        replace(f, severity=Severity.MEDIUM)
        if (f.certificate_name, f.rule_id) == ("payments-gateway", RULE_EXPIRY)
        else f
        for f in before.findings
    ]
    page = Page(render(sample_result(), history=ReportHistory(previous=before)))
    (changed,) = section(page, "changes").find("div", "changed")
    assert "kv-payments-prod / payments-gateway" in changed.text
    assert "CertificateExpiry: medium non-compliant → high non-compliant" in joined(changed)

    same = Page(render(sample_result(), history=ReportHistory(previous=sample_result(SCAN_TIME - timedelta(days=1)))))
    assert "No change: 11 problems open, the same as in the previous scan." in section(same, "changes").text


def test_a_previous_scan_that_cannot_be_read_leaves_the_rest_of_the_report() -> None:
    history = ReportHistory(previous_error="Scan 20251126T060000Z-x is incomplete in the store: 1 of 2 pages")
    page = Page(render(sample_result(), history=history))

    assert "The previous scan could not be read, so changes are not shown: Scan 20251126T060000Z-x" in (
        section(page, "changes").text
    )
    assert len(problem_rows(page)) == 11


def test_without_a_store_the_report_shows_the_scan_alone() -> None:
    page = Page(render(sample_result()))

    assert not [e for e in page.elements if e.attrs.get("id") in ("history", "changes")]
    assert not page.find("svg")


# --- services ------------------------------------------------------------------------------------------------


def service_rows(page: Page) -> list[Element]:
    return [e for e in page.find("tbody", "binding") if e.within("services")]


def test_services_list_which_service_serves_which_version_stale_ones_first() -> None:
    result = binding_result()
    page = Page(render(result))
    rows = service_rows(page)

    assert [row_value(r, "c-service").split(" ")[0] for r in rows] == [
        "agw-legacy",
        "agw-payments",
        "payments-api-cert",
        "API",
        "apim-contoso",
        "fd-contoso/www-contoso-com",
    ]
    # The compliant row wears no badge (issue 19.5): only problems have a severity worth showing.
    assert [row_value(r, "c-sev") for r in rows] == ["critical", "high", "high", "high", "medium", "—"]
    assert "5 references need attention." in section(page, "services").text

    stale = rows[1]
    assert row_value(stale, "c-service") == (
        "agw-payments Application Gateway · payments-listener-cert Open in portal ↗"
    )
    assert row_value(stale, "c-cert") == "payments-gateway in kv-payments-prod"
    assert row_value(stale, "c-serves") == f"{VERSION_OLD[:8]}…"
    assert stale.find("td", "c-serves")[0].find("code")[0].attrs["title"] == VERSION_OLD
    assert row_value(stale, "c-current") == f"{VERSION_CURRENT[:8]}…"
    assert "point the listener certificate at the versionless secret id" in stale.find("tr", "reason")[0].text
    (link,) = stale.find("a", "portal")
    assert (
        link.attrs["href"]
        == f"{PORTAL}/#@/resource{service_id('Microsoft.Network/applicationGateways', 'agw-payments')}"
    )

    pinned_to_current = rows[4]
    assert row_value(pinned_to_current, "c-current") == f"{VERSION_CURRENT[:8]}… the same version"
    assert row_value(rows[5], "c-serves") == "latest version"
    # An App Service certificate follows by name, but one whose sync broke is not serving the latest.
    assert row_value(rows[2], "c-serves") == "follows by name, not serving the latest"
    assert row_value(rows[3], "c-service").startswith("API Management: could not be listed")


def test_a_reference_to_a_plain_secret_is_not_shown_as_failing_to_follow_the_latest_version() -> None:
    result = binding_result()
    followed = next(f for f in result.findings if f.rule_id == RULE_BINDING and f.status == Status.COMPLIANT)
    plain = replace(
        followed,
        status=Status.NOT_APPLICABLE,
        binding="partner-pfx",
        reason="It serves a plain Key Vault secret, not a certificate: KeyVault-006 cannot renew it.",
    )
    result.findings = [*result.findings, plain]
    row = next(r for r in service_rows(Page(render(result))) if "partner-pfx" in row_value(r, "c-service"))
    assert row_value(row, "c-serves") == "a plain secret, not a certificate version"


def test_service_problems_are_problems_and_name_the_service_but_stay_out_of_the_vault_groups() -> None:
    result = binding_result()
    page = Page(render(result))

    binding_problems = [r for r in problem_rows(page) if row_value(r, "c-rule").startswith("CertificateBinding")]
    assert len(binding_problems) == 5
    assert "served by agw-legacy" in row_value(binding_problems[0], "c-cert")
    assert len(other_rows(page)) == len(sample_result().findings) - 11
    assert "every service that serves one by CertificateBinding" in page.one("section", "summary").text


def test_a_scan_without_services_says_so_in_one_line() -> None:
    page = Page(render(sample_result()))
    services = section(page, "services")

    assert services.find("p", "empty")[0].text == (
        "No Application Gateway, Front Door, API Management or App Service in the scanned subscriptions serves "
        "a Key Vault certificate."
    )
    assert not services.find("table")


# --- text that is not what it seems ----------------------------------------------------------------------------

LONG = "w" * 200


def unicode_result() -> ScanResult:
    """A lone surrogate, a right-to-left override and 200-character names, in every section."""
    result = binding_result()
    tricky = [
        finding(
            RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            vault="kv-\u202egpj.exe",
            certificate=LONG,
            issuer="Contoso \ud800 CA",
            reason=f"Only EmailContacts is configured on {LONG}\u202e; set AutoRenew \udfff.",
        ),
        binding_finding(
            Status.NON_COMPLIANT,
            Severity.HIGH,
            resource_type="Microsoft.Network/applicationGateways",
            service="agw-" + "g" * 196,
            binding="listener-" + "l" * 191,
            vault="kv-\u202egpj.exe",
            certificate=LONG,
            bound_version=VERSION_OLD,
            current_version=VERSION_CURRENT,
            reason="Application Gateway serves an old version \ud83d; use the versionless secret id.",
        ),
    ]
    result.findings = [*result.findings, *tricky]
    result.scan.counts = count_by_status(result.findings)
    return result


def test_lone_surrogates_and_bidirectional_overrides_never_reach_the_page() -> None:
    result = unicode_result()
    markup = render(result, history=ReportHistory(scans=scan_history(3), previous=sample_result()))

    markup.encode("utf-8")  # a lone surrogate would raise here, and the route would fail to send the page
    assert "\u202e" not in markup
    assert not [ch for ch in markup if "\ud800" <= ch <= "\udfff"]
    text = Page(markup).text
    assert "Contoso \ufffd CA" in text
    assert "kv-gpj.exe" in text
    assert LONG in text
    assert f"served by agw-{'g' * 196}" in text


# --- the route, with the store's history -----------------------------------------------------------------------


def test_the_route_reads_the_history_and_survives_when_only_the_history_fails() -> None:
    result = sample_result()
    asked: list[int] = []

    def scans(limit: int) -> list[Scan]:
        asked.append(limit)
        return scan_history(40)[:limit]

    response = get_report(lambda: result, {}, portal_url=PORTAL, scans=scans, previous=lambda scan_id: previous_scan())
    assert response.status == 200
    page = Page(response.body)
    assert len(bars(page)) == 30
    assert asked == [60], "failed and running scans are listed too: ask for more than the chart shows"
    assert "2 new problems, 2 fixed, 9 still open." in section(page, "changes").text

    def broken(*_: object) -> Any:
        raise StoreError("Table Storage answered 503 ServerBusy while listing scans")

    degraded = get_report(lambda: result, {}, portal_url=PORTAL, scans=broken, previous=broken)
    assert degraded.status == 200
    page = Page(degraded.body)
    assert len(bars(page)) == 1
    assert "Older scans could not be read: Table Storage answered 503 ServerBusy" in page.text
    assert "The previous scan could not be read" in section(page, "changes").text
    assert len(problem_rows(page)) == 11


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
    services: [...document.querySelectorAll('#services tbody.binding')].map(box),
    chart: [...document.querySelectorAll('#history svg.chart')].map(box),
    bars: [...document.querySelectorAll('#history g.scan')].map((g) => box(g.querySelector('rect'))),
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


def _probe(markup: str, width: int, height: int, tmp_path: Path) -> tuple[Page, dict[str, Any]]:
    """What the browser built and where it put it: the page plus the probe, in an iframe of the width."""
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
    probe = json.loads(dom.one("body").attrs["data-probe"] or "{}")
    assert probe["width"] == width
    assert probe["scrollWidth"] <= width, f"the page scrolls sideways at {width}px: {probe['wider']}"
    assert not probe["wider"], f"elements wider than the viewport: {probe['wider']}"
    return dom, probe


def report_history() -> ReportHistory:
    """29 earlier scans and yesterday's findings: a month of trend and a few changes."""
    return ReportHistory(scans=scan_history(29), previous=previous_scan())


@pytest.mark.browser
@pytest.mark.parametrize("viewport", list(_VIEWPORTS))
def test_the_report_renders_in_headless_chromium(viewport: str, tmp_path: Path) -> None:
    width, height = _VIEWPORTS[viewport]
    result = binding_result()
    markup = render(result, history=report_history())
    ARTIFACTS.mkdir(exist_ok=True)
    page_file = ARTIFACTS / "report.html"
    page_file.write_text(markup, encoding="utf-8")
    screenshot = ARTIFACTS / f"report-{viewport}.png"
    screenshot.unlink(missing_ok=True)

    # What a person sees: the page exactly as served.
    _run_chromium([f"--screenshot={screenshot}", page_file.as_uri()], tmp_path / "profile", width, height)
    dom, probe = _probe(markup, width, height, tmp_path)

    rows = problem_rows(dom)
    assert len(rows) == len(result.problems)
    assert [row_value(r, "c-cert") for r in rows][:3] == [
        "legacy-portal-imported",
        "legacy-portal-imported served by agw-legacy",
        "legacy-portal-imported",
    ]
    assert len(probe["rows"]) == len(result.problems)
    for left, right, row_width, row_height in probe["rows"] + probe["services"]:
        assert row_width > 200
        assert row_height > 40
        assert left >= 0
        assert right <= width
    assert len(probe["tiles"]) == 5
    assert len(probe["services"]) == 6
    # The chart: 30 bars side by side inside it, the newest on the right.
    ((chart_left, chart_right, chart_width, chart_height),) = probe["chart"]
    assert chart_width > width * 0.5
    assert chart_height > 100
    assert len(probe["bars"]) == 30
    lefts = [b[0] for b in probe["bars"]]
    assert lefts == sorted(lefts)
    assert all(chart_left <= b[0] and b[1] <= chart_right + 1 for b in probe["bars"])
    if viewport == "phone":
        # Cards, one under the other, each as wide as the screen allows.
        assert all(r[2] > width * 0.8 for r in probe["rows"] + probe["services"])
    else:
        # Table rows: the full width of the table, facts in one line above the reason.
        assert all(r[2] > 1000 for r in probe["rows"] + probe["services"])

    png = Png.read(screenshot)
    assert (png.width, png.height) == (width, height)
    assert screenshot.stat().st_size > 30_000, "a blank page compresses to a few kilobytes"
    colours = png.colours()
    assert len(colours) > 100, "the screenshot is nearly blank"
    visible = {name for name, rgb in _BADGE_COLOURS.items() if rgb in colours}
    # The first screen shows the worst: on a laptop the critical and high problem rows; on a phone the
    # verdict, the counts and the trend come first, and the worst new problem is already in view.
    expected = {"critical", "high"} if viewport == "desktop" else {"critical"}
    assert expected <= visible, f"severity badges painted: {sorted(visible)}"


@pytest.mark.browser
@pytest.mark.parametrize("viewport", list(_VIEWPORTS))
def test_200_character_names_and_direction_overrides_do_not_break_the_layout(viewport: str, tmp_path: Path) -> None:
    width, height = _VIEWPORTS[viewport]
    result = unicode_result()
    markup = render(result, history=ReportHistory(scans=scan_history(29), previous=sample_result()))

    dom, probe = _probe(markup, width, height, tmp_path)

    assert len(probe["rows"]) == len(result.problems)
    assert len(probe["services"]) == 7
    assert all(r[0] >= 0 and r[1] <= width for r in probe["rows"] + probe["services"])
    assert LONG in dom.text


def test_changes_name_each_unlistable_service_type_and_join_a_binding_to_its_certificate() -> None:
    # Grouped as the digest groups problems: two service types that could not be listed in one subscription
    # are two places, and a binding from another subscription joins the certificate it serves.
    def unlisted(resource_type: str) -> Finding:
        return binding_finding(
            Status.NOT_ASSESSED,
            Severity.HIGH,
            resource_type=resource_type,
            service=None,
            binding=None,
            vault=None,
            certificate=None,
            bound_version=None,
            current_version=None,
            reason=f"Could not list the subscription's {resource_type} resources.",
        )

    served_elsewhere = binding_finding(
        Status.NON_COMPLIANT,
        Severity.MEDIUM,
        resource_type="Microsoft.ApiManagement/service",
        service="apim-contoso",
        binding="api.contoso.com",
        vault="kv-webapp-prod",
        certificate="api-contoso-com",
        bound_version=VERSION_CURRENT,
        current_version=VERSION_CURRENT,
        reason="API Management apim-contoso is pinned to the current version.",
        subscription_id="22222222-2222-2222-2222-222222222222",
    )
    current = sample_result()
    current.findings = [
        *current.findings,
        unlisted("Microsoft.ApiManagement/service"),
        unlisted("Microsoft.Web/certificates"),
        served_elsewhere,
    ]
    page = Page(render(current, history=ReportHistory(previous=previous_scan())))

    (new,) = section(page, "changes").find("div", "new")
    places = [p.find("span", "name")[0].text for p in new.find("li") if p.find("ul")]

    assert places.count("kv-webapp-prod / api-contoso-com") == 1, places
    assert sum("services in subscription" in p for p in places) == 2, places
    assert any(p.startswith("API Management") for p in places), places
    assert any(p.startswith("App Service") for p in places), places


# --- issue 19.5: honest output ---------------------------------------------------------------------------------


def _stale_binding(vault: str, certificate: str) -> Finding:
    return binding_finding(
        Status.NON_COMPLIANT,
        Severity.HIGH,
        resource_type="Microsoft.Network/applicationGateways",
        service="agw-payments",
        binding="payments-listener-cert",
        vault=vault,
        certificate=certificate,
        bound_version=VERSION_OLD,
        current_version=VERSION_CURRENT,
        reason="Application Gateway agw-payments serves an older version; point it at the versionless secret id.",
    )


def test_a_vault_does_not_show_all_green_above_its_binding_problems() -> None:
    """Every certificate of kv-payments-prod renews itself, but a gateway serves an old version of one:
    the vault's group counts that problem (and says where its service rows are), it does not read clean."""
    clean = clean_result()
    result = replace(clean, findings=[*clean.findings, _stale_binding("kv-payments-prod", "payments-gateway")])
    page = Page(render(result))
    groups = {g.find("span", "vault-name")[0].text: g for g in page.find("details", "vault")}

    summary = groups["kv-payments-prod"].find("summary")[0].text
    assert "1 problem above" in summary
    assert "1 service reference" in summary
    assert "problem" not in groups["kv-webapp-prod"].find("summary")[0].text


def test_rows_that_are_not_problems_carry_no_severity_badge() -> None:
    """A compliant service reference is not "info severity": only problems wear a severity badge (the CSV
    keeps the rule's severity column, documented in README)."""
    page = Page(render(binding_result()))
    rows = service_rows(page)
    compliant = [r for r in rows if row_value(r, "c-status") == "compliant"]
    assert compliant
    for row in compliant:
        assert not row.find("span", "badge")
        assert row_value(row, "c-sev") == "—"
    assert all(r.find("span", "badge") for r in rows if row_value(r, "c-status") != "compliant")


def test_the_headline_counts_vaults_not_subscription_groups() -> None:
    """A subscription whose vaults could not be listed is not a vault: the headline says which is which."""
    sample = sample_result()
    unlisted = finding(
        RULE_AUTORENEW,
        Status.NOT_ASSESSED,
        Severity.HIGH,
        vault=None,
        certificate=None,
        reason="Could not list the Key Vaults of the subscription (HTTP 403 AuthorizationFailed).",
        subscription_id=SUBSCRIPTION_DEV,
    )
    result = replace(sample, findings=[*sample.findings, unlisted])
    vaults = {f.vault_name for f in result.findings if f.status.is_problem and f.vault_name}
    detail = Page(render(result)).one("p", "verdict-detail").text
    assert f"across 6 certificates, {len(vaults)} vaults and 1 subscription." in detail
