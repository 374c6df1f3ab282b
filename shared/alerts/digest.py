"""The digest of one scan, independent of any chat format, and the tools every format builder shares.

:func:`make_digest` turns a :class:`ScanResult` into the plain facts a message needs: the headline,
the counts, the problems most severe first (each marked new or not, with its portal link and expiry),
and what auto-remediation changed. The builders of ``teams.py``, ``slack.py`` and ``generic.py`` only
lay these facts out and escape them for their format.

:func:`split_text` wraps a long text into escaped chunks that respect a per-text limit, and :func:`pack`
fills numbered messages up to a budget without ever dropping or duplicating an item: these two are how
"a digest too big for one message is split; nothing is dropped" is kept by all three formats.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from shared.models import (
    RULE_AUTORENEW,
    STATUS_LABEL,
    Finding,
    ScanResult,
    ScanStatus,
    Severity,
    Status,
    count_by_status,
)

APP_NAME = "AutoRenew Guard"

SEVERITY_LABELS: Mapping[Severity, str] = {
    Severity.CRITICAL: "Critical",
    Severity.HIGH: "High",
    Severity.MEDIUM: "Medium",
    Severity.LOW: "Low",
    Severity.INFO: "Info",
}

STATUS_LABELS: Mapping[Status, str] = {status: label.capitalize() for status, label in STATUS_LABEL.items()}

# Characters a URL may keep as they are when it goes into a chat link: everything else (spaces, brackets,
# parentheses, ``|``, ``<``, ``>``, quotes) is percent-encoded so the URL cannot end a Markdown link early
# or break out of Slack's ``<url|text>``.
_URL_SAFE = ":/?#@=&%-._~+,;!$"


@dataclass(frozen=True, slots=True)
class ProblemItem:
    """One ``non_compliant`` or ``not_assessed`` finding as a message shows it."""

    finding: Finding
    is_new: bool
    link: str | None
    expiry: str | None  # None when the finding is about a whole vault or subscription

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS.get(self.finding.severity, self.finding.severity.value.title())

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.finding.status, self.finding.status.value)


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
            return "?" if value is None or value == "" else str(value)

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
class Digest:
    """Everything a message says about one scan, before any layout or escaping."""

    headline: str
    clean: bool
    summary: str
    counts: tuple[tuple[str, int], ...]
    scan_line: str
    notes: tuple[str, ...]
    problems: tuple[ProblemItem, ...]
    remediations: tuple[RemediationItem, ...]
    new_count: int
    report_url: str | None
    result: ScanResult

    def title(self, part: int, parts: int) -> str:
        """The headline of message ``part`` of ``parts``: numbered only when there is more than one."""
        return f"{self.headline} ({part}/{parts})" if parts > 1 else self.headline


def payload_bytes(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes the sender posts: compact UTF-8 JSON. Builders measure messages with it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- the digest ------------------------------------------------------------------------------------------


def is_clean(result: ScanResult) -> bool:
    """Nothing to warn about: no problem finding and a scan that read everything it tried to."""
    return not result.problems and result.scan.status not in (ScanStatus.PARTIAL, ScanStatus.FAILED)


def new_finding_keys(current: ScanResult, previous: ScanResult | None) -> set[str]:
    """Keys of the current problems that were not problems in the previous scan (all of them without one).

    A finding that was ``compliant`` last time and ``non_compliant`` now is new; one that went from
    ``not_assessed`` to ``non_compliant`` is not (it was already on the list).
    """
    keys = {f.key for f in current.findings if f.status.is_problem}
    if previous is None:
        return keys
    return keys - {f.key for f in previous.findings if f.status.is_problem}


def make_digest(
    result: ScanResult,
    *,
    new_keys: Collection[str] = frozenset(),
    remediations: Sequence[Mapping[str, Any]] = (),
    portal_url: str = "https://portal.azure.com",
    report_url: str | None = None,
) -> Digest:
    scan = result.scan
    problems = tuple(
        ProblemItem(
            finding=f,
            is_new=f.key in new_keys,
            link=portal_link(f, portal_url),
            expiry=expiry_text(f.expires_on, scan.started_at) if f.certificate_name else None,
        )
        for f in result.problems
    )
    counts_by_status = scan.counts or count_by_status(result.findings)
    counts = tuple((STATUS_LABELS[status], int(counts_by_status.get(status.value, 0))) for status in Status)
    new_count = sum(1 for p in problems if p.is_new)
    clean = is_clean(result)
    headline, summary = _clean_text(result) if clean else _problem_text(result, problems, new_count)
    return Digest(
        headline=headline,
        clean=clean,
        summary=summary,
        counts=counts,
        scan_line=_scan_line(result),
        notes=tuple(scan.problems),
        problems=problems,
        remediations=tuple(RemediationItem.from_mapping(r) for r in remediations),
        new_count=new_count,
        report_url=safe_url(report_url) if report_url else None,
        result=result,
    )


def _problem_text(result: ScanResult, problems: Sequence[ProblemItem], new_count: int) -> tuple[str, str]:
    certificates = {_certificate_key(p.finding) for p in problems if p.finding.certificate_name is not None}
    vaults = {
        (p.finding.subscription_id, (p.finding.vault_name or "").lower())
        for p in problems
        if p.finding.certificate_name is None and p.finding.vault_name is not None
    }
    unlisted = {p.finding.subscription_id for p in problems if p.finding.vault_name is None}
    subscriptions = {p.finding.subscription_id for p in problems if p.finding.subscription_id}

    pieces: list[str] = []
    if certificates:
        verb = "needs" if len(certificates) == 1 else "need"
        pieces.append(f"{_plural(len(certificates), 'certificate')} {verb} attention")
    if vaults:
        pieces.append(f"{_plural(len(vaults), 'vault')} could not be read")
    if unlisted:
        pieces.append(f"{_plural(len(unlisted), 'subscription')} could not be listed")
    if pieces:
        where = f" in {_plural(len(subscriptions), 'subscription')}" if subscriptions else ""
        headline = f"{APP_NAME}: {' and '.join(pieces)}{where}"
    elif result.scan.status == ScanStatus.FAILED:
        headline = f"{APP_NAME}: the scan failed"
    else:
        headline = f"{APP_NAME}: the scan could not read everything"
    if len(headline) > 120:  # keeps a numbered Slack header (150 characters) safe
        headline = f"{APP_NAME}: {_plural(len(problems), 'problem')} in the last scan"

    by_status = [
        f"{sum(1 for p in problems if p.finding.status == status)} {STATUS_LABELS[status].lower()}"
        for status in (Status.NON_COMPLIANT, Status.NOT_ASSESSED)
        if any(p.finding.status == status for p in problems)
    ]
    if problems:
        summary = f"{_plural(len(problems), 'finding')} to act on ({', '.join(by_status)})"
        if new_count:
            summary += f", {new_count} of them new since the previous scan"
        summary += ", most severe first."
    else:
        summary = "No finding to act on, but the scan did not finish cleanly: see the scan notes."
    return headline, summary


def _clean_text(result: ScanResult) -> tuple[str, str]:
    autorenew = [f for f in result.findings if f.rule_id == RULE_AUTORENEW and f.certificate_name is not None]
    total = result.scan.certificate_count or len({_certificate_key(f) for f in autorenew})
    renewing = sum(1 for f in autorenew if f.status == Status.COMPLIANT)
    exempt = sum(1 for f in autorenew if f.status == Status.EXEMPT)
    disabled = sum(1 for f in autorenew if f.status == Status.NOT_APPLICABLE)
    if total == 0:
        return f"{APP_NAME}: all clear", "The scan found no certificate; nothing needs attention."
    if renewing == total:
        headline = f"{APP_NAME}: all {_plural(total, 'certificate')} renew themselves"
        if total == 1:
            headline = f"{APP_NAME}: the only certificate renews itself"
    else:
        headline = f"{APP_NAME}: all clear for {_plural(total, 'certificate')}"
    details = [f"{renewing} renew{'s' if renewing == 1 else ''} {'itself' if renewing == 1 else 'themselves'}"]
    if exempt:
        details.append(f"{exempt} exempt")
    if disabled:
        details.append(f"{disabled} disabled")
    vaults = f" in {_plural(result.scan.vault_count, 'vault')}" if result.scan.vault_count else ""
    summary = (
        f"Nothing is non-compliant and every certificate{vaults} was assessed: {', '.join(details)}, "
        "and none expires within the warning window."
    )
    return headline, summary


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


def _certificate_key(finding: Finding) -> tuple[str, str, str]:
    return ((finding.subscription_id or "").lower(), (finding.vault_name or "").lower(), finding.certificate_name or "")


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


def place(finding: Finding, name: Callable[[str], str] = lambda text: text) -> str:
    """What the finding is about, e.g. ``vault / certificate``; ``name`` formats the estate's names."""
    if finding.vault_name is None:
        return f"subscription {name(finding.subscription_id or '?')} (its Key Vaults could not be listed)"
    if finding.certificate_name is None:
        return f"{name(finding.vault_name)} (the whole vault)"
    return f"{name(finding.vault_name)} / {name(finding.certificate_name)}"


def safe_url(url: str) -> str:
    """Percent-encode whatever could end a Markdown link or Slack's ``<url|text>`` early."""
    return quote(url, safe=_URL_SAFE)


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


# --- splitting --------------------------------------------------------------------------------------------


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
) -> list[list[T]]:
    """Fill pages (messages) with the elements of ``groups`` in order, each page within ``capacity``.

    A group (one problem's blocks) stays on one page when it fits on one; a group too big for any page
    is spread over as many pages as it needs. Every element lands on exactly one page, in order. An
    element bigger than a whole page still gets a page of its own (callers split text so this does not
    happen): nothing is ever dropped.
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

    for group in groups:
        costs = [cost(element) for element in group]
        total = tuple(sum(c[i] for c in costs) for i in range(len(capacity)))
        if pages[-1] and not fits(total) and all(t <= c for t, c in zip(total, capacity, strict=True)):
            new_page()
        for element, element_cost in zip(group, costs, strict=True):
            if pages[-1] and not fits(element_cost):
                new_page()
            add(element, element_cost)
    return pages
