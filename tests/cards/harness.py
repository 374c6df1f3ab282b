"""Render Teams cards with Microsoft's Adaptive Cards renderer in headless Chromium, as a channel member sees them.

The page built here loads the renderer (npm ``adaptivecards``) and ``markdown-it`` from ``node_modules``
(``npm ci`` installs both, pinned in package.json), applies the Teams light host config and lets
``render.js`` lay every card out at :data:`CARD_WIDTH` px, the narrow side of a Teams channel. It reports
what the renderer said while parsing and validating (``AdaptiveCard.parse`` with a ``SerializationContext``,
then ``validateProperties()``), every element that runs past the card's edge or is clipped inside it, and
every bidirectional control character left in the text the reader sees.

Host config: ``microsoft-teams-light.json`` is a verbatim copy of ``samples/HostConfig/microsoft-teams-light.json``
of the microsoft/AdaptiveCards repository (MIT licence), commit 6cf9ce1ac957c32b864a6bf1ed31c13dc2efc742.

The generic Adaptive Card 1.5 schema does not know the top-level ``msteams`` property that Teams reads
(``{"width": "Full"}``); Teams-only properties are removed before the generic renderer judges the card,
and the rest of the card must pass untouched.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tests.browser import NODE_MODULES, BrowserError, dump_dom, screenshot

HERE = Path(__file__).resolve().parent
HOST_CONFIG = HERE / "microsoft-teams-light.json"
RENDER_JS = HERE / "render.js"
RENDERER_JS = NODE_MODULES / "adaptivecards" / "dist" / "adaptivecards.min.js"
MARKDOWN_JS = NODE_MODULES / "markdown-it" / "dist" / "markdown-it.min.js"
CARD_WIDTH = 500
TEAMS_ONLY_PROPERTIES = ("msteams",)
ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

# The Teams channel background around a card, and the card's own frame, for the screenshots.
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Adaptive Cards in the Teams host config</title>
<style>
body {{ margin: 0; padding: 16px; background: #f5f5f5; font-family: 'Segoe UI', Tahoma, sans-serif; }}
#stage {{ display: flex; flex-direction: column; gap: 16px; align-items: flex-start; }}
.card-frame {{ background: #fff; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.18); overflow: visible; }}
#out {{ display: none; }}
</style></head>
<body>
<div id="stage" data-width="{width}"></div>
<pre id="out"></pre>
<script id="host-config" type="application/json">{host_config}</script>
<script id="cards" type="application/json">{cards}</script>
<script src="{markdown}"></script>
<script src="{renderer}"></script>
<script src="{render}"></script>
</body></html>
"""


@dataclass
class CardReport:
    """What the renderer and the layout said about one card."""

    name: str
    parse: list[dict[str, str]] = field(default_factory=list)
    validation: list[dict[str, str]] = field(default_factory=list)
    overflow: list[str] = field(default_factory=list)
    clipped: list[str] = field(default_factory=list)
    bidi: list[str] = field(default_factory=list)
    width: float = 0
    height: float = 0

    @property
    def errors(self) -> list[str]:
        return [f"{e.get('event')}: {e.get('message')}" for e in (*self.parse, *self.validation)]

    @property
    def layout_problems(self) -> list[str]:
        return [*self.overflow, *self.clipped]

    def describe(self) -> str:
        lines = [f"{self.name} ({self.width:.0f}x{self.height:.0f} px)"]
        lines += [f"  error: {e}" for e in self.errors]
        lines += [f"  layout: {p}" for p in self.layout_problems]
        lines += [f"  text: {p}" for p in self.bidi]
        return "\n".join(lines)


def cards_of(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The Adaptive Cards inside Workflows envelopes (``{"type": "message", "attachments": [...]}``)."""
    cards = []
    for message in messages:
        for attachment in message.get("attachments", []):
            if attachment.get("contentType") == ADAPTIVE_CARD_CONTENT_TYPE:
                cards.append(attachment["content"])
    return cards


def generic_card(card: Mapping[str, Any]) -> dict[str, Any]:
    """The card without the properties only Teams knows (see the module's docstring)."""
    return {name: value for name, value in card.items() if name not in TEAMS_ONLY_PROPERTIES}


def _script_json(value: Any) -> str:
    # Inside <script>, only "</" could end the element early; JSON allows "\/" for "/".
    return json.dumps(value, ensure_ascii=True).replace("</", "<\\/")


def build_page(named_cards: Sequence[tuple[str, Mapping[str, Any]]], target: Path, width: int = CARD_WIDTH) -> Path:
    for needed in (RENDERER_JS, MARKDOWN_JS):
        if not needed.exists():
            raise BrowserError(f"{needed} is missing: run `npm ci` in the repository (package.json pins it).")
    cards = [{"name": name, "card": generic_card(card)} for name, card in named_cards]
    target.write_text(
        _PAGE.format(
            width=width,
            host_config=_script_json(json.loads(HOST_CONFIG.read_text(encoding="utf-8"))),
            cards=_script_json(cards),
            markdown=escape(MARKDOWN_JS.as_uri()),
            renderer=escape(RENDERER_JS.as_uri()),
            render=escape(RENDER_JS.as_uri()),
        ),
        encoding="utf-8",
    )
    return target


class _Out(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = self.inside or (tag == "pre" and ("id", "out") in attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text.append(data)


def render_cards(
    named_cards: Sequence[tuple[str, Mapping[str, Any]]], workdir: Path | None = None, width: int = CARD_WIDTH
) -> list[CardReport]:
    """Render every card in one browser run; one :class:`CardReport` per card, in order."""
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        folder = Path(scratch)
        page = build_page(named_cards, folder / "cards.html", width)
        dom = dump_dom(page, folder / "profile", width=max(1000, width + 100), height=800)
    parser = _Out()
    parser.feed(dom)
    text = "".join(parser.text).strip()
    if not text:
        raise BrowserError(f"render.js reported nothing; the page's DOM starts: {dom[:800]}")
    report = json.loads(text)
    if report.get("fatal"):
        raise BrowserError(f"render.js failed: {report['fatal']}")
    fields = CardReport.__dataclass_fields__
    return [CardReport(**{k: v for k, v in card.items() if k in fields}) for card in report["cards"]]


def card_screenshot(
    card: Mapping[str, Any], target: Path, *, width: int = CARD_WIDTH, workdir: Path | None = None
) -> CardReport:
    """A PNG of one card on a Teams-grey background, as tall as the card."""
    (measured,) = render_cards([("screenshot", card)], workdir, width)
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        folder = Path(scratch)
        page = build_page([("screenshot", card)], folder / "card.html", width)
        screenshot(page, target, folder / "profile", width + 32, int(measured.height) + 32)
    return measured
