"""A Slack-looking HTML page of a Block Kit message, for the screenshot in docs/ALERTS.md.

Slack has no renderer to install (the message models of ``slack-sdk`` check structure, not looks), so this
draws the blocks the digest uses the way Slack's client shows them: header, section (mrkdwn text, fields,
a button accessory), divider, context and actions with buttons. It is a picture for the docs, not a test
oracle; what Slack accepts is tested with slack-sdk's Block Kit models in tests/test_alerts.py.

mrkdwn is read as Slack documents it: ``&amp; &lt; &gt;`` are the escaped characters, ``<url|label>`` a
link, ``*bold*``, ``_italic_``, ``~strike~``, `` `code` ``, ``:emoji:``. Everything is HTML-escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~([^~\n]+)~(?![\w~])")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
# No colour-emoji font on a build machine: the digest's emoji are drawn as the shapes Slack shows.
_EMOJI_HTML = {
    "red_circle": '<span class="dot" style="--dot:#dd2e44"></span>',
    "large_orange_circle": '<span class="dot" style="--dot:#f4900c"></span>',
    "large_yellow_circle": '<span class="dot" style="--dot:#fdcb58"></span>',
    "large_blue_circle": '<span class="dot" style="--dot:#55acee"></span>',
    "large_purple_circle": '<span class="dot" style="--dot:#aa8ed6"></span>',
    "purple_circle": '<span class="dot" style="--dot:#aa8ed6"></span>',
    "white_circle": '<span class="dot" style="--dot:#e6e7e8"></span>',
    "new": '<span class="emoji-box" style="--box:#3b88c3">NEW</span>',
    "white_check_mark": '<span class="emoji-box" style="--box:#77b255">✓</span>',
    "x": '<span class="emoji-x">✗</span>',
    "warning": '<span class="emoji-x" style="color:#f4900c">⚠</span>',
}


def _slack_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _inline(text: str) -> str:
    """Plain mrkdwn (no links) to HTML: escape, then code spans, then the emphasis marks outside them."""
    parts = _CODE.split(text)
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(f"<code>{html.escape(_slack_unescape(part))}</code>")
            continue
        escaped = html.escape(_slack_unescape(part))
        escaped = _BOLD.sub(r"<b>\1</b>", escaped)
        escaped = _ITALIC.sub(r"<i>\1</i>", escaped)
        escaped = _STRIKE.sub(r"<s>\1</s>", escaped)
        escaped = _EMOJI.sub(lambda m: _EMOJI_HTML.get(m.group(1), m.group(0)), escaped)
        out.append(escaped)
    return "".join(out)


def mrkdwn(text: str) -> str:
    out: list[str] = []
    position = 0
    for match in _LINK.finditer(text):
        out.append(_inline(text[position : match.start()]))
        url, label = match.group(1), match.group(2)
        shown = _inline(label) if label else html.escape(_slack_unescape(url))
        out.append(f'<a href="{html.escape(_slack_unescape(url), quote=True)}">{shown}</a>')
        position = match.end()
    out.append(_inline(text[position:]))
    return "".join(out).replace("\n", "<br>")


def _text(obj: Mapping[str, Any] | None) -> str:
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn(str(obj.get("text", "")))
    return html.escape(str(obj.get("text", "")))


def _button(element: Mapping[str, Any]) -> str:
    style = element.get("style")
    cls = f"button {style}" if style in ("primary", "danger") else "button"
    return f'<span class="{cls}">{_text(element.get("text"))}</span>'


def _block(block: Mapping[str, Any]) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{_text(block.get("text"))}</div>'
    if kind == "divider":
        return '<hr class="divider">'
    if kind == "section":
        parts = []
        if block.get("text"):
            parts.append(f'<div class="text">{_text(block["text"])}</div>')
        if block.get("fields"):
            parts.append('<div class="fields">' + "".join(f"<div>{_text(f)}</div>" for f in block["fields"]) + "</div>")
        accessory = block.get("accessory")
        side = _button(accessory) if accessory and accessory.get("type") == "button" else ""
        return f'<div class="section"><div class="main">{"".join(parts)}</div>{side}</div>'
    if kind == "context":
        items = "".join(f"<span>{_text(e)}</span>" for e in block.get("elements", []) if e.get("type") != "image")
        return f'<div class="context">{items}</div>'
    if kind == "actions":
        buttons = "".join(_button(e) for e in block.get("elements", []) if e.get("type") == "button")
        return f'<div class="actions">{buttons}</div>'
    return f'<div class="unknown">[{html.escape(str(kind))} block]</div>'


def slack_page(message: Mapping[str, Any], *, app_name: str = "AutoRenew Guard", time: str = "6:02 AM") -> str:
    blocks = "\n".join(_block(b) for b in message.get("blocks", []))
    if not blocks:
        blocks = f'<div class="text">{mrkdwn(str(message.get("text", "")))}</div>'
    return _PAGE.format(app=html.escape(app_name), time=html.escape(time), blocks=blocks)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Slack message</title><style>
body {{ margin: 0; background: #fff; color: #1d1c1d; font: 15px/1.46668 "Liberation Sans", Arial, sans-serif; }}
.channel {{ border-bottom: 1px solid #e2e2e2; padding: 10px 20px; font-weight: 900; font-size: 18px; }}
.message {{ display: flex; gap: 8px; padding: 12px 20px 16px; }}
.avatar {{ flex: none; width: 36px; height: 36px; border-radius: 6px; background: #1264a3; color: #fff;
  font-weight: 900; display: flex; align-items: center; justify-content: center; font-size: 14px; }}
.body {{ min-width: 0; flex: 1; }}
.meta .name {{ font-weight: 900; }}
.meta .app {{ background: #e8e8e8; color: #616061; font-size: 10px; font-weight: 700; padding: 1px 3px;
  border-radius: 2px; margin: 0 4px; }}
.meta .time {{ color: #616061; font-size: 12px; }}
.header {{ font-weight: 900; font-size: 18px; line-height: 1.33; margin: 4px 0; overflow-wrap: anywhere; }}
.section {{ display: flex; gap: 12px; margin: 4px 0; align-items: flex-start; }}
.section .main {{ flex: 1; min-width: 0; overflow-wrap: anywhere; }}
.fields {{ display: grid; grid-template-columns: 1fr 1fr; gap: 4px 16px; margin-top: 4px; }}
.context {{ color: #616061; font-size: 13px; margin: 4px 0; overflow-wrap: anywhere; }}
.actions {{ display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 4px; }}
.divider {{ border: 0; border-top: 1px solid #dddddd; margin: 10px 0; }}
a {{ color: #1264a3; text-decoration: none; }}
code {{ font: 12px "DejaVu Sans Mono", monospace; color: #e01e5a; background: #f8f8f8; border: 1px solid #e1e1e1;
  border-radius: 3px; padding: 1px 3px; overflow-wrap: anywhere; }}
.button {{ display: inline-block; border: 1px solid #bbbabb; border-radius: 4px; padding: 3px 12px; font-weight: 700;
  font-size: 13px; white-space: nowrap; }}
.button.primary {{ background: #007a5a; color: #fff; border-color: #007a5a; }}
.button.danger {{ color: #e01e5a; }}
.dot {{ display: inline-block; width: 0.85em; height: 0.85em; border-radius: 50%; background: var(--dot);
  vertical-align: -0.08em; }}
.emoji-box {{ display: inline-block; background: var(--box); color: #fff; font-size: 9px; font-weight: 900;
  border-radius: 3px; padding: 1px 2px; vertical-align: 0.1em; }}
.emoji-x {{ color: #dd2e44; font-weight: 900; }}
</style></head><body>
<div class="channel"># certificates</div>
<div class="message"><div class="avatar">AG</div><div class="body">
<div class="meta"><span class="name">{app}</span><span class="app">APP</span><span class="time">{time}</span></div>
{blocks}
</div></div>
</body></html>
"""
