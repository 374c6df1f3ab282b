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
this app's own wording and numbers, and links whose URL is percent-encoded (see ``digest.safe_url``).
Adaptive Cards never render HTML.
"""

from __future__ import annotations

from typing import Any

from shared.alerts.digest import Digest, ProblemItem, RemediationItem, pack, payload_bytes, place, split_text
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
    groups = [_summary(digest), *_notes(digest), *_remediations(digest), *(_problem(p) for p in digest.problems)]
    base = len(payload_bytes(_envelope(digest.title(999, 999), [])))
    pages = pack(groups, _cost, (TEAMS_MESSAGE_BUDGET - base,))
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
    chunks = split_text(text, TEAMS_TEXT_CHUNK)
    return [_rich(_run(chunk, **style), spacing="None") for chunk in chunks if chunk.strip()]


def _link(url: str, label: str) -> Element:
    return _text(f"[{label}]({url})", size="Small", spacing="Small")


def _containers(items: list[Element]) -> list[Element]:
    """Wrap one problem's items in a container, or several when they would make one too big."""
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
        {"type": "FactSet", "facts": [{"title": label, "value": str(count)} for label, count in digest.counts]},
        _rich(_run(digest.scan_line, isSubtle=True, size="Small")),
    ]
    if digest.report_url:
        elements.append(_link(digest.report_url, "Open the full report"))
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
        _run(f"{item.vault_name} / {item.certificate_name}", weight="Bolder"),
        _run(f": {item.before} → {item.after} ({item.outcome})"),
        spacing="None",
    )


def _problem(item: ProblemItem) -> list[Element]:
    finding = item.finding
    heading: list[Element] = []
    if item.is_new:
        heading.append(_run("NEW ", color="Accent", weight="Bolder"))
    heading += [
        _run(item.severity_label, color=_SEVERITY_COLOR.get(finding.severity, "Default"), weight="Bolder"),
        _run(f" · {item.status_label} · {finding.rule_id}", isSubtle=True),
    ]
    where = [_run(place(finding), weight="Bolder")]
    if item.expiry:
        where.append(_run(f" · {item.expiry}", isSubtle=True))
    items = [
        _rich(*heading),
        _rich(*where, spacing="None"),
        *_plain(finding.reason),
    ]
    if item.link:
        items.append(_link(item.link, "Open in Azure portal"))
    return _containers(items)
