"""The HTML report of ``GET /api/report``: the latest scan as a page a person would rather read than JSON.

One self-contained page: inline CSS, no script, no external font or image, so it renders under the strict
Content-Security-Policy the route sends (``default-src 'none'; style-src 'unsafe-inline'``) and can be
saved or mailed as it is. It reads in the same order as the terminal report (``textreport.py``): what the
scan was, the counts, the trend of recent scans and what changed since the previous one (when the caller
passes a :class:`~shared.report.history.ReportHistory`), the problems most severe first with their reason as a
full sentence, the services that serve each certificate (stale ones first), then everything else per
vault, folded away in ``<details>``. The trend is an inline SVG chart: no script, readable without colour
(values written on the bars, a hatched pattern for "not assessed", a ``<title>`` per bar, and the same
numbers as a table).

Every value that comes from the estate (vault and certificate names, issuers, reasons, the scan's
problems) goes through :func:`_e`, which also cleans it (lone surrogates, control and bidirectional characters);
the only links that leave the page point at the Azure portal, and only
when ``portal_url`` is an http(s) URL and the finding knows its vault's resource id.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from shared.models import (
    RULE_AUTORENEW,
    RULE_BINDING,
    RULE_EXPIRY,
    STATUS_LABEL,
    STATUS_ORDER,
    Finding,
    LifetimeAction,
    Scan,
    ScanResult,
    ScanStatus,
    Status,
    count_by_status,
    sort_by_severity,
    utcnow,
)
from shared.report.history import Change, ReportHistory, TrendPoint, by_certificate, compare, trend
from shared.report.text import plural
from shared.text import clean_text

_RULE_TOPIC = {RULE_AUTORENEW: "auto-renewal", RULE_EXPIRY: "expiry window", RULE_BINDING: "service"}
_SCAN_STATUS_NOTE = {
    ScanStatus.PARTIAL: (
        "This scan is partial: some vaults or certificates could not be read. They are listed below as "
        "not assessed, and their real state is unknown until the scanner can read them."
    ),
    ScanStatus.FAILED: "The scan failed: nothing could be read. The reason is below; no finding was recorded.",
    ScanStatus.RUNNING: "This scan has not finished, so its findings may be incomplete.",
}


def render_report(
    result: ScanResult,
    *,
    generated_at: datetime | None = None,
    portal_url: str = "https://portal.azure.com",
    history: ReportHistory | None = None,
) -> str:
    """The whole page for one scan. ``portal_url`` is the portal of the scan's cloud (sovereign clouds
    have their own); anything but an http(s) URL turns the portal links off. ``history`` (from the store)
    adds the trend and what changed since the previous scan; without it the page shows this scan only."""
    scan = result.scan
    generated = generated_at or utcnow()
    portal = _portal_base(portal_url)
    problems = [f for f in sort_by_severity(result.findings) if f.status.is_problem]
    counts = count_by_status(result.findings)

    title = f"AutoRenew Guard: {_headline_short(scan, problems, result.findings)} · scan of {_time(scan.started_at)}"
    body = [
        _header(scan, problems, result.findings),
        _banner(scan),
        _tiles(counts, result.findings),
        _history(result, history) if history is not None else "",
        _problems(problems, scan, portal),
        _services(result.findings, scan, portal),
        _by_vault([f for f in result.findings if f.rule_id != RULE_BINDING], scan, portal),
        _about(),
        _footer(scan, generated),
    ]
    return _PAGE.format(title=_e(title), css=_CSS, body="\n".join(part for part in body if part))


# --- the top of the page -----------------------------------------------------------------------------------


def _headline_short(scan: Scan, problems: list[Finding], findings: list[Finding]) -> str:
    if scan.status == ScanStatus.FAILED:
        return "scan failed"
    if problems:
        return plural(len(problems), "problem")
    return "no problems" if findings else "no certificates"


def _header(scan: Scan, problems: list[Finding], findings: list[Finding]) -> str:
    verdict_class, verdict, detail = _verdict(scan, problems, findings)
    duration = _duration(scan)
    facts = [
        ("Scan", f'<code class="scan-id">{_e(scan.id)}</code>'),
        ("Status", f'<span class="pill scan-{_e(scan.status.value)}">{_e(scan.status.value)}</span>'),
        ("Started", f"{_time_tag(scan.started_at)}{f' · took {duration}' if duration else ''}"),
        (
            "Scope",
            f"{plural(len(scan.subscriptions), 'subscription')} · {plural(scan.vault_count, 'vault')} · "
            f"{plural(scan.certificate_count, 'certificate')}",
        ),
    ]
    fact_items = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in facts)
    return (
        '<header class="top">\n'
        '<p class="brand">AutoRenew Guard · Key Vault certificates</p>\n'
        f'<h1 class="verdict {verdict_class}">{_e(verdict)}</h1>\n'
        f'<p class="verdict-detail">{_e(detail)}</p>\n'
        f'<dl class="facts">{fact_items}</dl>\n'
        "</header>"
    )


def _verdict(scan: Scan, problems: list[Finding], findings: list[Finding]) -> tuple[str, str, str]:
    if scan.status == ScanStatus.FAILED:
        return "bad", "The scan failed: nothing could be read.", "See the reason below, fix it and run the scan again."
    if problems:
        statuses = Counter(f.status for f in problems)
        parts = [f"{statuses[s]} {STATUS_LABEL[s]}" for s in STATUS_ORDER if statuses[s]]
        places = {_vault_key(f) for f in problems}
        certificates = {(_vault_key(f), f.certificate_name) for f in problems if f.certificate_name is not None}
        where = plural(len(places), "vault")
        if certificates:
            where = f"{plural(len(certificates), 'certificate')} and {where}"
        return (
            "bad",
            f"{plural(len(problems), 'problem')} {'needs' if len(problems) == 1 else 'need'} attention",
            f"{' and '.join(parts)}, across {where}. Most severe first below; each says what is wrong and what to do.",
        )
    if findings:
        return (
            "good",
            "No problems: every certificate renews itself and none is close to expiry.",
            "Nothing to do. The details of every vault are below.",
        )
    return (
        "neutral",
        "No certificates found.",
        f"The scan read {plural(scan.vault_count, 'vault')} in {plural(len(scan.subscriptions), 'subscription')} "
        "and found no certificate to check. If you expected some, check the scanner's subscriptions and roles.",
    )


def _banner(scan: Scan) -> str:
    note = _SCAN_STATUS_NOTE.get(scan.status)
    if not note and not scan.problems:
        return ""
    items = "".join(f"<li>{_e(problem)}</li>" for problem in scan.problems)
    heading = "Scan problems" if scan.problems else "Incomplete scan"
    return (
        f'<section class="banner" role="alert" aria-label="{heading}">\n'
        f"<h2>{heading}</h2>\n"
        + (f"<p>{_e(note)}</p>\n" if note else "")
        + (f"<ul>{items}</ul>\n" if items else "")
        + "</section>"
    )


def _tiles(counts: dict[str, int], findings: list[Finding]) -> str:
    tiles = []
    for status in STATUS_ORDER:
        n = counts.get(status.value, 0)
        target = "#problems" if status.is_problem else "#by-vault"
        muted = "" if n else " zero"
        tiles.append(
            f'<li class="tile st-{status.value}{muted}"><a href="{target}">'
            f'<span class="n">{n}</span><span class="label">{STATUS_LABEL[status]}</span></a></li>'
        )
    note = (
        f"{plural(len(findings), 'finding')}: every certificate is checked by two rules, KeyVault-006 "
        "(auto-renewal) and CertificateExpiry (expiry window)"
    )
    if any(f.rule_id == RULE_BINDING for f in findings):
        note += ", and every service that serves one by CertificateBinding"
    note += "."
    return (
        '<section class="summary" aria-label="Findings by status">\n'
        f'<ul class="tiles">{"".join(tiles)}</ul>\n'
        f'<p class="muted">{_e(note)}</p>\n'
        "</section>"
    )


# --- the findings ----------------------------------------------------------------------------------------


def _problems(problems: list[Finding], scan: Scan, portal: str | None) -> str:
    if problems:
        rows = "\n".join(_finding_rows(f, scan, portal, grouped=False) for f in problems)
        content = f'<table class="findings">\n<thead><tr>{_headings(grouped=False)}</tr></thead>\n{rows}\n</table>'
    elif scan.status == ScanStatus.FAILED:
        content = '<p class="empty">No finding: the scan could not read anything, so nothing was assessed.</p>'
    else:
        content = '<p class="empty good">None. Nothing is non-compliant and everything was assessed.</p>'
    return (
        '<section id="problems">\n'
        f'<h2>Problems, most severe first <span class="count">({len(problems)})</span></h2>\n'
        f"{content}\n</section>"
    )


def _by_vault(findings: list[Finding], scan: Scan, portal: str | None) -> str:
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        groups[_vault_key(finding)].append(finding)
    if not groups:
        message = (
            "No vault could be read." if scan.status == ScanStatus.FAILED else "No vault holds a certificate to check."
        )
        return (
            f'<section id="by-vault">\n<h2>Everything else, by vault</h2>\n<p class="empty">{message}</p>\n</section>'
        )
    parts = [
        '<section id="by-vault">',
        "<h2>Everything else, by vault</h2>",
        '<p class="muted">Compliant, exempt and not-applicable findings, per vault. Open a vault to see them.</p>',
    ]
    parts.extend(_vault_group(key, groups[key], scan, portal) for key in sorted(groups, key=str.lower))
    parts.append("</section>")
    return "\n".join(parts)


def _vault_group(key: str, findings: list[Finding], scan: Scan, portal: str | None) -> str:
    first = findings[0]
    statuses = Counter(f.status for f in findings)
    others = sorted(
        (f for f in findings if not f.status.is_problem),
        key=lambda f: ((f.certificate_name or "").lower(), f.rule_id),
    )
    problem_count = sum(statuses[s] for s in STATUS_ORDER if s.is_problem)
    certificates = {f.certificate_name for f in findings if f.certificate_name is not None}
    chips = "".join(
        f'<span class="chip st-{s.value}">{statuses[s]} {STATUS_LABEL[s]}</span>'
        for s in STATUS_ORDER
        if statuses[s] and not s.is_problem
    )
    if problem_count:
        chips += f'<span class="chip problem">{plural(problem_count, "problem")} above</span>'
    where = f"subscription {first.subscription_id}" if first.subscription_id else ""
    unlisted = not certificates and any(f.certificate_name is None for f in findings)
    holds = "certificates not listed" if unlisted else plural(len(certificates), "certificate")
    summary = (
        f'<summary><span class="vault-name">{_e(key)}</span>'
        f'<span class="vault-meta">{holds}'
        f"{f' · {_e(where)}' if where else ''}</span>"
        f'<span class="chips">{chips}</span></summary>'
    )
    link = _portal_link(portal, first.vault_id, first.vault_name)
    head = f'<p class="vault-links">{link}</p>' if link else ""
    if others:
        rows = "\n".join(_finding_rows(f, scan, portal, grouped=True) for f in others)
        body = f'<table class="findings grouped">\n<thead><tr>{_headings(grouped=True)}</tr></thead>\n{rows}\n</table>'
    else:
        body = '<p class="empty">Everything in this vault is listed under Problems above.</p>'
    return f'<details class="vault">\n{summary}\n<div class="vault-body">{head}\n{body}\n</div>\n</details>'


_COLUMNS = (
    ("c-sev", "Severity"),
    ("c-status", "Status"),
    ("c-rule", "Rule"),
    ("c-vault", "Vault"),
    ("c-cert", "Certificate"),
    ("c-exp", "Expires"),
    ("c-issuer", "Issuer"),
    ("c-action", "Lifetime action"),
)
_GROUPED_OUT = ("c-sev", "c-vault")  # a vault's own table needs neither: its findings are not problems


def _headings(*, grouped: bool) -> str:
    return "".join(
        f'<th scope="col" class="{cls}">{name}</th>' for cls, name in _COLUMNS if not (grouped and cls in _GROUPED_OUT)
    )


def _finding_rows(finding: Finding, scan: Scan, portal: str | None, *, grouped: bool) -> str:
    """One finding as a ``<tbody>`` of two rows: its facts, then its reason across the whole width (a
    reason is a sentence; squeezed into a column it would be unreadable). On a phone the ``<tbody>``
    becomes a card."""
    status = finding.status
    topic = _RULE_TOPIC.get(finding.rule_id)
    content = {
        "c-sev": f'<span class="badge sev-{_e(finding.severity.value)}">{_e(finding.severity.value)}</span>',
        "c-status": f'<span class="status st-{status.value}">{STATUS_LABEL[status]}</span>',
        "c-rule": f'<span class="rule">{_e(finding.rule_id)}</span>'
        + (f'<span class="sub">{topic}</span>' if topic else ""),
        "c-vault": _vault_cell(finding, portal),
        "c-cert": _certificate_cell(finding),
        "c-exp": _expiry_cell(finding, scan.started_at),
        "c-issuer": _value(finding.issuer, finding) if finding.rule_id != RULE_BINDING else _NOT_HERE,
        "c-action": _action_cell(finding) if finding.rule_id != RULE_BINDING else _NOT_HERE,
    }
    # Each value sits in one <div>, so on a phone a cell is a two-column grid: the label, then the value.
    cells = [
        f'<td class="{cls}" data-label="{name}"><div class="v">{content[cls]}</div></td>'
        for cls, name in _COLUMNS
        if not (grouped and cls in _GROUPED_OUT)
    ]
    return (
        f'<tbody class="finding sev-{_e(finding.severity.value)} st-{status.value}">\n'
        f'<tr class="finding-facts">{"".join(cells)}</tr>\n'
        f'<tr class="reason"><td colspan="{len(cells)}"><p>{_e(finding.reason)}</p></td></tr>\n'
        "</tbody>"
    )


# A service reference has no issuer or lifetime action of its own: its certificate's rows show them.
_NOT_HERE = '<span class="none" title="see the certificate\'s own rows">—</span>'


def _vault_cell(finding: Finding, portal: str | None) -> str:
    if finding.vault_name is None and finding.rule_id == RULE_BINDING:
        return (
            '<span class="none">no vault: the services could not be listed</span>'
            f'<span class="sub mono">{_e(finding.subscription_id or "unknown subscription")}</span>'
        )
    if finding.vault_name is None:
        return (
            '<span class="none">subscription could not be listed</span>'
            f'<span class="sub mono">{_e(finding.subscription_id or "unknown subscription")}</span>'
        )
    link = _portal_link(portal, finding.vault_id, finding.vault_name, short=True)
    return f'<span class="name">{_e(finding.vault_name)}</span>' + (f'<span class="sub">{link}</span>' if link else "")


def _certificate_cell(finding: Finding) -> str:
    served = ""
    if finding.rule_id == RULE_BINDING:
        served = f'<span class="sub">served by <span class="name">{_e(_service_name(finding))}</span></span>'
    if finding.certificate_name is not None:
        return f'<span class="name">{_e(finding.certificate_name)}</span>{served}'
    if finding.rule_id == RULE_BINDING:
        return f'<span class="none">{_e(_service_kind(finding))}: none could be listed</span>'
    if finding.vault_name is None:
        return '<span class="none">all vaults of the subscription</span>'
    return '<span class="none">whole vault (its certificates could not be listed)</span>'


def _expiry_cell(finding: Finding, scan_time: datetime) -> str:
    expires = finding.expires_on
    if expires is None:
        return _value(None, finding)
    seconds = (_utc(expires) - _utc(scan_time)).total_seconds()
    days = seconds / 86400
    tone = "past" if seconds <= 0 else "soon" if days <= 30 else "later"
    relative = f"expired {_span(-days)} ago" if seconds <= 0 else f"in {_span(days)}"
    return f'{_time_tag(expires, date_only=True)}<span class="sub rel {tone}">{relative}</span>'


def _action_cell(finding: Finding) -> str:
    if finding.lifetime_action is None:
        return _value(None, finding)
    action = LifetimeAction(finding.lifetime_action, finding.days_before_expiry, finding.lifetime_percentage)
    return f'<span class="action">{_e(action.action)}</span><span class="sub">{_e(action.describe_trigger())}</span>'


def _value(value: str | None, finding: Finding) -> str:
    """A plain value, or why there is none: unread (not assessed) is not the same as absent."""
    if value is not None and value.strip():
        return _e(value)
    if finding.status == Status.NOT_ASSESSED:
        return '<span class="none" title="not read">—</span>'
    return '<span class="none">none</span>'


# --- the trend and what changed ------------------------------------------------------------------------------


def _history(result: ScanResult, history: ReportHistory) -> str:
    points = trend(history.scans, result.scan)
    return (
        '<section id="history" aria-label="Trend and changes">\n'
        '<div class="history">\n'
        f"{_trend(points, history.scans_error)}\n"
        f"{_changes(result, history)}\n"
        "</div>\n</section>"
    )


_CHART_HEIGHT = 170  # px: bars between _CHART_TOP and _CHART_BASE, value labels above, dates below
_CHART_TOP = 22
_CHART_BASE = 142


def _trend(points: list[TrendPoint], error: str | None) -> str:
    heading = f"<h2>Problems over the last {plural(len(points), 'scan')}</h2>" if points else "<h2>Trend</h2>"
    if not points:
        why = f" The stored scans could not be read: {_e(error)}" if error else ""
        return f'<div class="trend">{heading}<p class="empty">No finished scan to chart yet.{why}</p></div>'
    now, first = points[-1], points[0]
    if len(points) == 1:
        summary = (
            f"{plural(now.problems, 'problem')} in this scan, the first one stored: the chart grows by one bar "
            "with every scan."
        )
    else:
        before = points[-2]
        delta = now.problems - before.problems
        moved = "no change" if delta == 0 else f"{'+' if delta > 0 else '−'}{abs(delta)}"
        summary = (
            f"{plural(now.problems, 'problem')} now, {before.problems} at the scan before ({moved}), "
            f"{first.problems} at the first of these {len(points)} scans "
            f"({_time(first.scan.started_at, date_only=True)})."
        )
    if error:
        summary += f" Older scans could not be read: {error}"
    return (
        '<div class="trend">\n'
        f"{heading}\n"
        f'<p class="muted" id="trend-summary">{_e(summary)}</p>\n'
        f"{_trend_chart(points, summary)}\n"
        f"{_trend_legend()}\n"
        f"{_trend_table(points)}\n"
        "</div>"
    )


def _trend_chart(points: list[TrendPoint], summary: str) -> str:
    """Bars in percent of the chart's width, so text keeps its size at every screen width; on a phone the
    per-bar values of a long series are hidden by CSS except the first, the last and the highest."""
    count = len(points)
    highest = max((p.problems for p in points), default=0)
    scale = (_CHART_BASE - _CHART_TOP) / highest if highest else 0.0
    slot = 100 / max(count, 1)
    bar = slot * (0.62 if count > 1 else 0.2)
    peak = max(range(count), key=lambda i: (points[i].problems, i))
    label_every = max(1, round(count / 6))
    bars = []
    for index, point in enumerate(points):
        centre = slot * index + slot / 2
        left = centre - bar / 2
        nc_height = point.non_compliant * scale
        na_height = point.not_assessed * scale
        top = _CHART_BASE - nc_height - na_height
        key = index in (0, count - 1) or (index == peak and min(peak, count - 1 - peak) > 2)
        value_class = "v" if key else "v minor"
        when = _time(point.scan.started_at)
        tooltip = (
            f"Scan of {when} ({point.scan.status.value}{', this scan' if point.current else ''}): "
            f"{plural(point.problems, 'problem')} — {point.non_compliant} non-compliant, {point.not_assessed} "
            f"not assessed; {point.fine} other findings."
        )
        parts = [f"<title>{_e(tooltip)}</title>"]
        if point.non_compliant:
            parts.append(
                f'<rect class="nc" x="{left:.3f}%" y="{_CHART_BASE - nc_height:.1f}" width="{bar:.3f}%" '
                f'height="{nc_height:.1f}"></rect>'
            )
        if point.not_assessed:
            parts.append(
                f'<rect class="na" x="{left:.3f}%" y="{top:.1f}" width="{bar:.3f}%" height="{na_height:.1f}" '
                'fill="url(#trend-hatch)"></rect>'
            )
        if not point.problems:  # a zero is a scan with no problem, not a missing scan: draw a flat mark
            parts.append(
                f'<rect class="zero" x="{left:.3f}%" y="{_CHART_BASE - 2}" width="{bar:.3f}%" height="2"></rect>'
            )
        anchor = "middle"
        parts.append(
            f'<text class="{value_class}" x="{centre:.3f}%" y="{top - 6:.1f}" text-anchor="{anchor}">'
            f"{point.problems}</text>"
        )
        if index in (0, count - 1) or index % label_every == 0:
            date_class = "d" if index in (0, count - 1) else "d minor"
            anchor, x = "middle", centre
            if count > 1 and index == 0:
                anchor, x = "start", left
            elif count > 1 and index == count - 1:
                anchor, x = "end", left + bar
            parts.append(
                f'<text class="{date_class}" x="{x:.3f}%" y="{_CHART_BASE + 18}" text-anchor="{anchor}">'
                f"{_e(_utc(point.scan.started_at).strftime('%m-%d'))}</text>"
            )
        current = " current" if point.current else ""
        bars.append(f'<g class="scan{current}">{"".join(parts)}</g>')
    return (
        f'<svg class="chart" width="100%" height="{_CHART_HEIGHT}" role="img" '
        'aria-labelledby="trend-title trend-summary" focusable="false">\n'
        f'<title id="trend-title">Problems per scan, oldest first: {_e(", ".join(str(p.problems) for p in points))}'
        "</title>\n"
        "<defs>"
        '<pattern id="trend-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#ede9fe"></rect><rect width="3" height="6" fill="#6d28d9"></rect>'
        "</pattern></defs>\n"
        f'<line class="axis" x1="0" y1="{_CHART_BASE + 0.5}" x2="100%" y2="{_CHART_BASE + 0.5}"></line>\n'
        + "\n".join(bars)
        + "\n</svg>"
    )


def _trend_legend() -> str:
    return (
        '<p class="legend">'
        '<span><svg class="swatch" width="14" height="14" aria-hidden="true"><rect class="nc" width="14" height="14">'
        "</rect></svg>non-compliant (solid)</span>"
        '<span><svg class="swatch" width="14" height="14" aria-hidden="true"><rect class="na" width="14" height="14" '
        'fill="url(#trend-hatch)"></rect></svg>not assessed (hatched)</span>'
        "<span>the number above a bar is its scan’s problems; the outlined bar is this scan</span>"
        "</p>"
    )


_CURRENT_ROW = ' class="current"'


def _trend_table(points: list[TrendPoint]) -> str:
    rows = "".join(
        f'<tr{_CURRENT_ROW if p.current else ""}><th scope="row">{_time_tag(p.scan.started_at)}'
        f"{' (this scan)' if p.current else ''}</th>"
        f"<td>{_e(p.scan.status.value)}</td><td>{p.problems}</td><td>{p.non_compliant}</td>"
        f"<td>{p.not_assessed}</td><td>{p.fine}</td></tr>"
        for p in reversed(points)
    )
    return (
        '<details class="trend-data"><summary>The numbers behind the chart</summary>\n'
        '<table class="trend-table"><thead><tr><th scope="col">Scan</th><th scope="col">Status</th>'
        '<th scope="col">Problems</th><th scope="col">Non-compliant</th><th scope="col">Not assessed</th>'
        f'<th scope="col">Other findings</th></tr></thead><tbody>{rows}</tbody></table>\n</details>'
    )


def _changes(result: ScanResult, history: ReportHistory) -> str:
    heading = "<h2>Since the previous scan</h2>"
    if history.previous is None:
        if history.previous_error:
            text = f"The previous scan could not be read, so changes are not shown: {history.previous_error}"
        else:
            text = "This is the first stored scan: there is nothing to compare it with yet."
        return f'<div class="changes" id="changes">{heading}<p class="empty">{_e(text)}</p></div>'
    changes = compare(result, history.previous)
    previous = changes.previous
    parts = []
    if changes.new:
        parts.append(f"{plural(len(changes.new), 'new problem')}")
    if changes.fixed:
        parts.append(f"{len(changes.fixed)} fixed")
    if changes.changed:
        parts.append(f"{len(changes.changed)} changed")
    parts.append(f"{changes.still_open} still open")
    lead = (
        f"Compared with the scan of {_time_tag(previous.started_at)} "
        f'(<code class="scan-id">{_e(previous.id)}</code>): {_e(", ".join(parts))}.'
    )
    if changes.nothing:
        body = (
            f'<p class="empty">No change: {_e(plural(changes.still_open, "problem"))} open, the same as in the '
            "previous scan.</p>"
            if changes.still_open
            else '<p class="empty good">No change: no problem then, none now.</p>'
        )
    else:
        body = "".join(
            _change_list(kind, title, items)
            for kind, title, items in (
                ("new", "New problems", changes.new),
                ("fixed", "Fixed or gone", changes.fixed),
                ("changed", "Changed", changes.changed),
            )
            if items
        )
    return f'<div class="changes" id="changes">{heading}<p class="muted">{lead}</p>{body}</div>'


# Certificates listed per kind of change: the first scan after a new rule can make every finding new, and
# the full list is the Problems table right below.
_CHANGES_SHOWN = 8


def _change_list(kind: str, title: str, items: list[Change]) -> str:
    groups = by_certificate(items)
    entries = []
    for _, group in groups[:_CHANGES_SHOWN]:
        first = group[0].finding
        lines = "".join(f"<li>{_change_line(kind, change)}</li>" for change in group)
        entries.append(f'<li><span class="name">{_e(_place(first))}</span><ul>{lines}</ul></li>')
    hidden = len(groups) - _CHANGES_SHOWN
    if hidden > 0:
        where = "under Problems below" if kind != "fixed" else "in the previous scan"
        entries.append(f'<li class="more">and {plural(hidden, "more certificate")}, listed {where}</li>')
    count = f"{len(items)} on {plural(len(groups), 'certificate')}" if len(groups) != len(items) else str(len(items))
    return (
        f'<div class="change-list {kind}"><h3>{title} <span class="count">({_e(count)})</span></h3>'
        f'<ul class="places">{"".join(entries)}</ul></div>'
    )


def _change_line(kind: str, change: Change) -> str:
    finding = change.finding
    rule = f'<span class="rule">{_e(finding.rule_id)}</span>'
    if finding.rule_id == RULE_BINDING:
        rule += f" on {_e(_service_name(finding))}"
    before, after = change.before, change.after
    if kind == "new" or before is None:
        return f"{rule}: {_verdict_words(finding)}"
    if kind == "fixed" or after is None:
        now = f"now {STATUS_LABEL[after.status]}" if after else "no longer reported"
        return f"{rule}: was {_verdict_words(before)}; {now}"
    return f"{rule}: {_verdict_words(before)} → {_verdict_words(after)}"


def _verdict_words(finding: Finding) -> str:
    return (
        f'<span class="badge sev-{_e(finding.severity.value)}">{_e(finding.severity.value)}</span> '
        f"{STATUS_LABEL[finding.status]}"
    )


def _place(finding: Finding) -> str:
    if finding.rule_id == RULE_BINDING and finding.certificate_name is None:
        return f"{_service_kind(finding)} services in subscription {finding.subscription_id or 'unknown'}"
    if finding.vault_name is None:
        return f"subscription {finding.subscription_id or 'unknown'}"
    if finding.certificate_name is None:
        return f"{finding.vault_name} (the whole vault)"
    return f"{finding.vault_name} / {finding.certificate_name}"


# --- the services that serve the certificates ------------------------------------------------------------------

_SERVICE_KINDS = {
    "microsoft.network/applicationgateways": "Application Gateway",
    "microsoft.cdn/profiles/secrets": "Front Door / CDN",
    "microsoft.cdn/profiles": "Front Door / CDN",
    "microsoft.apimanagement/service": "API Management",
    "microsoft.web/certificates": "App Service certificate",
}
_SERVICE_COLUMNS = (
    ("c-sev", "Severity"),
    ("c-status", "Status"),
    ("c-service", "Service"),
    ("c-cert", "Certificate"),
    ("c-serves", "Serves"),
    ("c-current", "Vault’s current version"),
)


def _service_kind(finding: Finding) -> str:
    raw = (finding.resource_type or "").strip()
    return _SERVICE_KINDS.get(raw.lower(), raw or "service")


def _service_name(finding: Finding) -> str:
    """The service's own name from its resource id (a Front Door secret as profile/secret)."""
    resource_id = (finding.resource_id or "").rstrip("/")
    segments = resource_id.split("/")
    lowered = [s.lower() for s in segments]
    if "profiles" in lowered and "secrets" in lowered:
        i, j = lowered.index("profiles"), lowered.index("secrets")
        if i + 1 < len(segments) and j + 1 < len(segments):
            return f"{segments[i + 1]}/{segments[j + 1]}"
    if len(segments) > 1 and segments[-1]:
        return segments[-1]
    return _service_kind(finding)


