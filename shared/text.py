"""Text from the estate is untrusted: one funnel cleans it where it enters the app.

Names, tags, issuers and error messages come from Key Vault and Resource Manager, which accept almost any
Unicode. A lone UTF-16 surrogate cannot be encoded as UTF-8 (``json.dumps(..., ensure_ascii=False)``, a
terminal, an HTTP body and Table Storage all fail on it), a control character can forge a log line or a
CSV row, and a bidirectional override (U+202E) makes the rest of a line in a report or a chat card read
backwards. Cleaning once, where a service response is parsed, means no later step can fail on it.

``comparable`` is for *comparing* names people typed (tag keys, issuer names): a trailing space, a
full-width letter or a zero-width joiner must not slip past a guard such as "issuer is Unknown".
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

REPLACEMENT = "\ufffd"

# Lone surrogates (a pair that survived decoding is impossible in a Python str: it would be one code point).
_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls except tab/newline (handled by ``single_line``), DEL, and the bidirectional
# embeddings, overrides, isolates and marks that reorder what follows them.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_LINE_BREAKS = re.compile(r"[\t\r\n]+")


def clean_text(value: str) -> str:
    """Lone surrogates become U+FFFD; control and bidirectional characters are removed. Tabs and line
    breaks are kept (error messages are multi-line); use :func:`single_line` where one line is wanted."""
    if value.isascii():
        # The common case at 100,000 certificates: plain ASCII needs only the control-character pass.
        return _CONTROL.sub("", value) if not value.isprintable() else value
    return _CONTROL.sub("", _SURROGATE.sub(REPLACEMENT, value))


def single_line(value: str) -> str:
    """:func:`clean_text`, with tabs and line breaks folded to one space: for log arguments and table
    cells, where a newline could forge a second record."""
    return _LINE_BREAKS.sub(" ", clean_text(value))


def clean_value(value: Any) -> Any:
    """:func:`clean_text` applied to every string inside a parsed JSON value (keys too)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_value(k): clean_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    return value


def comparable(value: str | None) -> str:
    """A name as a guard compares it: NFKC, invisible format characters (Unicode category Cf: zero-width
    spaces and joiners, bidirectional marks) removed, trimmed, case-folded."""
    if not value:
        return ""
    normal = unicodedata.normalize("NFKC", clean_text(value))
    visible = "".join(ch for ch in normal if unicodedata.category(ch) != "Cf")
    return visible.strip().casefold()
