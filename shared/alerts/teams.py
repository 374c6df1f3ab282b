"""Teams: the digest as Adaptive Cards in the envelope a Teams Workflows webhook expects.

The Workflows template "Post to a channel when a webhook request is received" reads
``{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"content": <card>}]}`` and posts each card. Limits kept: card ``version`` 1.5 (the newest Teams renders
on every client) with only 1.5 elements, and at most 24 KB of compact UTF-8 JSON per message, leaving
margin under the ~28 KB Teams accepts for a posted message.

Escaping: estate text (names, tags, reasons, service messages) goes only into ``TextRun`` elements of a
``RichTextBlock``, which Adaptive Cards render as plain text ("Markdown is not supported" in a TextRun),
so ``[link](http://evil)``, ``**bold**`` or ``<b>`` arrive as the literal characters on every client.
``TextBlock`` elements (which do process Markdown, inconsistently across desktop and mobile) carry only
this app's own wording and numbers. Links are buttons (``Action.OpenUrl`` in an ``ActionSet``) with the
app's own titles and percent-encoded URLs (see ``fitting.safe_url``). Adaptive Cards never render HTML.

Layout: every text wraps (``wrap`` on TextBlocks; RichTextBlocks always wrap), and long unbroken names get
zero-width break opportunities (``fitting.breakable``) so a 120-character certificate name wraps inside
the card instead of running past its edge. Severity is a word ("Critical", "High"), coloured as well.
An entry spread over two messages starts the second with "continued: <vault / certificate>".
"""

from __future__ import annotations

from typing import Any

from shared.alerts.digest import Digest, Entry, Link, RemediationItem
from shared.alerts.fitting import breakable, pack, payload_bytes, split_text
from shared.models import Severity

TEAMS_MESSAGE_LIMIT = 28 * 1024
TEAMS_MESSAGE_BUDGET = 24 * 1024
TEAMS_CARD_VERSION = "1.5"
TEAMS_TEXT_CHUNK = 2000  # characters of estate text per TextRun
TEAMS_CONTAINER_BUDGET = 8 * 1024  # bytes per container, so a huge reason spreads over several messages
ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

_SEVERITY_COLOR = {
    Severity.CRITICAL: "Attention",
    Severity.HIGH: "Attention",
    Severity.MEDIUM: "Warning",
    Severity.LOW: "Accent",
    Severity.INFO: "Default",
}

Element = dict[str, Any]


def build_teams_messages(digest: Digest) -> list[dict[str, Any]]:
    groups = [
        _summary(digest),
        *_notes(digest),
        *_remediations(digest),
        *(_entry(e) for e in digest.entries),
        *_closing(digest),
    ]
    labels: list[str | None] = [None] * (1 + len(_notes(digest)) + len(_remediations(digest)))
    labels += [e.title for e in digest.entries]

    def continued(index: int) -> list[Element]:
        title = labels[index] if index < len(labels) else None
        if title is None:
            return [_text("(continued)", isSubtle=True, size="Small")]
        return [_rich(_run("continued: ", isSubtle=True), _run(breakable(title), weight="Bolder"))]

    base = len(payload_bytes(_envelope(digest.title(999, 999), [])))
    pages = pack(groups, _cost, (TEAMS_MESSAGE_BUDGET - base,), continued=continued)
    return [_envelope(digest.title(part, len(pages)), page) for part, page in enumerate(pages, start=1)]


def _cost(element: Element) -> tuple[int]:
    return (len(payload_bytes(element)) + 1,)  # the element and the comma before it