def _services(findings: list[Finding], scan: Scan, portal: str | None) -> str:
    bindings = [f for f in findings if f.rule_id == RULE_BINDING]
    heading = f'<h2>Services <span class="count">({len(bindings)})</span></h2>'
    if not bindings:
        message = (
            "No service could be read: the scan failed."
            if scan.status == ScanStatus.FAILED
            else "No Application Gateway, Front Door, API Management or App Service in the scanned subscriptions "
            "serves a Key Vault certificate."
        )
        return f'<section id="services">\n{heading}\n<p class="empty">{message}</p>\n</section>'
    ordered = sort_by_severity(bindings)  # problems first, worst first: the stale services lead
    headings = "".join(f'<th scope="col" class="{cls}">{name}</th>' for cls, name in _SERVICE_COLUMNS)
    rows = "\n".join(_service_rows(f, portal) for f in ordered)
    stale = sum(1 for f in bindings if f.status.is_problem)
    note = (
        "Which service serves which certificate and version, stale ones first. A service pinned to a version "
        "keeps serving it after Key Vault renews the certificate."
    )
    if stale:
        note += f" {plural(stale, 'reference')} {'needs' if stale == 1 else 'need'} attention."
    return (
        '<section id="services">\n'
        f"{heading}\n"
        f'<p class="muted">{_e(note)}</p>\n'
        f'<table class="findings services">\n<thead><tr>{headings}</tr></thead>\n{rows}\n</table>\n'
        "</section>"
    )


