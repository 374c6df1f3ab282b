"""Slack: the digest as Block Kit messages for an incoming webhook (``https://hooks.slack.com/services/...``).

Limits kept (https://docs.slack.dev/reference/block-kit): at most 50 blocks per message, at most 3000
characters per text object, 150 per header; a top-level ``text`` is always set (it is what notifications
and old clients show). Slack also refuses messages whose blocks hold much more than ~13 000 characters in
total (``msg_blocks_too_long``, below the documented 40 000), so a message carries at most 12 000.
Lengths are counted in UTF-16 code units, which is never less than Python's ``len``.

Escaping: estate text (names, tags, reasons, service messages) is mrkdwn-escaped: ``&``, ``<`` and ``>``
become entities, so ``<!channel>`` or ``<https://evil|click>`` stay literal text, and the formatting
characters ``* _ ~ ` `` are fenced by zero-width spaces where they could open or close formatting, so a
name like ``*prod*`` cannot turn bold (Slack has no backslash escape). Vault and certificate names are
shown in code spans, where no formatting applies at all. Every text object is ``verbatim`` so Slack
does not turn words into links or mentions.

Links are buttons (``button`` elements with a ``url`` in an ``actions`` block) titled with the app's own
words. Long unbroken names get zero-width break opportunities (``fitting.breakable``); severity is a word
next to its coloured circle; an entry spread over two messages starts the second with "continued:".
"""

from __future__ import annotations

import zlib
from typing import Any

from shared.alerts.digest import Digest, Entry, Link, RemediationItem
from shared.alerts.fitting import ZERO_WIDTH_SPACE, breakable, pack, split_text
from shared.models import Severity

SLACK_MAX_BLOCKS = 50
SLACK_TEXT_LIMIT = 3000
SLACK_HEADER_LIMIT = 150
SLACK_MESSAGE_TEXT_BUDGET = 12_000
SLACK_BUTTON_TEXT_LIMIT = 75
SLACK_BUTTON_URL_LIMIT = 3000

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_FORMATTING = frozenset("*_~`")

_SEVERITY_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.LOW: ":large_blue_circle:",
    Severity.INFO: ":white_circle:",
}

Block = dict[str, Any]


def slack_length(text: str) -> int:
    """Characters as Slack counts them (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def mrkdwn_tokens(text: str) -> list[str]:
    """``text`` escaped for mrkdwn, one piece per character.

    ``&``, ``<``, ``>`` become entities. ``*``, ``_`` and ``~`` are fenced by zero-width spaces where they
    could open or close formatting (at a word boundary); inside a word (``autorenew_exempt``) Slack never
    formats them, so they stay as they are and copy cleanly. A backtick is always fenced.
    """
    pieces: list[str] = []
    last = len(text) - 1
    for index, char in enumerate(text):
        if char in _ENTITIES:
            pieces.append(_ENTITIES[char])
        elif char == "`" or (
            char in _FORMATTING and not (0 < index < last and text[index - 1].isalnum() and text[index + 1].isalnum())
        ):
            pieces.append(f"{ZERO_WIDTH_SPACE}{char}{ZERO_WIDTH_SPACE}")
        else:
            pieces.append(char)
    return pieces


def escape_mrkdwn(text: str) -> str:
    """Estate text made inert for mrkdwn: no mention, link, entity or formatting survives."""
    return "".join(mrkdwn_tokens(text))


def code(text: str) -> str:
    """A name in a code span: formatting characters are literal there; a backtick would end the span, so
    it becomes the look-alike modifier letter grave accent (U+02CB)."""
    inner = "".join(_ENTITIES.get(char, char) for char in text.replace("`", "\u02cb"))
    return f"`{inner}`" if inner.strip() else escape_mrkdwn(text or "(empty)")


def build_slack_messages(digest: Digest) -> list[dict[str, Any]]:
    notes, remediations = _notes(digest), _remediations(digest)
    groups = [_summary(digest), *notes, *remediations, *(_entry(e) for e in digest.entries), *_closing(digest)]
    labels: list[str | None] = [None] * (1 + len(notes) + len(remediations)) + [e.title for e in digest.entries]

    def continued(index: int) -> list[Block]:
        title = labels[index] if index < len(labels) else None
        if title is None:
            return [_section("_(continued)_")]
        return _sections(_markup_or_prose(f"_continued:_ {_place(title)}", f"continued: {title}"))

    widest_title = _header(digest.title(999, 999))
    # Room for the continuation label on every page, so adding it never overflows a page.
    capacity = (SLACK_MAX_BLOCKS - 2, SLACK_MESSAGE_TEXT_BUDGET - _cost(widest_title)[1] - 400)
    pages = pack(groups, _cost, capacity, continued=continued)
    return [_message(digest, part, len(pages), page) for part, page in enumerate(pages, start=1)]


def _message(digest: Digest, part: int, parts: int, blocks: list[Block]) -> dict[str, Any]:
    title = digest.title(part, parts)
    return {
        "text": escape_mrkdwn(title),
        "blocks": [_header(title), *blocks],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _cost(block: Block) -> tuple[int, int]:
    text = block.get("text", {}).get("text", "")
    return 1, slack_length(text)


# --- blocks ------------------------------------------------------------------------------------------------


def _header(title: str) -> Block:
    if slack_length(title) > SLACK_HEADER_LIMIT:  # headlines are short by construction; this is a guard
        title = title[: SLACK_HEADER_LIMIT - 1] + "…"
    return {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _sections(lines: list[str]) -> list[Block]:
    """Join lines into as few section blocks as the text limit allows (each line is already within it)."""
    texts: list[str] = []
    for line in lines:
        if not line.strip():  # Slack refuses empty or blank text objects
            continue
        if texts and slack_length(texts[-1]) + 1 + slack_length(line) <= SLACK_TEXT_LIMIT:
            texts[-1] += "\n" + line
        else:
            texts.append(line)
    return [_section(text) for text in texts]


def _prose(text: str) -> list[str]:
    """Estate prose, escaped and wrapped into pieces that each fit a text object."""
    return split_text(breakable(text), SLACK_TEXT_LIMIT, tokens=mrkdwn_tokens, measure=slack_length)


def _markup_or_prose(markup: str, plain: str) -> list[str]:
    return [markup] if slack_length(markup) <= SLACK_TEXT_LIMIT else _prose(plain)


def _buttons(links: tuple[Link, ...] | list[Link], block_id: str) -> list[Block]:
    """Links as buttons in an actions block (at most 25 elements; URLs over Slack's limit are left out)."""
    elements = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": link.label[:SLACK_BUTTON_TEXT_LIMIT], "emoji": False},
            "url": link.url,
            "action_id": f"{block_id}-{index}",
        }
        for index, link in enumerate(links[:25])
        if len(link.url) <= SLACK_BUTTON_URL_LIMIT
    ]
    return [{"type": "actions", "block_id": block_id, "elements": elements}] if elements else []


