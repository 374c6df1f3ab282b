"""The digest of one scan for one webhook, independent of any chat format, and the tools every builder shares.

:func:`make_digest` turns a :class:`ScanResult` (or the part of it one route owns) into the plain facts a
message needs: the headline, the counts on one line, and the problems as **entries** — one per
certificate with its problems under every rule together (worst first, each rule's reason below it), one
per vault or subscription that could not be read — most severe first, at most ``max_items`` of them and
then "and N more". Which entries are listed and which are only counted as ongoing is the cadence's
decision (``cadence.py``); this module only lays the result out. The builders of ``teams.py``,
``slack.py`` and ``generic.py`` only lay these facts out and escape them for their format.

Fitting the facts into a chat message (wrapping long names, splitting long texts, packing entries into
numbered messages) is :mod:`shared.alerts.fitting`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from shared.alerts.fitting import safe_url
from shared.models import (
    RULE_AUTORENEW,
    RULE_IDS,
    STATUS_LABEL,
    STATUS_ORDER,
    Finding,
    ScanResult,
    ScanStatus,
    Severity,
    Status,
    count_by_status,
    entry_key,
    sort_by_severity,
)
from shared.text import single_line

APP_NAME = "AutoRenew Guard"

SEVERITY_LABELS: Mapping[Severity, str] = {
    Severity.CRITICAL: "Critical",
    Severity.HIGH: "High",
    Severity.MEDIUM: "Medium",
    Severity.LOW: "Low",
    Severity.INFO: "Info",
}

STATUS_LABELS: Mapping[Status, str] = {status: label.capitalize() for status, label in STATUS_LABEL.items()}

# What a binding's entry calls the service (Resource Manager type, lower case → words).
SERVICE_LABELS: Mapping[str, str] = {
    "microsoft.network/applicationgateways": "Application Gateway",
    "microsoft.cdn/profiles/secrets": "Front Door / CDN secret",
    "microsoft.cdn/profiles": "Front Door / CDN profile",
    "microsoft.apimanagement/service": "API Management service",
    "microsoft.web/certificates": "App Service certificate",
}

Mark = Literal["new", "worse"]

_MAX_LINKS = 3  # buttons per entry: three fit side by side in a 500 px card


@dataclass(frozen=True, slots=True)
class Link:
    """A button: the app's own label and a percent-encoded URL."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class EntryLine:
    """One reason inside an entry: the rules that gave it (identical reasons are said once), and for a
    binding, the service it is about."""

    severity: Severity
    status: Status
    rules: tuple[str, ...]
    reason: str
    service: str | None = None

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS.get(self.severity, self.severity.value.title())

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status.value)

    @property
    def heading(self) -> str:
        """``High · Non-compliant · KeyVault-006``: severity as a word, never only a colour."""
        return f"{self.severity_label} · {self.status_label} · {', '.join(self.rules)}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One certificate (or unreadable vault or subscription) with all its problems."""

    key: str
    title: str  # where, in plain words: "vault / certificate", "vault (the whole vault)"...
    findings: tuple[Finding, ...]
    lines: tuple[EntryLine, ...]
    expiry: str | None
    links: tuple[Link, ...]
    mark: Mark | None = None

    @property
    def severity(self) -> Severity:
        return min((f.severity for f in self.findings), key=lambda s: s.rank)

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS.get(self.severity, self.severity.value.title())

    @property
    def mark_label(self) -> str | None:
        return {"new": "NEW", "worse": "WORSE"}.get(self.mark or "")

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.severity.rank,
            not any(f.status == Status.NON_COMPLIANT for f in self.findings),
            min((f.expires_on for f in self.findings if f.expires_on), default=datetime.max.replace(tzinfo=UTC)),
            self.title.lower(),
        )


@dataclass(frozen=True, slots=True)
class RemediationItem:
    """One change (or failed attempt) of auto-remediation, as passed in by the remediation step."""

    vault_name: str
    certificate_name: str
    before: str
    after: str
    outcome: str

    @property
    def failed(self) -> bool:
        return not self.outcome.lower().startswith("applied")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RemediationItem:
        def text(key: str) -> str:
            value = data.get(key)
            return "?" if value is None or value == "" else single_line(str(value))

        return cls(
            vault_name=text("vault_name"),
            certificate_name=text("certificate_name"),
            before=text("before"),
            after=text("after"),
            outcome=text("outcome"),
        )

    def describe(self) -> str:
        return f"{self.vault_name} / {self.certificate_name}: {self.before} → {self.after} ({self.outcome})"