def _service_rows(finding: Finding, portal: str | None) -> str:
    status = finding.status
    # bound_version is null when the reference follows the latest version (SPEC §2); unknown when unread.
    follows_latest = finding.bound_version is None and bool(finding.resource_id) and status != Status.NOT_ASSESSED
    # Following the latest version by name does not mean serving it: an App Service certificate whose sync
    # broke, or that serves an old thumbprint, follows by name yet serves something stale (the reason says what).
    serves = (
        '<span class="latest">latest version</span>'
        if status == Status.COMPLIANT
        else '<span class="stale">follows by name, not serving the latest</span>'
    )
    content = {
        "c-sev": f'<span class="badge sev-{_e(finding.severity.value)}">{_e(finding.severity.value)}</span>',
        "c-status": f'<span class="status st-{status.value}">{STATUS_LABEL[status]}</span>',
        "c-service": _service_cell(finding, portal),
        "c-cert": _bound_certificate_cell(finding),
        "c-serves": serves if follows_latest else _version(finding.bound_version, finding),
        "c-current": _version(finding.current_version, finding)
        + (
            '<span class="sub">the same version</span>'
            if finding.bound_version and finding.bound_version == finding.current_version
            else ""
        ),
    }
    cells = [
        f'<td class="{cls}" data-label="{name}"><div class="v">{content[cls]}</div></td>'
        for cls, name in _SERVICE_COLUMNS
    ]
    return (
        f'<tbody class="binding sev-{_e(finding.severity.value)} st-{status.value}">\n'
        f'<tr class="binding-facts">{"".join(cells)}</tr>\n'
        f'<tr class="reason"><td colspan="{len(cells)}"><p>{_e(finding.reason)}</p></td></tr>\n'
        "</tbody>"
    )


