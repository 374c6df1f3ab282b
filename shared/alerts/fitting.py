"""Fitting a digest into chat messages: the tools every builder (Teams, Slack, generic) shares.

:func:`split_text` wraps a long text into escaped chunks that respect a per-text limit, :func:`pack`
fills numbered messages up to a budget without ever dropping or duplicating an item (and says which
entry a message continues), :func:`breakable` lets long unbroken names wrap in a narrow card,
:func:`safe_url` keeps a URL from ending a link early, and :func:`payload_bytes` is what a message
weighs as the sender posts it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

# Characters a URL may keep as they are when it goes into a chat link: everything else (spaces, brackets,
# parentheses, ``|``, ``<``, ``>``, quotes) is percent-encoded so the URL cannot end a Markdown link early
# or break out of Slack's ``<url|text>``.
_URL_SAFE = ":/?#@=&%-._~+,;!$"
ZERO_WIDTH_SPACE = "\u200b"
_LONG_TOKEN = re.compile(r"\S{40,}")
_BREAK_AFTER = frozenset("-._/:@")
_TOKEN_RUN = 24  # a run of this many characters with no break opportunity gets one


def payload_bytes(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes the sender posts: compact UTF-8 JSON. Builders measure messages with it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def breakable(text: str) -> str:
    """``text`` with a zero-width space after ``-``, ``.``, ``_``, ``/``, ``:`` and ``@`` in tokens of 40
    characters or more (and every 24 characters of a run with none of them), so a long certificate or
    vault name wraps inside a narrow card instead of running past its edge. Short words are untouched,
    so they still copy cleanly."""
    if not _LONG_TOKEN.search(text):
        return text
    return _LONG_TOKEN.sub(lambda m: _break_token(m.group(0)), text)


def _break_token(token: str) -> str:
    out: list[str] = []
    run = 0
    for index, char in enumerate(token):
        out.append(char)
        run += 1
        last = index == len(token) - 1
        if not last and (char in _BREAK_AFTER or run >= _TOKEN_RUN):
            out.append(ZERO_WIDTH_SPACE)
            run = 0
    return "".join(out)


def safe_url(url: str) -> str:
    """Percent-encode whatever could end a Markdown link or Slack's ``<url|text>`` early."""
    return quote(url, safe=_URL_SAFE)


def split_text(
    text: str,
    limit: int,
    *,
    tokens: Callable[[str], Sequence[str]] = list,
    measure: Callable[[str], int] = len,
) -> list[str]:
    """Escape ``text`` and cut it into chunks whose measure is at most ``limit``.

    ``tokens`` escapes the text into one piece per character (an escape sequence is one piece, so it is
    never cut in two). Chunks end after the last whitespace when there is one, so joining the chunks gives
    the escaped text back exactly. Nothing is dropped: an empty text gives one empty chunk.
    """
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    last_space = -1
    for piece in tokens(text):
        piece_size = measure(piece)
        if current and size + piece_size > limit:
            cut = last_space + 1 if last_space >= 0 else len(current)
            chunks.append("".join(current[:cut]))
            current = current[cut:]
            size = sum(measure(p) for p in current)
            last_space = max((i for i, p in enumerate(current) if p.isspace()), default=-1)
        current.append(piece)
        size += piece_size
        if piece.isspace():
            last_space = len(current) - 1
    chunks.append("".join(current))
    return chunks


T = TypeVar("T")
Cost = tuple[int, ...]


def pack(
    groups: Sequence[Sequence[T]],
    cost: Callable[[T], Cost],
    capacity: Cost,
    *,
    continued: Callable[[int], Sequence[T]] | None = None,
) -> list[list[T]]:
    """Fill pages (messages) with the elements of ``groups`` in order, each page within ``capacity``.

    A group (one entry's elements) stays on one page when it fits on one; a group too big for any page
    is spread over as many pages as it needs, and ``continued(group_index)`` gives the elements that open
    each later page of it (e.g. "continued: vault / certificate"). Every element lands on exactly one
    page, in order. An element bigger than a whole page still gets a page of its own (callers split text
    so this does not happen): nothing is ever dropped.
    """
    pages: list[list[T]] = [[]]
    used = tuple(0 for _ in capacity)

    def fits(extra: Cost) -> bool:
        return all(u + e <= c for u, e, c in zip(used, extra, capacity, strict=True))

    def add(element: T, element_cost: Cost) -> None:
        nonlocal used
        pages[-1].append(element)
        used = tuple(u + e for u, e in zip(used, element_cost, strict=True))

    def new_page() -> None:
        nonlocal used
        pages.append([])
        used = tuple(0 for _ in capacity)

    for index, group in enumerate(groups):
        costs = [cost(element) for element in group]
        total = tuple(sum(c[i] for c in costs) for i in range(len(capacity)))
        if pages[-1] and not fits(total) and all(t <= c for t, c in zip(total, capacity, strict=True)):
            new_page()
        for position, (element, element_cost) in enumerate(zip(group, costs, strict=True)):
            if pages[-1] and not fits(element_cost):
                new_page()
                if position and continued is not None:
                    for label in continued(index):
                        add(label, cost(label))
            add(element, element_cost)
    return pages