@dataclass(frozen=True, slots=True)
class Ongoing:
    """Problems still open but not listed again: how many entries, and when they were last posted."""

    count: int
    first: datetime
    last: datetime

    def describe(self, remind_days: int | None) -> str:
        first, last = self.first.astimezone(UTC).date(), self.last.astimezone(UTC).date()
        when = f"{last.isoformat()}" if first == last else f"between {first.isoformat()} and {last.isoformat()}"
        text = f"{self.count} ongoing, last posted {when}"
        if remind_days:
            text += f"; listed again {_plural(remind_days, 'day')} after they were last posted"
        return text + "."


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything a message to one webhook says about one scan, before any layout or escaping."""

    headline: str
    clean: bool
    summary: str
    counts: tuple[tuple[str, int], ...]  # (label, n) for every status with n > 0, problems first
    scan_line: str
    notes: tuple[str, ...]
    entries: tuple[Entry, ...]  # listed, most severe first, at most max_items
    more: int  # entries to list that did not fit max_items
    ongoing: str | None  # "12 ongoing, last posted 2026-11-28."
    fixed: int  # problems posted before that are no longer problems
    remediations: tuple[RemediationItem, ...]
    report_url: str | None
    result: ScanResult
    route: str | None = None
    problem_findings: tuple[Finding, ...] = field(default=())

    @property
    def new_count(self) -> int:
        return sum(1 for e in self.entries if e.mark == "new")

    @property
    def counts_line(self) -> str:
        """``Non-compliant 4 · Not assessed 2 · Compliant 3``: one line, zeros left out."""
        return " · ".join(f"{label} {count}" for label, count in self.counts) or "No findings"

    @property
    def more_line(self) -> str | None:
        if not self.more:
            return None
        where = "open the full report for everything" if self.report_url else "the report and the API hold everything"
        return f"… and {self.more} more, not listed here: {where}."

    def title(self, part: int, parts: int) -> str:
        """The headline of message ``part`` of ``parts``: numbered only when there is more than one."""
        return f"{self.headline} ({part}/{parts})" if parts > 1 else self.headline


# --- entries ---------------------------------------------------------------------------------------------


def make_entries(
    problems: Iterable[Finding],
    *,
    reference: datetime,
    portal_url: str = "https://portal.azure.com",
    marks: Mapping[str, Mark] | None = None,
) -> list[Entry]:
    """Group problem findings into entries, most severe first. ``marks`` (by :attr:`Finding.key`) says which
    findings are new or worse since they were last posted; an entry takes the strongest mark."""
    groups: dict[str, list[Finding]] = {}
    for finding in problems:
        groups.setdefault(entry_key(finding), []).append(finding)
    entries = [_entry(key, found, reference, portal_url, marks or {}) for key, found in groups.items()]
    return sorted(entries, key=lambda e: e.sort_key)


def _entry(key: str, findings: list[Finding], reference: datetime, portal_url: str, marks: Mapping[str, Mark]) -> Entry:
    ordered = sorted(findings, key=lambda f: (f.severity.rank, _rule_rank(f.rule_id), f.status != Status.NON_COMPLIANT))
    lines: list[EntryLine] = []
    for finding in ordered:
        reason = single_line(finding.reason).strip() or "(no reason given)"
        service = service_name(finding)
        same = next(
            (
                i
                for i, line in enumerate(lines)
                if (line.reason, line.service, line.status, line.severity)
                == (reason, service, finding.status, finding.severity)
            ),
            None,
        )
        if same is not None:  # an unreadable vault says the same under every rule: say it once
            line = lines[same]
            if finding.rule_id not in line.rules:
                lines[same] = EntryLine(line.severity, line.status, (*line.rules, finding.rule_id), reason, service)
            continue
        lines.append(EntryLine(finding.severity, finding.status, (finding.rule_id,), reason, service))
    first = ordered[0]
    expires = [f.expires_on for f in ordered if f.expires_on is not None and f.certificate_name]
    found_marks = {marks.get(f.key) for f in ordered}
    mark: Mark | None = "new" if "new" in found_marks else "worse" if "worse" in found_marks else None
    return Entry(
        key=key,
        title=place(first),
        findings=tuple(ordered),
        lines=tuple(lines),
        expiry=expiry_text(min(expires), reference) if expires else None,
        links=_links(ordered, portal_url),
        mark=mark,
    )


def _rule_rank(rule_id: str) -> int:
    return RULE_IDS.index(rule_id) if rule_id in RULE_IDS else len(RULE_IDS)


def service_name(finding: Finding) -> str | None:
    """``Application Gateway appgw-prod (listener-tls)`` for a binding's finding, else None."""
    if not finding.resource_type and not finding.resource_id:
        return None
    label = SERVICE_LABELS.get((finding.resource_type or "").lower(), single_line(finding.resource_type or "service"))
    name = resource_name(finding.resource_id)
    text = f"{label} {name}" if name else label
    binding = single_line(finding.binding or "").strip()
    if binding and binding != name and not (name or "").endswith("/" + binding):
        text += f" ({binding})"
    return text