def _service_cell(finding: Finding, portal: str | None) -> str:
    kind = _e(_service_kind(finding))
    if not finding.resource_id:
        where = _e(finding.subscription_id or "unknown subscription")
        return f'<span class="none">{kind}: could not be listed</span><span class="sub mono">{where}</span>'
    name = f'<span class="name">{_e(_service_name(finding))}</span>'
    binding = f'<span class="sub">{kind}{f" · {_e(finding.binding)}" if finding.binding else ""}</span>'
    link = ""
    if portal is not None and finding.resource_id.startswith("/subscriptions/"):
        href = f"{portal}/#@/resource{quote(finding.resource_id, safe='/()')}"
        label = f"Open {_service_name(finding)} in the Azure portal"
        link = (
            f'<span class="sub"><a class="portal" href="{_e(href)}" rel="noopener noreferrer" target="_blank" '
            f'aria-label="{_e(label)}">Open in portal ↗</a></span>'
        )
    return name + binding + link


def _bound_certificate_cell(finding: Finding) -> str:
    if finding.certificate_name is None:
        return '<span class="none">—</span>'
    vault = f'<span class="sub">in {_e(finding.vault_name)}</span>' if finding.vault_name else ""
    return f'<span class="name">{_e(finding.certificate_name)}</span>{vault}'


