"""Regenerate the chat screenshots of docs/ALERTS.md from the digest the builders produce now:

    python -m tests.cards.shots

docs/alerts-teams-card.png is the first Teams card of the demo estate's digest (tests/alert_examples.py, the
same digest as docs/examples/), drawn by
Microsoft's Adaptive Cards renderer with the Teams host config (tests/cards/harness.py); docs/alerts-slack-
message.png is the first Slack message of the same digest drawn by tests/cards/slack_mock.py. Needs
Chromium and ``npm ci``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.alert_examples import demo_messages, demo_result
from tests.browser import REPO, dump_dom, screenshot
from tests.cards.harness import card_screenshot, cards_of
from tests.cards.slack_mock import slack_page

DOCS = REPO / "docs"
TEAMS_SHOT = DOCS / "alerts-teams-card.png"
SLACK_SHOT = DOCS / "alerts-slack-message.png"
SLACK_WIDTH = 720

_MEASURE = (
    "<script>document.body.setAttribute('data-height', "
    "String(Math.ceil(document.documentElement.getBoundingClientRect().height)));</script></body>"
)


def teams_shot(target: Path = TEAMS_SHOT) -> Path:
    card = cards_of(demo_messages("teams", demo_result()))[0]
    report = card_screenshot(card, target)
    problems = [*report.errors, *report.layout_problems]
    if problems:
        raise SystemExit("The example card does not render cleanly:\n" + report.describe())
    return target


def slack_shot(target: Path = SLACK_SHOT) -> Path:
    page_html = slack_page(demo_messages("slack", demo_result())[0])
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        page = folder / "slack.html"
        page.write_text(page_html.replace("</body>", _MEASURE), encoding="utf-8")
        dom = dump_dom(page, folder / "profile", SLACK_WIDTH, 800)
        marker = 'data-height="'
        height = int(dom[dom.index(marker) + len(marker) :].split('"', 1)[0]) if marker in dom else 1200
        page.write_text(page_html, encoding="utf-8")
        screenshot(page, target, folder / "profile", SLACK_WIDTH, height + 8)
    return target


def main() -> int:
    for path in (teams_shot(), slack_shot()):
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