def _envelope(title: str, elements: list[Element]) -> dict[str, Any]:
    card = {
        "$schema": ADAPTIVE_CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": TEAMS_CARD_VERSION,
        "msteams": {"width": "Full"},
        "fallbackText": title,
        "body": [
            {"type": "TextBlock", "text": title, "size": "Large", "weight": "Bolder", "style": "heading", "wrap": True},
            *elements,
        ],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


# --- elements ----------------------------------------------------------------------------------------------


def _text(text: str, **style: Any) -> Element:
    """A TextBlock: only for this app's own wording (it is Markdown)."""
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _run(text: str, **style: Any) -> Element:
    """A TextRun: plain text, never Markdown. The one place estate text goes."""
    return {"type": "TextRun", "text": text, **style}


def _rich(*runs: Element, **style: Any) -> Element:
    return {"type": "RichTextBlock", "inlines": list(runs), **style}


def _plain(text: str, **style: Any) -> list[Element]:
    """Estate text as RichTextBlocks of bounded size (a very long reason becomes several)."""
    chunks = split_text(breakable(text), TEAMS_TEXT_CHUNK)
    return [_rich(_run(chunk, **style), spacing="None") for chunk in chunks if chunk.strip()]


def _buttons(links: tuple[Link, ...] | list[Link]) -> Element:
    """Links as buttons: ``Action.OpenUrl`` in an ``ActionSet`` (Adaptive Cards 1.2+)."""
    return {
        "type": "ActionSet",
        "spacing": "Small",
        "actions": [{"type": "Action.OpenUrl", "title": link.label, "url": link.url} for link in links],
    }


def _containers(items: list[Element]) -> list[Element]:
    """Wrap one entry's items in a container, or several when they would make one too big."""
    chunks = pack([[item] for item in items], _cost, (TEAMS_CONTAINER_BUDGET,))
    containers: list[Element] = []
    for index, chunk in enumerate(chunks):
        container: Element = {"type": "Container", "items": chunk}
        if index == 0:
            container.update(separator=True, spacing="Medium")
        else:
            container["spacing"] = "None"
        containers.append(container)
    return containers


def _summary(digest: Digest) -> list[Element]:
    elements = [
        _text(digest.summary, spacing="Small"),
        _text(digest.counts_line, spacing="Small", size="Small"),
    ]
    if digest.ongoing:
        elements.append(_text(digest.ongoing, spacing="Small", size="Small"))
    if digest.fixed:
        noun = "finding" if digest.fixed == 1 else "findings"
        elements.append(_text(f"{digest.fixed} {noun} resolved since the last digest.", spacing="Small", size="Small"))
    elements.append(_rich(_run(digest.scan_line, isSubtle=True, size="Small")))
    if digest.report_url:
        elements.append(_buttons([Link("Open the full report", digest.report_url)]))
    return elements


def _notes(digest: Digest) -> list[list[Element]]:
    if not digest.notes:
        return []
    items: list[Element] = [_text("Scan notes", weight="Bolder")]
    for note in digest.notes:
        items.extend(_plain(f"• {note}"))
    return [_containers(items)]


def _remediations(digest: Digest) -> list[list[Element]]:
    if not digest.remediations:
        return []
    items = [_text(f"Changed by auto-remediation ({len(digest.remediations)})", weight="Bolder")]
    items.extend(_remediation(item) for item in digest.remediations)
    return [_containers(items)]


def _remediation(item: RemediationItem) -> Element:
    return _rich(
        _run("✗ " if item.failed else "✓ ", color="Attention" if item.failed else "Good", weight="Bolder"),
        _run(breakable(f"{item.vault_name} / {item.certificate_name}"), weight="Bolder"),
        _run(breakable(f": {item.before} → {item.after} ({item.outcome})")),
        spacing="None",
    )


def _entry(entry: Entry) -> list[Element]:
    heading: list[Element] = []
    if entry.mark_label:
        heading.append(_run(f"{entry.mark_label} ", color="Accent", weight="Bolder"))
    heading.append(_run(entry.severity_label, color=_SEVERITY_COLOR.get(entry.severity, "Default"), weight="Bolder"))
    heading.append(_run(" · "))
    heading.append(_run(breakable(entry.title), weight="Bolder"))
    if entry.expiry:
        heading.append(_run(f" · {entry.expiry}", isSubtle=True))
    items: list[Element] = [_rich(*heading)]
    for line in entry.lines:
        head = [
            _run(
                line.severity_label, color=_SEVERITY_COLOR.get(line.severity, "Default"), weight="Bolder", size="Small"
            ),
            _run(f" · {line.status_label} · {', '.join(line.rules)}", isSubtle=True, size="Small"),
        ]
        if line.service:
            head.append(_run(" · " + breakable(line.service), size="Small", weight="Bolder"))
        items.append(_rich(*head, spacing="Small"))
        items.extend(_plain(line.reason))
    if entry.links:
        items.append(_buttons(entry.links))
    return _containers(items)


def _closing(digest: Digest) -> list[list[Element]]:
    if not digest.more_line:
        return []
    items: list[Element] = [_text(digest.more_line, weight="Bolder", spacing="Medium", separator=True)]
    if digest.report_url:
        items.append(_buttons([Link("Open the full report", digest.report_url)]))
    return [items]