def _version(version: str | None, finding: Finding) -> str:
    """A certificate version (32 hex digits) shortened as people quote them, the whole one in its title."""
    if not version:
        return _value(None, finding)
    short = version if len(version) <= 12 else f"{version[:8]}…"
    return f'<code class="version" title="{_e(version)}">{_e(short)}</code>'


# --- the bottom of the page ------------------------------------------------------------------------------


def _about() -> str:
    return (
        '<details class="about">\n<summary>About these rules and statuses</summary>\n<div>'
        "<p><strong>KeyVault-006 “Enable SSL Certificate Auto-Renewal”</strong> (risk high): an enabled "
        "certificate whose issuance policy has no <em>AutoRenew</em> lifetime action expires unless someone "
        "remembers to renew it; <em>EmailContacts</em> alone only sends a reminder. Certificates with the issuer "
        "<em>Unknown</em> (imported, or from a CA Key Vault is not partnered with) cannot be renewed by Key Vault "
        "at all: reissue them from an integrated CA, or renew them elsewhere and tag them exempt.</p>"
        "<p><strong>CertificateExpiry</strong>: an enabled certificate that has expired (critical), expires within "
        "7 days (high) or within the warning window, 30 days by default (medium). It also flags AutoRenew that "
        "should already have happened: renewal is failing.</p>"
        "<p><strong>CertificateBinding</strong>: every Application Gateway, Front Door / CDN, API Management and "
        "App Service reference to a Key Vault certificate, judged against the vault's current version. Following "
        "the latest version is compliant; pinned to the current version is medium (the next renewal will not "
        "reach it); pinned to an older version, a deleted certificate, or a service that cannot read the vault is "
        "high, critical when the version it serves has expired.</p>"
        "<p><strong>Not assessed</strong> means the scanner could not read the vault or certificate: its state "
        "is unknown, which is a problem too. <strong>Exempt</strong> certificates carry an exemption tag and "
        "skip KeyVault-006 only; their expiry is still checked. <strong>Not applicable</strong>: disabled "
        "certificates, or ones with no expiry date yet.</p>"
        "</div>\n</details>"
    )


