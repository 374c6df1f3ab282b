"""What the alerts remember: the ``alertstate`` table and the manual-post mark on a scan's record.

``alertstate`` — what each webhook was last sent: one partition per webhook (its route name and a hash of
its URL, never the URL), one row per problem posted there, keyed by a digest of the exact :attr:`Finding.key`
(which is also kept exactly, as ASCII JSON, so it reads back as the same key whatever it holds).
``shared.alerts.cadence`` reads it to list only what is new, worse or due for a reminder.

The manual-post mark (``manual_post_at`` on the scan's record, changed under its ETag) keeps two
``POST /api/alerts`` for the same scan from both posting within the cooldown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from azure.core.exceptions import ResourceNotFoundError

from shared.store.scans import ScanRecords, Unchanged
from shared.store.tables import (
    SCHEMA_VERSION,
    Tables,
    clean,
    digest,
    dumps,
    joined,
    plain,
    read_time,
    table_time,
    utc,
)

_MANUAL_POST: Final = "manual_post_at"  # when POST /api/alerts last posted the scan (ISO 8601 text)


@dataclass(frozen=True, slots=True)
class PostedProblem:
    """One problem as it was last posted to one webhook: what it was then, and when."""

    key: str  # Finding.key
    status: str
    severity: str
    last_posted: datetime


class AlertState:
    """What was posted where, and the manual-post marks."""

    def __init__(self, tables: Tables, scans: ScanRecords) -> None:
        self._t = tables
        self._scans = scans

    def posted_problems(self, webhook: str) -> dict[str, PostedProblem]:
        """What was last posted to one webhook, by :attr:`Finding.key` (empty when nothing was, or when
        the table does not exist yet)."""
        posted: dict[str, PostedProblem] = {}
        for row in self._t.query(self._t.alert_state, webhook, None, None, "read what the alerts last posted"):
            columns = plain(row)
            when = read_time(columns.get("last_posted"))
            key = _exact_key(columns)
            if when is None or key is None:
                continue  # a row we cannot read counts as never posted: the problem is listed again
            posted[key] = PostedProblem(
                key=key,
                status=str(columns.get("status") or ""),
                severity=str(columns.get("severity") or ""),
                last_posted=when,
            )
        return posted

    def record_posted(self, webhook: str, posted: Iterable[PostedProblem], forget: Iterable[str] = ()) -> None:
        """Remember problems as posted to ``webhook`` now (``posted``) and drop those that are no longer
        problems there (``forget``, finding keys), so the partition holds exactly the open problems."""
        rows = [
            {
                "PartitionKey": webhook,
                "RowKey": _posted_key(p.key),
                "schema": SCHEMA_VERSION,
                "finding_key": clean(p.key, self._t.limits.property_chars),  # for people browsing the table
                # The exact key, as ASCII JSON: a line break, a lone surrogate or 5,000 characters read
                # back as they were, so the problem matches its finding next time and settles.
                **self._t.parts("key", dumps(p.key)),
                "status": p.status,
                "severity": p.severity,
                "last_posted": table_time(p.last_posted),
            }
            for p in posted
        ]
        doomed = [{"PartitionKey": webhook, "RowKey": _posted_key(key)} for key in forget]
        self._t.ensure_tables(self._t.alert_state)
        self._t.write_entities(self._t.alert_state, rows, "record what the alerts posted")
        self._t.write_entities(self._t.alert_state, doomed, "forget problems that were fixed", operation="delete")

    def purge(self, cutoff: datetime) -> int:
        """Forget posts older than ``cutoff`` (retention): such a problem, if still open, is listed again."""
        query = "last_posted lt @cutoff"
        with self._t.calling("list old alert records"):
            try:
                old = [
                    (str(e["PartitionKey"]), str(e["RowKey"]))
                    for e in self._t.alert_state.query_entities(
                        query, parameters={"cutoff": utc(cutoff)}, select=["PartitionKey", "RowKey"]
                    )
                ]
            except ResourceNotFoundError:
                return 0
        by_webhook: dict[str, list[dict[str, Any]]] = {}
        for partition, row in old:
            by_webhook.setdefault(partition, []).append({"PartitionKey": partition, "RowKey": row})
        for rows in by_webhook.values():
            self._t.write_entities(self._t.alert_state, rows, "delete old alert records", operation="delete")
        return len(old)

    def claim_manual_post(self, scan_id: str, *, now: datetime, window: timedelta) -> timedelta | None:
        """Mark ``scan_id`` as posted by hand at ``now``, unless it was less than ``window`` ago: then nothing
        changes and the time left is returned. The mark is a column of the scan's record, changed under its
        ETag, so two requests at once cannot both claim the post."""
        left: list[timedelta] = []

        def change(columns: dict[str, Any]) -> None:
            left.clear()
            posted = read_time(columns.get(_MANUAL_POST))
            if posted is not None and now - posted < window:
                left.append(window - (now - posted))
                raise Unchanged
            columns[_MANUAL_POST] = utc(now).isoformat()  # text: compared exactly by release_manual_post

        self._scans.update_scan(scan_id, change, f"mark scan {scan_id} as posted")
        return left[0] if left else None

    def release_manual_post(self, scan_id: str, *, claimed_at: datetime) -> None:
        """Undo :meth:`claim_manual_post` after a post that delivered nothing (the webhook failed), so the
        person who fixes the webhook can post again at once. Only that claim is undone, not a later one."""

        def change(columns: dict[str, Any]) -> None:
            if columns.get(_MANUAL_POST) != utc(claimed_at).isoformat():
                raise Unchanged
            columns[_MANUAL_POST] = None

        self._scans.update_scan(scan_id, change, f"clear the posted mark of scan {scan_id}")


def _exact_key(columns: dict[str, Any]) -> str | None:
    """The finding key a row was written for; rows written before the exact copy existed have only the
    cleaned one (which matches every key without line breaks or surrogates under 4,096 characters)."""
    if columns.get("key_parts"):
        try:
            key = json.loads(joined(columns, "key"))
        except ValueError:
            return None
        return key if isinstance(key, str) else None
    key = columns.get("finding_key")
    return key if isinstance(key, str) else None


def _posted_key(finding_key: str) -> str:
    """A row key for a finding key: names never go into keys (they may hold characters keys refuse)."""
    return digest(finding_key)