def resource_name(resource_id: str | None) -> str | None:
    """The name part of a Resource Manager id: ``.../profiles/fd/secrets/s1`` → ``fd/s1``."""
    if not resource_id:
        return None
    parts = [p for p in resource_id.split("/") if p]
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return single_line(parts[-1]) if parts else None
    after = parts[len(lowered) - 1 - lowered[::-1].index("providers") + 1 :]
    names = after[2::2]  # namespace, type, name, type, name...
    return single_line("/".join(names)) if names else None


def _links(findings: Sequence[Finding], portal_url: str) -> tuple[Link, ...]:
    links: list[Link] = []
    own = next((link for f in findings if (link := portal_link(f, portal_url))), None)
    if own:
        label = "Open the certificate" if findings[0].certificate_name else "Open the vault"
        links.append(Link(label, own))
    seen: set[str] = set()
    base = portal_url.rstrip("/")
    for finding in findings:
        rid = finding.resource_id
        if not rid or not rid.startswith("/subscriptions/") or rid.lower() in seen or len(links) >= _MAX_LINKS:
            continue
        seen.add(rid.lower())
        label = SERVICE_LABELS.get((finding.resource_type or "").lower(), "service")
        links.append(Link(f"Open the {label}", safe_url(f"{base}/#@/resource{rid}")))
    return tuple(links)


# --- the digest ------------------------------------------------------------------------------------------


def is_clean(result: ScanResult) -> bool:
    """Nothing to warn about: no problem finding and a scan that read everything it tried to."""
    return not any(f.status.is_problem for f in result.findings) and result.scan.status not in (
        ScanStatus.PARTIAL,
        ScanStatus.FAILED,
    )


def make_digest(
    result: ScanResult,
    *,
    findings: Sequence[Finding] | None = None,
    marks: Mapping[str, Mark] | None = None,
    listed: Collection[str] | None = None,
    ongoing: Ongoing | None = None,
    remind_days: int | None = None,
    fixed: int = 0,
    max_items: int = 50,
    notes: Sequence[str] | None = None,
    remediations: Sequence[Mapping[str, Any]] = (),
    portal_url: str = "https://portal.azure.com",
    report_url: str | None = None,
    route: str | None = None,
) -> Digest:
    """The digest of ``findings`` (default: the whole scan) for one webhook.

    ``listed``: keys of the entries to list (None: every entry, as ``POST /api/alerts`` wants); the rest
    are described by ``ongoing``. ``notes`` default to the scan's own problems; a route passes none.
    """
    scan = result.scan
    scope = list(result.findings if findings is None else findings)
    problems = [f for f in sort_by_severity(scope) if f.status.is_problem]
    entries = make_entries(problems, reference=scan.started_at, portal_url=portal_url, marks=marks)
    chosen = [e for e in entries if listed is None or e.key in listed]
    limit = max(1, max_items)
    shown = chosen[:limit]
    by_status = count_by_status(scope) if findings is not None or not scan.counts else scan.counts
    counts = tuple(
        (STATUS_LABELS[status], int(by_status.get(status.value, 0)))
        for status in STATUS_ORDER
        if int(by_status.get(status.value, 0))
    )
    whole_scan = route is None
    clean = not problems and (not whole_scan or is_clean(result))
    headline = _headline(result, entries, clean=clean, route=route, scope=scope)
    summary = _summary(entries, shown, len(chosen), listed is None, clean=clean, whole_scan=whole_scan, result=result)
    return Digest(
        headline=headline,
        clean=clean,
        summary=summary,
        counts=counts,
        scan_line=_scan_line(result),
        notes=tuple(single_line(n) for n in (scan.problems if notes is None else notes)),
        entries=tuple(shown),
        more=len(chosen) - len(shown),
        ongoing=ongoing.describe(remind_days) if ongoing and ongoing.count else None,
        fixed=fixed,
        remediations=tuple(RemediationItem.from_mapping(r) for r in remediations),
        report_url=safe_url(report_url) if report_url else None,
        result=result,
        route=route,
        problem_findings=tuple(f for e in shown for f in e.findings),
    )


