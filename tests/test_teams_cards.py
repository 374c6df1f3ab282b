"""Every Teams card the digest builders make, drawn by Microsoft's Adaptive Cards renderer in headless Chromium.

Microsoft's renderer (npm ``adaptivecards``) with the Teams light host config, each card laid out 500 px
wide (the narrow side of a Teams channel): the renderer must report no parse or validation event,
nothing may run past the card's edge or be clipped inside it, and no bidirectional control may reach
the text shown. The digests are the test scans of tests/sample_results.py and tests/alert_examples.py,
plus a 300-problem estate, a certificate with a 150-character name without a break, and names and a
reason carrying U+202E and U+2066. The cards are whatever ``shared.alerts.build_messages("teams", ...)``
returns, so the test follows the builders as they change. See tests/cards/harness.py for the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.alerts import build_messages
from shared.models import RULE_AUTORENEW, RULE_EXPIRY, ScanResult, Severity, Status, count_by_status
from tests.alert_examples import example_result
from tests.cards.harness import CardReport, cards_of, generic_card, render_cards
from tests.cards.slack_mock import mrkdwn, slack_page
from tests.sample_results import (
    clean_result,
    failed_result,
    finding,
    hostile_result,
    sample_result,
)

REPORT_URL = "https://func-autorenew-guard.azurewebsites.net/api/report"
LONG_NAME = "a" * 150


def teams_cards(result: ScanResult) -> list[dict[str, Any]]:
    return cards_of(build_messages("teams", result, report_url=REPORT_URL))


def large_result() -> ScanResult:
    """300 problems over 25 vaults: the digest that once made 12 cards of 3,000 px."""
    result = sample_result()
    result.findings = [
        finding(
            RULE_EXPIRY if i % 2 else RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH if i % 3 else Severity.MEDIUM,
            vault=f"kv-estate-{i % 25:02d}",
            certificate=f"cert-{i // 2:03d}-contoso-com",
            issuer="Self",
            action="EmailContacts",
            days_before_expiry=3,
            expires_in=timedelta(days=5 + i % 25),
            reason="Only EmailContacts is configured (3 days before expiry); set the lifetime action to AutoRenew.",
        )
        for i in range(300)
    ]
    result.scan.counts = count_by_status(result.findings)
    return result


def long_name_result() -> ScanResult:
    """A certificate and a vault whose names are 150 characters without a place to break a line."""
    result = sample_result()
    result.findings = [
        *result.findings,
        finding(
            RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            vault="kv-" + "v" * 21,
            certificate=LONG_NAME,
            issuer="Self",
            reason=f"No lifetime action is configured on {LONG_NAME}; set the lifetime action to AutoRenew.",
        ),
    ]
    result.scan.counts = count_by_status(result.findings)
    return result


def bidi_result() -> ScanResult:
    """Bidirectional controls in a vault name, a certificate name and a reason (U+202E, U+2066)."""
    result = sample_result()
    result.findings = [
        *result.findings,
        finding(
            RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            vault="kv-\u202egpj.exe",
            certificate="invoice-\u2066signing\u2069",
            issuer="Self",
            reason="No lifetime action is configured \u202ehere; set the lifetime action to AutoRenew.",
        ),
    ]
    result.scan.counts = count_by_status(result.findings)
    return result


DIGESTS = {
    "sample": sample_result,
    "hostile": hostile_result,
    "clean": clean_result,
    "failed": failed_result,
    "example": example_result,
    "300-problems": large_result,
    "150-char-name": long_name_result,
    "bidi-controls": bidi_result,
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[CardReport]]:
    """Every card of every digest, in one browser run (a few seconds)."""
    named = [
        (f"{digest}#{index + 1}", card)
        for digest, make in DIGESTS.items()
        for index, card in enumerate(teams_cards(make()))
    ]
    reports = render_cards(named, tmp_path_factory.mktemp("cards"))
    by_digest: dict[str, list[CardReport]] = {name: [] for name in DIGESTS}
    for report in reports:
        by_digest[report.name.split("#")[0]].append(report)
    return by_digest


@pytest.mark.browser
@pytest.mark.parametrize("digest", list(DIGESTS))
def test_every_teams_card_renders_without_errors_inside_500_px(
    digest: str, rendered: dict[str, list[CardReport]]
) -> None:
    reports = rendered[digest]
    assert reports, f"the {digest} digest made no Teams card"
    failing = [r.describe() for r in reports if r.errors or r.layout_problems or r.bidi]
    assert not failing, "\n".join(failing)
    for report in reports:
        assert report.width == pytest.approx(500, abs=1), report.describe()
        assert report.height > 100, f"{report.name} rendered nearly empty"


@pytest.mark.browser
def test_the_harness_catches_a_broken_card_and_a_name_past_the_edge(tmp_path: Path) -> None:
    """The check itself can fail: an unknown element, a bad value, an unwrapped name and a U+202E are reported."""
    broken = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [
            {"type": "Carousel3D"},
            {"type": "TextBlock", "text": "big", "size": "Huge"},
            {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": LONG_NAME}]},
            {"type": "TextBlock", "text": LONG_NAME, "wrap": False},
            {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "kv-\u202egpj.exe"}]},
        ],
    }
    (report,) = render_cards([("broken", broken)], tmp_path)

    assert any(e.startswith("UnknownElementType") for e in report.errors), report.describe()
    assert any(e.startswith("InvalidPropertyValue") for e in report.errors), report.describe()
    assert any("ac-textRun" in p for p in report.overflow), report.describe()
    assert report.clipped, report.describe()
    assert [b.split(" in ")[0] for b in report.bidi] == ["U+202E"], report.describe()


def test_only_the_teams_property_is_removed_before_the_generic_renderer_judges_a_card() -> None:
    card: Mapping[str, Any] = teams_cards(sample_result())[0]
    generic = generic_card(card)

    assert "msteams" in card
    assert "msteams" not in generic
    assert generic == {k: v for k, v in card.items() if k != "msteams"}


def test_the_slack_mock_shows_estate_text_as_text() -> None:
    text = "*High* `kv&lt;b&gt;` &lt;script&gt; <https://example.com/a?b=1&amp;c=2|Open in Azure portal> :red_circle:"
    shown = mrkdwn(text)

    assert "<b>High</b>" in shown
    assert "<code>kv&lt;b&gt;</code>" in shown
    assert "&lt;script&gt;" in shown
    assert '<a href="https://example.com/a?b=1&amp;c=2">Open in Azure portal</a>' in shown
    assert 'class="dot"' in shown
    page = slack_page(build_messages("slack", hostile_result())[0])
    assert "<script>" not in page
