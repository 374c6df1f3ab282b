"""Which problems a webhook hears about again: new ones, worse ones, and reminders, never the same list daily.

Per webhook, the store keeps what was last posted there (:class:`shared.store.PostedProblem`: the
finding's status, severity and when). Against that, :func:`plan` lists an entry (one certificate, vault
or subscription) when any of its problems is

* **new**: never posted to this webhook (or fixed since, and back);
* **worse**: another status than when it was posted, or a higher severity;
* **due**: last posted ``ALERT_REMIND_DAYS`` or more days ago (0: every scan).

The other entries are only counted ("12 ongoing, last posted 2026-11-28"), and problems posted before
that the scan now judged fine are counted as resolved. Without a store everything is new. This module is
pure: the store is read and written by :func:`shared.alerts.notify`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.alerts.digest import Mark, Ongoing
from shared.models import Finding, Severity, entry_key
from shared.store import PostedProblem

# A daily timer does not fire at the same second every day: a reminder due "7 days" after a post made at
# 06:00:05 must not wait for the 8th day because today's scan finished at 06:00:03.
REMIND_SLACK = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Plan:
    marks: dict[str, Mark]  # Finding.key -> new / worse
    listed: frozenset[str] | None  # entry keys to list; None: all of them (the full digest)
    ongoing: Ongoing | None
    resolved: tuple[str, ...]  # finding keys posted before that are no longer problems here

    @property
    def listed_count(self) -> int | None:
        return None if self.listed is None else len(self.listed)


def plan(
    findings: Sequence[Finding],
    posted: Mapping[str, PostedProblem] | None,
    *,
    now: datetime,
    remind_days: int,
    full: bool = False,
) -> Plan:
    """What to list for one webhook, from every finding it covers. ``posted`` None means no store:
    everything is new and listed.

    A problem counts as resolved only when this scan judged the same thing again and found no problem. A
    problem the scan did not see at all (its vault could not be read this time, a scan of one vault, a
    failed scan) is neither resolved nor forgotten: its record stays until retention deletes it."""
    problems = [f for f in findings if f.status.is_problem]
    if posted is None:
        return Plan({f.key: "new" for f in problems}, None, None, ())
    marks: dict[str, Mark] = {}
    listed: set[str] = set()
    quiet: dict[str, datetime] = {}  # entry key -> latest post of its findings, for entries not listed
    remind = timedelta(days=remind_days) - REMIND_SLACK
    for finding in problems:
        entry = entry_key(finding)
        before = posted.get(finding.key)
        if before is None:
            marks[finding.key] = "new"
            listed.add(entry)
        elif _worse(finding, before):
            marks[finding.key] = "worse"
            listed.add(entry)
        elif remind_days == 0 or now - before.last_posted >= remind:
            listed.add(entry)
        else:
            quiet[entry] = max(quiet.get(entry, before.last_posted), before.last_posted)
    judged_fine = {f.key for f in findings if not f.status.is_problem}
    current = {f.key for f in problems}
    # A vault that could not be read before and whose certificates were judged now is resolved as a vault.
    read_vaults = {(f.vault_name or "").lower() for f in findings if f.certificate_name is not None}
    resolved = tuple(
        key for key in posted if key in judged_fine or (key not in current and _vault_level(key) in read_vaults - {""})
    )
    ongoing_times = [when for entry, when in quiet.items() if entry not in listed]
    ongoing = Ongoing(len(ongoing_times), min(ongoing_times), max(ongoing_times)) if ongoing_times else None
    if full:
        return Plan(marks, None, None, resolved)
    return Plan(marks, frozenset(listed), ongoing, resolved)


def _vault_level(key: str) -> str:
    """The vault of a whole-vault finding's key (``rule|subscription|vault|``, see ``Finding.key``), else ""."""
    parts = key.split("|")
    return parts[2] if len(parts) == 4 and parts[2] and not parts[3] else ""


def _worse(finding: Finding, before: PostedProblem) -> bool:
    if finding.status.value != before.status:
        return True
    try:
        was = Severity(before.severity)
    except ValueError:
        return True  # a record we cannot read: list the problem again rather than hide it
    return finding.severity.rank < was.rank
