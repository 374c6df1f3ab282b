"""What the report says about the past: the trend of recent scans and what changed since the previous one.

Pure functions over the app's records (no store, no I/O): the HTTP layer reads the scans from the store
and hands them in as a :class:`ReportHistory`, the HTML report renders what these functions return.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.models import Finding, Scan, ScanResult, ScanStatus, Status, entry_key, sort_by_severity

TREND_SCANS = 30
FINISHED = (ScanStatus.COMPLETED, ScanStatus.PARTIAL)


@dataclass(frozen=True, slots=True)
class ReportHistory:
    """What the store knew besides the scan being shown. ``scans``: recent scans in any order and status
    (``GET /api/scans`` lists running and failed ones too); ``previous``: the scan that finished before
    it, with findings. An ``*_error`` says why that part could not be read: the report still renders."""

    scans: Sequence[Scan] = ()
    previous: ScanResult | None = None
    scans_error: str | None = None
    previous_error: str | None = None


@dataclass(frozen=True, slots=True)
class TrendPoint:
    scan: Scan
    non_compliant: int
    not_assessed: int
    fine: int
    current: bool

    @property
    def problems(self) -> int:
        return self.non_compliant + self.not_assessed


def trend(scans: Iterable[Scan], current: Scan, limit: int = TREND_SCANS) -> list[TrendPoint]:
    """The last ``limit`` finished scans up to and including ``current``, oldest first. Running and failed
    scans are left out: their counts say nothing about the estate."""
    chosen: dict[str, Scan] = {}
    for scan in scans:
        if scan.status in FINISHED and scan.id != current.id:
            chosen[scan.id] = scan
    if current.status in FINISHED:
        chosen[current.id] = current
    cutoff = _moment(current)
    ordered = sorted((s for s in chosen.values() if _moment(s) <= cutoff), key=lambda s: (_moment(s), s.id))
    return [_point(scan, current=scan.id == current.id) for scan in ordered[-limit:]]


def _point(scan: Scan, *, current: bool) -> TrendPoint:
    counts = scan.counts
    fine = sum(int(counts.get(s.value, 0)) for s in Status if not s.is_problem)
    return TrendPoint(
        scan=scan,
        non_compliant=int(counts.get(Status.NON_COMPLIANT.value, 0)),
        not_assessed=int(counts.get(Status.NOT_ASSESSED.value, 0)),
        fine=fine,
        current=current,
    )


def _moment(scan: Scan) -> datetime:
    moment = scan.finished_at or scan.started_at
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True, slots=True)
class Change:
    """One finding's problem state in two scans: ``before`` is None for a new problem, ``after`` is None
    when the finding is gone (its certificate or service was deleted, or no longer scanned)."""

    before: Finding | None
    after: Finding | None

    @property
    def finding(self) -> Finding:
        """The newest state: the finding now, or as it was when it is gone."""
        found = self.after or self.before
        if found is None:
            raise ValueError("a change needs a finding before or after")
        return found


@dataclass(frozen=True, slots=True)
class Changes:
    previous: Scan
    new: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    still_open: int = 0

    @property
    def nothing(self) -> bool:
        return not (self.new or self.fixed or self.changed)


def compare(current: ScanResult, previous: ScanResult) -> Changes:
    """Problems new since ``previous``, problems of ``previous`` that are fixed (or gone), and problems in
    both whose status or severity changed, each most severe first. Findings are matched by
    :attr:`Finding.key` (same rule, same certificate, same service reference)."""
    before = {f.key: f for f in previous.findings}
    after = {f.key: f for f in current.findings}
    new, fixed, changed, still = [], [], [], 0
    for finding in sort_by_severity(current.findings):
        if not finding.status.is_problem:
            continue
        old = before.get(finding.key)
        if old is None or not old.status.is_problem:
            new.append(Change(old, finding))
        elif (old.status, old.severity) != (finding.status, finding.severity):
            changed.append(Change(old, finding))
        else:
            still += 1
    for finding in sort_by_severity(previous.findings):
        if finding.status.is_problem:
            now = after.get(finding.key)
            if now is None or not now.status.is_problem:
                fixed.append(Change(finding, now))
    return Changes(previous=previous.scan, new=new, fixed=fixed, changed=changed, still_open=still)


def by_certificate(changes: Iterable[Change]) -> list[tuple[str, list[Change]]]:
    """Changes grouped as the digest groups problems (:func:`shared.models.entry_key`: certificate, else
    vault, else subscription and service type), in first-seen order, so one certificate's rules read
    together."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(entry_key(change.finding), []).append(change)
    return list(groups.items())