def _headline(
    result: ScanResult, entries: Sequence[Entry], *, clean: bool, route: str | None, scope: Sequence[Finding]
) -> str:
    prefix = APP_NAME if route is None else f"{APP_NAME} · {single_line(route)}"
    if len(prefix) > 80:
        prefix = prefix[:79] + "…"
    if clean:
        return _clean_headline(result, scope, prefix, whole_scan=route is None)
    certificates = sum(1 for e in entries if e.key.startswith("certificate|"))
    vaults = sum(1 for e in entries if e.key.startswith("vault|"))
    unlisted = sum(1 for e in entries if e.key.startswith("subscription|"))
    subscriptions = {f.subscription_id for e in entries for f in e.findings if f.subscription_id}
    pieces: list[str] = []
    if certificates:
        verb = "needs" if certificates == 1 else "need"
        pieces.append(f"{_plural(certificates, 'certificate')} {verb} attention")
    if vaults:
        pieces.append(f"{_plural(vaults, 'vault')} could not be read")
    if unlisted:
        pieces.append(f"{_plural(unlisted, 'subscription')} could not be (fully) listed")
    if pieces:
        where = f" in {_plural(len(subscriptions), 'subscription')}" if subscriptions else ""
        headline = f"{prefix}: {' and '.join(pieces)}{where}"
    elif result.scan.status == ScanStatus.FAILED:
        headline = f"{prefix}: the scan failed"
    else:
        headline = f"{prefix}: the scan could not read everything"
    if len(headline) > 120:  # keeps a numbered Slack header (150 characters) safe
        headline = f"{prefix}: {_plural(len(entries), 'problem')} in the last scan"
    return headline


def _summary(
    entries: Sequence[Entry],
    shown: Sequence[Entry],
    chosen: int,
    full: bool,
    *,
    clean: bool,
    whole_scan: bool,
    result: ScanResult,
) -> str:
    if clean:
        return _clean_summary(result) if whole_scan else "Nothing routed here needs attention."
    if not entries:
        return "No finding to act on, but the scan did not finish cleanly: see the scan notes."
    new = sum(1 for e in shown if e.mark == "new")
    worse = sum(1 for e in shown if e.mark == "worse")
    details = [f"{new} new" if new else "", f"{worse} worse" if worse else ""]
    if not full:
        due = len(shown) - new - worse
        details.append(f"{due} due for a reminder" if due else "")
    said = ", ".join(d for d in details if d)
    if full:
        text = f"All {_plural(len(entries), 'open problem')}, most severe first"
        return text + (f" ({said} since the last digest)." if said else ".")
    if not chosen:
        return "Nothing new or worse since the last digest."
    return f"{_plural(chosen, 'problem')} to act on, most severe first" + (f": {said}." if said else ".")


