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

import logging
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


def escaped(value: str) -> str:
    """``value`` with every character that :func:`single_line` would drop or fold (controls, line breaks,
    bidirectional marks, lone surrogates) written as ``\\xNN`` / ``\\uNNNN``: for a name that must stay
    recognisable as what was listed, such as a hostname the probe refused for its control characters,
    where removing them would show a different, valid-looking name."""
    if value.isascii() and value.isprintable():
        return value
    return "".join(
        ch
        if ch == " " or not (_CONTROL.match(ch) or _SURROGATE.match(ch) or _LINE_BREAKS.match(ch))
        else (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        for ch in value
    )


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
    if value.isascii() and value.isprintable():
        # NFKC leaves printable ASCII alone and it holds no format character: the common case, kept cheap
        # because every tag of every certificate is compared this way.
        return value.strip().casefold()
    normal = unicodedata.normalize("NFKC", clean_text(value))
    visible = "".join(ch for ch in normal if unicodedata.category(ch) != "Cf")
    return visible.strip().casefold()


class SingleLineLogFilter(logging.Filter):
    """Log records whose message and arguments are one clean line each: a certificate name, a service's
    error message or an exception's text cannot start a second, forged log record, reverse a line or
    break the log's encoding. Tracebacks (``exc_info``) are left to the formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = single_line(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_log_argument(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _log_argument(value) for key, value in record.args.items()}
        return True


# Add to each logger that logs estate text: a logger's filters apply to the records logged through it.
SINGLE_LINE_LOGS = SingleLineLogFilter()


def _log_argument(value: Any) -> Any:
    if isinstance(value, str):
        return single_line(value)
    if value is None or isinstance(value, int | float):
        return value  # %d and %.1f need the number itself
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a log line must never raise; the formatter will say what it can
        return value
    cleaned = single_line(text)
    return value if cleaned == text else cleaned