def _summary(digest: Digest) -> list[Block]:
    lines = [escape_mrkdwn(digest.summary), f"*Findings:* {digest.counts_line}"]
    if digest.ongoing:
        lines.append(escape_mrkdwn(digest.ongoing))
    if digest.fixed:
        noun = "finding" if digest.fixed == 1 else "findings"
        lines.append(f"{digest.fixed} {noun} resolved since the last digest.")
    lines.append(f"_{escape_mrkdwn(digest.scan_line)}_")
    blocks = _sections(lines)
    if digest.report_url:
        blocks += _buttons([Link("Open the full report", digest.report_url)], "report")
    return [*blocks, {"type": "divider"}]


def _notes(digest: Digest) -> list[list[Block]]:
    if not digest.notes:
        return []
    lines = ["*Scan notes*"]
    for note in digest.notes:
        lines.extend(_prose(f"• {note}"))
    return [_sections(lines)]


def _remediations(digest: Digest) -> list[list[Block]]:
    if not digest.remediations:
        return []
    lines = [f"*Changed by auto-remediation* ({len(digest.remediations)})"]
    lines.extend(line for item in digest.remediations for line in _remediation_lines(item))
    return [[*_sections(lines), {"type": "divider"}]]


def _remediation_lines(item: RemediationItem) -> list[str]:
    mark = ":x:" if item.failed else ":white_check_mark:"
    markup = (
        f"{mark} {code(breakable(item.vault_name))} / {code(breakable(item.certificate_name))}: "
        f"{escape_mrkdwn(item.before)} → {escape_mrkdwn(item.after)} ({escape_mrkdwn(item.outcome)})"
    )
    return _markup_or_prose(markup, f"{'✗' if item.failed else '✓'} {item.describe()}")


def _entry(entry: Entry) -> list[Block]:
    head = f"{_SEVERITY_EMOJI.get(entry.severity, ':white_circle:')} *{entry.severity_label}*"
    if entry.mark_label:
        head += f" · :new: *{entry.mark_label}*" if entry.mark == "new" else f" · *{entry.mark_label}*"
    expiry = f" · {entry.expiry}" if entry.expiry else ""
    lines = _markup_or_prose(f"{head} · {_place(entry.title)}{expiry}", f"{entry.title}{expiry}")
    for line in entry.lines:
        rule = f"*{line.severity_label}* · {line.status_label} · {escape_mrkdwn(', '.join(line.rules))}"
        if line.service:
            rule += f" · {escape_mrkdwn(breakable(line.service))}"
        lines.extend(_markup_or_prose(rule, line.heading))
        lines.extend(_prose(line.reason))
    return [
        *_sections(lines),
        *_buttons(entry.links, f"entry-{zlib.crc32(entry.key.encode('utf-8', 'surrogatepass')):08x}"),
    ]


def _place(title: str) -> str:
    """An entry's title with its names in code spans: ``vault`` / ``certificate``."""
    if " / " in title and "(" not in title:
        vault, _, certificate = title.partition(" / ")
        return f"{code(breakable(vault))} / {code(breakable(certificate))}"
    return escape_mrkdwn(breakable(title))


def _closing(digest: Digest) -> list[list[Block]]:
    if not digest.more_line:
        return []
    blocks = [{"type": "divider"}, _section(f"*{escape_mrkdwn(digest.more_line)}*")]
    if digest.report_url:
        blocks += _buttons([Link("Open the full report", digest.report_url)], "more")
    return [blocks]