def _clean_headline(result: ScanResult, scope: Sequence[Finding], prefix: str, *, whole_scan: bool) -> str:
    autorenew = [f for f in scope if f.rule_id == RULE_AUTORENEW and f.certificate_name is not None]
    total = (result.scan.certificate_count if whole_scan else 0) or len({entry_key(f) for f in autorenew})
    renewing = sum(1 for f in autorenew if f.status == Status.COMPLIANT)
    if total == 0:
        return f"{prefix}: all clear"
    if renewing == total:
        if total == 1:
            return f"{prefix}: the only certificate renews itself"
        return f"{prefix}: all {_plural(total, 'certificate')} renew themselves"
    return f"{prefix}: all clear for {_plural(total, 'certificate')}"


def _clean_summary(result: ScanResult) -> str:
    autorenew = [f for f in result.findings if f.rule_id == RULE_AUTORENEW and f.certificate_name is not None]
    total = result.scan.certificate_count or len({entry_key(f) for f in autorenew})
    if total == 0:
        return "The scan found no certificate; nothing needs attention."
    renewing = sum(1 for f in autorenew if f.status == Status.COMPLIANT)
    exempt = sum(1 for f in autorenew if f.status == Status.EXEMPT)
    disabled = sum(1 for f in autorenew if f.status == Status.NOT_APPLICABLE)
    details = [f"{renewing} renew{'s' if renewing == 1 else ''} {'itself' if renewing == 1 else 'themselves'}"]
    if exempt:
        details.append(f"{exempt} exempt")
    if disabled:
        details.append(f"{disabled} disabled")
    vaults = f" in {_plural(result.scan.vault_count, 'vault')}" if result.scan.vault_count else ""
    return (
        f"Nothing is non-compliant and every certificate{vaults} was assessed: {', '.join(details)}, "
        "and none expires within the warning window."
    )


def _scan_line(result: ScanResult) -> str:
    scan = result.scan
    status = {
        ScanStatus.COMPLETED: "completed",
        ScanStatus.PARTIAL: "partial (something could not be read)",
        ScanStatus.FAILED: "failed (nothing could be read)",
        ScanStatus.RUNNING: "still running",
    }.get(scan.status, scan.status.value)
    when = scan.finished_at or scan.started_at
    verb = "finished" if scan.finished_at else "started"
    return f"Scan {scan.id} {status}, {verb} {format_time(when)}."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- small facts of one problem --------------------------------------------------------------------------


def format_time(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def expiry_text(expires_on: datetime | None, reference: datetime) -> str:
    """``expires 2027-01-19`` or ``expired 2024-12-01``, measured against the scan's start (not the clock,
    so the same scan always renders the same message)."""
    if expires_on is None:
        return "no expiry date"
    day = expires_on.astimezone(UTC).date().isoformat()
    return f"expired {day}" if expires_on < reference else f"expires {day}"


def place(finding: Finding) -> str:
    """What an entry is about, in plain words, e.g. ``vault / certificate``."""
    if finding.vault_name is None and finding.certificate_name is None:
        subscription = single_line(finding.subscription_id or "?")
        if finding.resource_type:
            label = SERVICE_LABELS.get(finding.resource_type.lower(), single_line(finding.resource_type))
            return f"subscription {subscription} ({label}s could not be listed)"
        return f"subscription {subscription} (its Key Vaults could not be listed)"
    vault = single_line(finding.vault_name or "?")
    if finding.certificate_name is None:
        return f"{vault} (the whole vault)"
    return f"{vault} / {single_line(finding.certificate_name)}"


def portal_link(finding: Finding, portal_url: str = "https://portal.azure.com") -> str | None:
    """The Azure portal page of the certificate, or of its vault's certificate list, or nothing.

    The portal's asset route opens one Key Vault object from its identifier, no ARM id needed:
    ``{portal}/#asset/Microsoft_Azure_KeyVault/Certificate/{certificate_id}``. A vault that could not be
    listed gets its resource's certificate blade when the ARM id is known.
    """
    base = portal_url.rstrip("/")
    certificate_id = finding.certificate_id
    if finding.certificate_name and certificate_id and certificate_id.startswith("https://"):
        return safe_url(f"{base}/#asset/Microsoft_Azure_KeyVault/Certificate/{certificate_id}")
    if finding.vault_id and finding.vault_id.startswith("/subscriptions/"):
        return safe_url(f"{base}/#@/resource{finding.vault_id}/certificates")
    return None
