"""The HTML report of ``GET /api/report``: the latest scan as a page a person would rather read than JSON.

One self-contained page: inline CSS, no script, no external font or image, so it renders under the strict
Content-Security-Policy the route sends (``default-src 'none'; style-src 'unsafe-inline'``) and can be
saved or mailed as it is. It reads in the same order as the terminal report (``shared.report.text``): what
the scan was, the counts, the trend of recent scans and what changed since the previous one (when the caller
passes a :class:`~shared.report.history.ReportHistory`), the problems most severe first with their reason as a
full sentence, the services that serve each certificate (stale ones first), then everything else per
vault, folded away in ``<details>``.

The markup lives in Jinja2 templates (``templates/``); this module decides what the page says (the
verdict, the groups, the chart's geometry) and hands the templates plain values. The environment
escapes every value (``autoescape``) and cleans it first (``finalize`` runs
:func:`shared.text.clean_text`: lone surrogates, control and bidirectional characters), so no text from
the estate reaches the page uncleaned, whichever template prints it. The only links that leave the page
point at the Azure portal, and only when ``portal_url`` is an http(s) URL and the finding knows its
resource id.
"""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from shared.models import (
    RULE_AUTORENEW,
    RULE_BINDING,
    RULE_EXPIRY,
    RULE_SERVED,
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
from shared.report.history import Change, Changes, ReportHistory, TrendPoint, by_certificate, compare, trend
from shared.report.text import plural
from shared.rules.binding import service_label
from shared.text import clean_text

_RULE_TOPIC = {
    RULE_AUTORENEW: "auto-renewal",
    RULE_EXPIRY: "expiry window",
    RULE_BINDING: "service",
    RULE_SERVED: "what clients get",
}
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
    problems = [f for f in sort_by_severity(result.findings) if f.status.is_problem]
    context: dict[str, Any] = {
        "scan": scan,
        "failed": scan.status == ScanStatus.FAILED,
        "generated": generated_at or utcnow(),
        "portal": _portal_base(portal_url),
        "title": f"AutoRenew Guard: {_headline_short(scan, problems, result.findings)} · "
        f"scan of {_time(scan.started_at)}",
        "verdict": _verdict(scan, problems, result.findings),
        "duration": _duration(scan),
        "banner_note": _SCAN_STATUS_NOTE.get(scan.status, ""),
        "counts": count_by_status(result.findings),
        "tiles_note": _tiles_note(result.findings),
        "history": history,
        "chart": None,
        "changes": None,
        "problems": problems,
        # problems first, worst first: the stale services lead
        "bindings": sort_by_severity([f for f in result.findings if f.rule_id == RULE_BINDING]),
        # what clients get on each hostname (ServedCertificate), stale first
        "served": sort_by_severity([f for f in result.findings if f.rule_id == RULE_SERVED]),
        "probing": scan.probing,
        "vaults": _vaults(result.findings),
    }
    if history is not None:
        context["chart"] = _chart(trend(history.scans, scan), history.scans_error)
        if history.previous is not None:
            context["changes"] = _changes(compare(result, history.previous))
    return _ENVIRONMENT.get_template("report.html.j2").render(context)


# --- the top of the page -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Verdict:
    tone: str  # bad, good, neutral: the headline's colour
    title: str
    detail: str


def _headline_short(scan: Scan, problems: list[Finding], findings: list[Finding]) -> str:
    if scan.status == ScanStatus.FAILED:
        return "scan failed"
    if problems:
        return plural(len(problems), "problem")
    return "no problems" if findings else "no certificates"


def _verdict(scan: Scan, problems: list[Finding], findings: list[Finding]) -> _Verdict:
    if scan.status == ScanStatus.FAILED:
        return _Verdict(
            "bad", "The scan failed: nothing could be read.", "See the reason below, fix it and run the scan again."
        )
    if problems:
        statuses = Counter(f.status for f in problems)
        parts = [f"{statuses[s]} {STATUS_LABEL[s]}" for s in STATUS_ORDER if statuses[s]]
        certificates = {(_vault_key(f), f.certificate_name) for f in problems if f.certificate_name is not None}
        vaults = {f.vault_name for f in problems if f.vault_name}
        # A subscription whose vaults (or services) could not be listed is not a vault: count it as what it is.
        subscriptions = {f.subscription_id for f in problems if not f.vault_name}
        counted = [
            plural(len(certificates), "certificate") if certificates else "",
            plural(len(vaults), "vault") if vaults or not subscriptions else "",
            plural(len(subscriptions), "subscription") if subscriptions else "",
        ]
        where = _listed([part for part in counted if part])
        return _Verdict(
            "bad",
            f"{plural(len(problems), 'problem')} {'needs' if len(problems) == 1 else 'need'} attention",
            f"{' and '.join(parts)}, across {where}. Most severe first below; each says what is wrong and what to do.",
        )
    if findings:
        return _Verdict(
            "good",
            "No problems: every certificate renews itself and none is close to expiry.",
            "Nothing to do. The details of every vault are below.",
        )
    return _Verdict(
        "neutral",
        "No certificates found.",
        f"The scan read {plural(scan.vault_count, 'vault')} in {plural(len(scan.subscriptions), 'subscription')} "
        "and found no certificate to check. If you expected some, check the scanner's subscriptions and roles.",
    )


def _listed(parts: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _tiles_note(findings: list[Finding]) -> str:
    note = (
        f"{plural(len(findings), 'finding')}: every certificate is checked by two rules, KeyVault-006 "
        "(auto-renewal) and CertificateExpiry (expiry window)"
    )
    if any(f.rule_id == RULE_BINDING for f in findings):
        note += ", every service that serves one by CertificateBinding"
    if any(f.rule_id == RULE_SERVED for f in findings):
        note += ", and every hostname those services answer for by ServedCertificate (a TLS handshake)"
    return note + "."


# --- everything else, by vault -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Vault:
    key: str
    first: Finding  # where the vault's portal link and subscription come from
    holds: str
    where: str
    chips: list[tuple[Status, int]]  # the statuses of the listed rows, with their counts
    problems: int  # every rule's problems of this vault, listed under Problems above
    services: int  # service references to its certificates, listed under Services above
    others: list[Finding]


# Rules whose rows live under Services (a service reference, a hostname), counted in their vault's group.
_SERVICE_RULES = frozenset({RULE_BINDING, RULE_SERVED})


def _vaults(findings: list[Finding]) -> list[_Vault]:
    """One group per vault the scan read. A binding's finding counts in the group of the vault whose
    certificate it serves (a vault must not look all green above its binding problems), but its row
    stays under Services, where its columns make sense."""
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        if finding.rule_id not in _SERVICE_RULES:
            groups[_vault_key(finding)].append(finding)
    by_name = {key.lower(): key for key in groups}
    for finding in findings:
        if finding.rule_id in _SERVICE_RULES and finding.vault_name and finding.vault_name.lower() in by_name:
            groups[by_name[finding.vault_name.lower()]].append(finding)
    return [_vault(key, groups[key]) for key in sorted(groups, key=str.lower)]


def _vault(key: str, findings: list[Finding]) -> _Vault:
    first = findings[0]  # a certificate rule's: bindings were added after them
    own = [f for f in findings if f.rule_id not in _SERVICE_RULES]
    statuses = Counter(f.status for f in own)
    certificates = {f.certificate_name for f in own if f.certificate_name is not None}
    unlisted = not certificates and any(f.certificate_name is None for f in own)
    return _Vault(
        key=key,
        first=first,
        holds="certificates not listed" if unlisted else plural(len(certificates), "certificate"),
        where=f"subscription {first.subscription_id}" if first.subscription_id else "",
        chips=[(s, statuses[s]) for s in STATUS_ORDER if statuses[s] and not s.is_problem],
        problems=sum(1 for f in findings if f.status.is_problem),
        services=sum(1 for f in findings if f.rule_id in _SERVICE_RULES),
        others=sorted(
            (f for f in own if not f.status.is_problem),
            key=lambda f: ((f.certificate_name or "").lower(), f.rule_id),
        ),
    )


@dataclass(frozen=True, slots=True)
class _Left:
    tone: str  # past, soon (within 30 days), later
    text: str


@dataclass(frozen=True, slots=True)
class _Row:
    """What a finding's row says beyond its own fields, computed in one call: a page of 20,000 findings
    would otherwise make a dozen template-to-Python calls per row."""

    expires_iso: str
    expires_title: str
    expires_date: str
    left: _Left | None  # how far the expiry is; None when there is no expiry date
    action: LifetimeAction | None
    trigger: str
    vault_href: str


def _row(finding: Finding, scan_time: datetime, portal: str | None) -> _Row:
    expires = finding.expires_on
    action = _lifetime_action(finding)
    return _Row(
        expires_iso=_iso(expires) if expires else "",
        expires_title=_time(expires) if expires else "",
        expires_date=_time(expires, date_only=True) if expires else "",
        left=_expiry(finding, scan_time),
        action=action,
        trigger=action.describe_trigger() if action else "",
        vault_href=_vault_href(portal, finding.vault_id),
    )


def _expiry(finding: Finding, scan_time: datetime) -> _Left | None:
    """How far the expiry is from the start of the scan, as the rules count it."""
    if finding.expires_on is None:
        return None
    seconds = (_utc(finding.expires_on) - _utc(scan_time)).total_seconds()
    days = seconds / 86400
    tone = "past" if seconds <= 0 else "soon" if days <= 30 else "later"
    return _Left(tone, f"expired {_span(-days)} ago" if seconds <= 0 else f"in {_span(days)}")


def _lifetime_action(finding: Finding) -> LifetimeAction | None:
    if finding.lifetime_action is None:
        return None
    return LifetimeAction(finding.lifetime_action, finding.days_before_expiry, finding.lifetime_percentage)


# --- the trend and what changed ------------------------------------------------------------------------------

_CHART_HEIGHT = 170  # px: bars between _CHART_TOP and _CHART_BASE, value labels above, dates below
_CHART_TOP = 22
_CHART_BASE = 142


@dataclass(frozen=True, slots=True)
class _Chart:
    points: list[TrendPoint]
    summary: str
    bars: list[dict[str, Any]]
    height: int = _CHART_HEIGHT
    axis_y: float = _CHART_BASE + 0.5


def _chart(points: list[TrendPoint], error: str | None) -> _Chart | None:
    """Bars in percent of the chart's width, so text keeps its size at every screen width; on a phone the
    per-bar values of a long series are hidden by CSS except the first, the last and the highest."""
    if not points:
        return None
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
    count = len(points)
    highest = max(p.problems for p in points)
    scale = (_CHART_BASE - _CHART_TOP) / highest if highest else 0.0
    slot = 100 / count
    width = slot * (0.62 if count > 1 else 0.2)
    peak = max(range(count), key=lambda i: (points[i].problems, i))
    label_every = max(1, round(count / 6))
    bars = []
    for index, point in enumerate(points):
        centre = slot * index + slot / 2
        left = centre - width / 2
        nc_height = point.non_compliant * scale
        na_height = point.not_assessed * scale
        top = _CHART_BASE - nc_height - na_height
        key = index in (0, count - 1) or (index == peak and min(peak, count - 1 - peak) > 2)
        date = None
        if index in (0, count - 1) or index % label_every == 0:
            anchor, x = "middle", centre
            if count > 1 and index == 0:
                anchor, x = "start", left
            elif count > 1 and index == count - 1:
                anchor, x = "end", left + width
            date = {
                "cls": "d" if index in (0, count - 1) else "d minor",
                "x": f"{x:.3f}",
                "y": _CHART_BASE + 18,
                "anchor": anchor,
                "text": _utc(point.scan.started_at).strftime("%m-%d"),
            }
        bars.append(
            {
                "current": point.current,
                "tooltip": (
                    f"Scan of {_time(point.scan.started_at)} ({point.scan.status.value}"
                    f"{', this scan' if point.current else ''}): {plural(point.problems, 'problem')} — "
                    f"{point.non_compliant} non-compliant, {point.not_assessed} not assessed; "
                    f"{point.fine} other findings."
                ),
                "x": f"{left:.3f}",
                "width": f"{width:.3f}",
                "non_compliant": point.non_compliant
                and {"y": f"{_CHART_BASE - nc_height:.1f}", "height": f"{nc_height:.1f}"},
                "not_assessed": point.not_assessed and {"y": f"{top:.1f}", "height": f"{na_height:.1f}"},
                "zero": not point.problems and {"y": _CHART_BASE - 2},
                "value": {
                    "cls": "v" if key else "v minor",
                    "x": f"{centre:.3f}",
                    "y": f"{top - 6:.1f}",
                    "text": point.problems,
                },
                "date": date,
            }
        )
    return _Chart(points, summary, bars)


# Certificates listed per kind of change: the first scan after a new rule can make every finding new, and
# the full list is the Problems table right below.
_CHANGES_SHOWN = 8


@dataclass(frozen=True, slots=True)
class _ChangeList:
    kind: str  # new, fixed, changed
    title: str
    count: str
    shown: list[tuple[str, list[Change]]]  # the place (vault / certificate) and its changes
    hidden: int  # certificates left out


@dataclass(frozen=True, slots=True)
class _Changes:
    previous: Scan
    lead: str
    nothing: bool
    still_open: int
    lists: list[_ChangeList]


def _changes(changes: Changes) -> _Changes:
    parts = []
    if changes.new:
        parts.append(f"{plural(len(changes.new), 'new problem')}")
    if changes.fixed:
        parts.append(f"{len(changes.fixed)} fixed")
    if changes.changed:
        parts.append(f"{len(changes.changed)} changed")
    parts.append(f"{changes.still_open} still open")
    lists = []
    for kind, title, items in (
        ("new", "New problems", changes.new),
        ("fixed", "Fixed or gone", changes.fixed),
        ("changed", "Changed", changes.changed),
    ):
        if not items:
            continue
        groups = by_certificate(items)
        lists.append(
            _ChangeList(
                kind=kind,
                title=title,
                count=f"{len(items)} on {plural(len(groups), 'certificate')}"
                if len(groups) != len(items)
                else str(len(items)),
                shown=[(_place(group[0].finding), group) for _, group in groups[:_CHANGES_SHOWN]],
                hidden=len(groups) - _CHANGES_SHOWN,
            )
        )
    return _Changes(changes.previous, ", ".join(parts), changes.nothing, changes.still_open, lists)


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


def _service_kind(finding: Finding) -> str:
    raw = (finding.resource_type or "").strip()
    # The rules' names for the types this table does not spell its own way (sites, classic CDN, Container Apps).
    return _SERVICE_KINDS.get(raw.lower()) or service_label(raw)


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


# --- small helpers -----------------------------------------------------------------------------------------


_SPECIAL = re.compile("[&<>\"']")


def _finalize(value: object) -> object:
    """Every ``{{ value }}`` passes here: text from the estate is cleaned (a lone surrogate cannot be sent
    as UTF-8, a U+202E would reverse the rest of its line) and escaped for element text and attribute values
    alike, with the entities the page has always used (``&quot;``, ``&#x27;``). Markup (a macro's output)
    was built from values that passed here on their way in; autoescape stays on beneath, for any value a
    filter or a template could bring past this function."""
    if isinstance(value, Markup):
        return value
    text = clean_text(value if isinstance(value, str) else str(value))
    if _SPECIAL.search(text) is None:  # most names and numbers: autoescape has nothing to change either
        return text
    return Markup(html.escape(text, quote=True))  # noqa: S704 - escaped right here


def _vault_key(finding: Finding) -> str:
    return finding.vault_name or f"(subscription {finding.subscription_id or 'unknown'})"


def _portal_base(portal_url: str) -> str | None:
    parts = urlsplit(portal_url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return portal_url.strip().rstrip("/")


def _vault_href(portal: str | None, vault_id: str | None) -> str:
    """The vault's certificates blade, or nothing: only for a real resource id."""
    if portal is None or not vault_id or not vault_id.startswith("/subscriptions/"):
        return ""
    return f"{portal}/#@/resource{quote(vault_id, safe='/()')}/certificates"


def _service_href(portal: str | None, resource_id: str) -> str:
    if portal is None or not resource_id.startswith("/subscriptions/"):
        return ""
    return f"{portal}/#@/resource{quote(resource_id, safe='/()')}"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(value: datetime, date_only: bool = False) -> str:
    value = _utc(value)
    return f"{value:%Y-%m-%d}" if date_only else f"{value:%Y-%m-%d %H:%M} UTC"


def _iso(value: datetime) -> str:
    return _utc(value).isoformat(timespec="seconds").replace("+00:00", "Z")


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


_ENVIRONMENT = Environment(
    loader=PackageLoader("shared.report", "templates"),
    autoescape=True,
    finalize=_finalize,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENVIRONMENT.globals.update(
    {
        "STATUS_LABEL": STATUS_LABEL,
        "STATUS_ORDER": STATUS_ORDER,
        "NOT_ASSESSED": Status.NOT_ASSESSED,
        "COMPLIANT": Status.COMPLIANT,
        "NOT_APPLICABLE": Status.NOT_APPLICABLE,
        "RULE_BINDING": RULE_BINDING,
        "RULE_SERVED": RULE_SERVED,
        "RULE_TOPIC": _RULE_TOPIC,
        "plural": plural,
        "when": _time,
        "iso": _iso,
        "row": _row,
        "service_kind": _service_kind,
        "service_name": _service_name,
        "vault_href": _vault_href,
        "service_href": _service_href,
    }
)