def _footer(scan: Scan, generated: datetime) -> str:
    subscriptions = ", ".join(_e(s) for s in scan.subscriptions) or "none"
    return (
        '<footer class="foot">\n'
        f"<p>Generated {_time_tag(generated)} by AutoRenew Guard from scan <code>{_e(scan.id)}</code>. "
        "Times are UTC; “in N days” counts from the start of the scan.</p>\n"
        f'<p>Subscriptions scanned: <span class="mono">{subscriptions}</span></p>\n'
        "</footer>"
    )


# --- small helpers -----------------------------------------------------------------------------------------


def _e(value: object) -> str:
    """The one way text reaches the page: cleaned (a lone surrogate cannot be sent as UTF-8, a U+202E would
    reverse the rest of its line) and escaped for both element text and attribute values."""
    return html.escape(clean_text(str(value)), quote=True)


def _vault_key(finding: Finding) -> str:
    return finding.vault_name or f"(subscription {finding.subscription_id or 'unknown'})"


def _portal_base(portal_url: str) -> str | None:
    parts = urlsplit(portal_url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return portal_url.strip().rstrip("/")


def _portal_link(portal: str | None, vault_id: str | None, vault_name: str | None, *, short: bool = False) -> str:
    """A link to the vault's certificates blade, or nothing: only for a real resource id."""
    if portal is None or not vault_id or not vault_id.startswith("/subscriptions/"):
        return ""
    href = f"{portal}/#@/resource{quote(vault_id, safe='/()')}/certificates"
    label = f"Open {vault_name} in the Azure portal" if vault_name else "Open the vault in the Azure portal"
    text = "Open in portal" if short else label
    return (
        f'<a class="portal" href="{_e(href)}" rel="noopener noreferrer" target="_blank" aria-label="{_e(label)}">'
        f"{_e(text)} ↗</a>"
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(value: datetime, *, date_only: bool = False) -> str:
    value = _utc(value)
    return f"{value:%Y-%m-%d}" if date_only else f"{value:%Y-%m-%d %H:%M} UTC"


def _time_tag(value: datetime, *, date_only: bool = False) -> str:
    value = _utc(value)
    iso = value.isoformat(timespec="seconds").replace("+00:00", "Z")
    return f'<time datetime="{iso}" title="{_time(value)}">{_time(value, date_only=date_only)}</time>'


def _span(days: float) -> str:
    """Days as the rules write them: whole days, or hours under a day."""
    if days < 1:
        hours = max(1, round(days * 24))
        return plural(hours, "hour")
    return plural(int(days), "day")


def _duration(scan: Scan) -> str:
    if scan.finished_at is None:
        return ""
    seconds = max(0, round((_utc(scan.finished_at) - _utc(scan.started_at)).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s"


# --- the page ----------------------------------------------------------------------------------------------

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<div class="page">
{body}
</div>
</body>
</html>
"""

_CSS = """
:root {
  --ink: #111827; --muted: #4b5563; --line: #d1d5db; --soft: #f3f4f6; --paper: #ffffff; --bg: #f6f7f9;
  --crit: #7f1d1d; --high: #c2410c; --med: #b45309; --medbg: #fcd34d; --low: #1d4ed8; --info: #475569;
  --bad: #b91c1c; --unknown: #6d28d9; --good: #15803d; --exempt: #0369a1; --na: #64748b; --link: #1d4ed8;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--ink); line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
.page { max-width: 1240px; margin: 0 auto; padding: 20px 24px 40px; }
a { color: var(--link); }
a:focus-visible, summary:focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em; }
h2 { font-size: 1.2rem; margin: 28px 0 10px; }
h2 .count { color: var(--muted); font-weight: 500; }
.muted { color: var(--muted); margin: 6px 0 0; font-size: 0.92rem; }
.name, .vault-name, .scan-id { overflow-wrap: anywhere; }
.sub { display: block; color: var(--muted); font-size: 0.86rem; }
.none { color: var(--muted); font-style: italic; }

/* header */
.top { background: var(--paper); border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px; }
.brand { margin: 0 0 4px; color: var(--muted); font-size: 0.85rem; font-weight: 600; letter-spacing: 0.04em;
  text-transform: uppercase; }
.verdict { margin: 0; font-size: 1.7rem; line-height: 1.2; }
.verdict.bad { color: var(--bad); }
.verdict.good { color: var(--good); }
.verdict.neutral { color: var(--ink); }
.verdict-detail { margin: 6px 0 14px; font-size: 1rem; }
.facts { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 0; padding-top: 12px;
  border-top: 1px solid var(--soft); }
.facts div { min-width: 0; }
.facts dt { color: var(--muted); font-size: 0.78rem; text-transform: uppercase; letter-spacing: 0.04em; }
.facts dd { margin: 0; font-weight: 500; overflow-wrap: anywhere; }
.pill { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 0.85rem; font-weight: 600;
  border: 1px solid currentColor; }
.scan-completed { color: var(--good); }
.scan-partial { color: #92400e; background: #fef3c7; }
.scan-failed, .scan-running { color: var(--bad); background: #fee2e2; }

/* warning banner */
.banner { margin: 16px 0 0; padding: 12px 18px; border-radius: 10px; background: #fffbeb;
  border: 1px solid #f59e0b; border-left: 6px solid #d97706; color: #451a03; }
.banner h2 { margin: 0 0 4px; font-size: 1.05rem; }
.banner h2::before { content: "⚠ "; }
.banner p { margin: 4px 0; }
.banner ul { margin: 6px 0 2px; padding-left: 20px; }
.banner li { overflow-wrap: anywhere; }

/* tiles */
.summary { margin-top: 16px; }
.tiles { list-style: none; margin: 0; padding: 0; display: grid; gap: 10px;
  grid-template-columns: repeat(5, minmax(0, 1fr)); }
.tile a { display: block; height: 100%; padding: 10px 14px; border-radius: 10px; background: var(--paper);
  border: 1px solid var(--line); border-top: 5px solid var(--c); color: var(--ink); text-decoration: none; }
.tile a:hover { background: var(--soft); }
.tile .n { display: block; font-size: 2rem; font-weight: 700; line-height: 1.1; color: var(--c); }
.tile .label { font-weight: 600; }
.tile.zero .n { color: var(--muted); }
.tile.zero a { border-top-color: var(--line); }
.st-non_compliant { --c: var(--bad); }
.st-not_assessed { --c: var(--unknown); }
.st-compliant { --c: var(--good); }
.st-exempt { --c: var(--exempt); }
.st-not_applicable { --c: var(--na); }
.tile.st-non_compliant:not(.zero) a { background: #fef2f2; }
.tile.st-not_assessed:not(.zero) a { background: #f5f3ff; }

/* findings tables: one <tbody> per finding, facts then reason */
.findings { width: 100%; table-layout: fixed; border-collapse: collapse; background: var(--paper);
  border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
.findings th { text-align: left; text-transform: uppercase; letter-spacing: 0.04em;
  color: var(--muted); background: var(--soft); padding: 8px 10px; border-bottom: 1px solid var(--line); }
.findings td { padding: 8px 10px; vertical-align: top; }
.findings tbody { border-top: 1px solid var(--line); }
.findings tbody > tr > td:first-child { box-shadow: inset 5px 0 0 var(--sev, var(--c)); padding-left: 16px; }
.findings.grouped tbody > tr > td:first-child { box-shadow: inset 5px 0 0 var(--c); }
.findings tr.reason td { padding-top: 0; padding-bottom: 12px; }
.findings tr.reason p { margin: 0; max-width: 78em; }
.findings td, .findings th { font-size: 0.94rem; }
.findings th { font-size: 0.74rem; }
th.c-sev { width: 6.6rem; }
th.c-status { width: 8.8rem; }
th.c-rule { width: 10.6rem; }
th.c-vault { width: 11rem; }
th.c-exp { width: 8.2rem; }
th.c-issuer { width: 6.8rem; }
th.c-action { width: 10.2rem; }
.findings td { overflow-wrap: anywhere; }
.c-sev, .c-status { white-space: nowrap; }
.c-rule .rule { font-weight: 600; white-space: nowrap; }
.c-vault .name, .c-cert .name, .c-service .name { font-weight: 600; }
.c-exp time { white-space: nowrap; }
.rel.past { color: var(--crit); font-weight: 600; }
.rel.soon { color: #92400e; font-weight: 600; }
.portal { font-size: 0.86rem; white-space: normal; }

.sev-critical { --sev: var(--crit); }
.sev-high { --sev: var(--high); }
.sev-medium { --sev: #d97706; }
.sev-low { --sev: var(--low); }
.sev-info { --sev: var(--info); }
.badge { display: inline-block; min-width: 5.2em; text-align: center; padding: 1px 8px; border-radius: 4px;
  font-size: 0.78rem; font-weight: 700; text-transform: uppercase; letter-spacing: 0.04em; color: #fff;
  background: var(--sev); -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.badge.sev-medium { background: var(--medbg); color: #451a03; }
.status { font-weight: 600; color: var(--c); }
.findings.grouped .status { font-weight: 600; }

.empty { background: var(--paper); border: 1px dashed var(--line); border-radius: 10px; padding: 14px 18px;
  margin: 0; }
.empty.good { color: var(--good); border-color: #86efac; background: #f0fdf4; }

/* vaults */
details.vault { background: var(--paper); border: 1px solid var(--line); border-radius: 10px; margin: 8px 0; }
details.vault > summary { cursor: pointer; padding: 10px 14px; display: flex; flex-wrap: wrap; gap: 4px 14px;
  align-items: baseline; list-style: none; }
details.vault > summary::-webkit-details-marker { display: none; }
details.vault > summary::before { content: "▸"; color: var(--muted); width: 0.8em; margin-right: -8px; }
details.vault[open] > summary::before { content: "▾"; }
details.vault[open] > summary { border-bottom: 1px solid var(--line); }
.vault-name { font-weight: 700; }
.vault-meta { color: var(--muted); font-size: 0.88rem; overflow-wrap: anywhere; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin-left: auto; }
.chip { font-size: 0.8rem; padding: 1px 8px; border-radius: 999px; border: 1px solid var(--c); color: var(--c);
  font-weight: 600; }
.chip.problem { --c: var(--bad); background: #fef2f2; }
.vault-body { padding: 8px 14px 14px; }
.vault-links { margin: 0 0 8px; }
.vault-body .findings { border-radius: 8px; }
.vault-body .empty { border-style: dotted; }

/* trend and what changed */
.history { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 12px; margin-top: 16px;
  align-items: start; }
.trend, .changes { background: var(--paper); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px;
  min-width: 0; }
.history h2 { margin: 0 0 4px; font-size: 1.05rem; }
.history .empty { margin-top: 8px; }
.chart { display: block; margin-top: 6px; overflow: visible; }
.chart .nc, .swatch .nc { fill: var(--bad); }
.chart .na, .swatch .na { stroke: var(--unknown); stroke-width: 1; }
.chart .zero { fill: var(--muted); }
.chart .axis { stroke: var(--line); stroke-width: 1; }
.chart .v { font-size: 12px; font-weight: 700; fill: var(--ink); }
.chart .d { font-size: 11px; fill: var(--muted); }
.chart g.current rect { stroke: var(--ink); stroke-width: 2; }
.chart g.current .v { text-decoration: underline; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 14px; margin: 4px 0 0; font-size: 0.82rem; color: var(--muted); }
.legend .swatch { vertical-align: -2px; margin-right: 5px; }
.trend-data { margin-top: 6px; font-size: 0.88rem; }
.trend-data summary { cursor: pointer; color: var(--link); }
.trend-table { border-collapse: collapse; margin-top: 6px; width: 100%; table-layout: fixed; }
.trend-table th:first-child { width: 34%; }
.trend-table th, .trend-table td { text-align: left; padding: 2px 8px 2px 0; border-bottom: 1px solid var(--soft);
  font-weight: normal; overflow-wrap: anywhere; }
.trend-table thead th { color: var(--muted); font-size: 0.78rem; text-transform: uppercase; }
.trend-table tr.current th, .trend-table tr.current td { font-weight: 700; }
.changes p { overflow-wrap: anywhere; }
.change-list h3 { font-size: 0.95rem; margin: 10px 0 2px; }
.change-list.new h3::before { content: "+ "; }
.change-list.fixed h3::before { content: "✓ "; }
.change-list.changed h3::before { content: "↕ "; }
.change-list .count { color: var(--muted); font-weight: 500; }
.places { list-style: none; margin: 0; padding: 0; }
.places > li { margin: 4px 0; }
.places > li.more { color: var(--muted); font-style: italic; }
.places .name { font-weight: 600; overflow-wrap: anywhere; }
.places ul { margin: 2px 0 4px; padding-left: 18px; font-size: 0.92rem; overflow-wrap: anywhere; }
.places .badge { min-width: 0; }

/* services */
th.c-service { width: 15rem; }
th.c-serves, th.c-current { width: 10rem; }
.version { overflow-wrap: anywhere; }
.latest { font-weight: 600; color: var(--good); }
.latest::before { content: "↻ "; }
.stale { font-weight: 600; color: var(--bad); }
.stale::before { content: "⚠ "; }

details.about { margin-top: 28px; color: var(--muted); }
details.about summary { cursor: pointer; font-weight: 600; }
details.about p { max-width: 80em; }
.foot { margin-top: 20px; padding-top: 12px; border-top: 1px solid var(--line); color: var(--muted);
  font-size: 0.85rem; }
.foot p { margin: 4px 0; overflow-wrap: anywhere; }

/* phones: every finding becomes a card, nothing scrolls sideways */
@media (max-width: 1100px) {
  .page { padding: 12px 12px 32px; }
  .top { padding: 14px 16px; }
  .verdict { font-size: 1.35rem; }
  .findings tbody, .findings tr, .findings td { display: block; width: auto; }
  .findings { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 380px), 1fr)); gap: 10px;
    border: 0; background: transparent; border-radius: 0; overflow: visible; }
  .findings thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  .findings tbody { background: var(--paper); border: 1px solid var(--line);
    border-left: 6px solid var(--sev, var(--c)); border-radius: 10px; margin: 0; padding: 8px 12px 10px; }
  .findings tbody > tr > td:first-child,
  .findings.grouped tbody > tr > td:first-child { box-shadow: none; padding-left: 0; }
  .findings td { padding: 2px 0; }
  .findings td[data-label] { display: grid; grid-template-columns: 7.5em minmax(0, 1fr); gap: 8px; }
  .findings td[data-label]::before { content: attr(data-label); color: var(--muted); font-size: 0.85rem; }
  .findings td.c-sev, .findings td.c-status, .findings td.c-rule { display: inline-block; margin: 0 10px 6px 0;
    white-space: nowrap; }
  .findings td.c-sev::before, .findings td.c-status::before, .findings td.c-rule::before { content: none; }
  .c-rule .sub { display: inline; margin-left: 4px; }
  .findings tr.reason td { padding: 8px 0 0; margin-top: 6px; border-top: 1px solid var(--soft); }
  details.vault > summary { padding: 10px 12px; }
  .chips { margin-left: 0; }
  .vault-body { padding: 8px 10px 10px; }
  .vault-body .findings tbody { border-left: 4px solid var(--c); }
}

@media (max-width: 1100px) {
  .history { grid-template-columns: minmax(0, 1fr); }
}

@media (max-width: 640px) {
  .chart .minor { display: none; }
  .tiles { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .tile:first-child { grid-column: 1 / -1; }
  .tile a { padding: 6px 12px; display: flex; align-items: baseline; gap: 10px; border-top-width: 1px;
    border-left: 5px solid var(--c); }
  .tile.zero a { border-left-color: var(--line); }
  .tile .n { font-size: 1.5rem; }
}

@media print {
  body { background: #fff; font-size: 11pt; }
  .page { max-width: none; padding: 0; }
  .top, .findings, details.vault, .tile a, .empty { border-color: #999; }
  details.vault::details-content, details.about::details-content { content-visibility: visible; display: block; }
  .findings tbody, details.vault, .tile { break-inside: avoid; }
  .tile a, .banner, .pill, .chip, .empty { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .portal::after { content: none; }
}
"""
