"""Scans and their finding pages: the ``scans`` and ``findings`` tables (SPEC §1.4, §3, §4).

``scans`` — one partition (``"scans"``) with two or three rows per scan, always rewritten together in
one entity-group transaction, so they never disagree:

* ``scan_<id>``: the scan's record, read by :meth:`ScanRecords.get` with one point lookup;
* ``started_<inverted started_at>_<id>``: the same columns, so :meth:`ScanRecords.list_scans` is one range
  query whose first rows are the newest scans (no table scan);
* ``finished_<inverted finished_at>_<id>``: written only when a scan finished (``completed`` or
  ``partial``), in the same transaction that makes the record final. :meth:`ScanRecords.latest` is the
  first row of this range, so the latest scan is the one that finished last, and a scan whose findings
  are not all written yet is never the latest.

Columns are typed: ``started_at``/``finished_at`` are ``Edm.DateTime``, counts are ``Edm.Int32``;
``counts``, ``problems`` and ``subscriptions`` are JSON text. The record also carries the manual-post
mark of ``POST /api/alerts`` (``shared.store.alertstate``), changed through :meth:`ScanRecords.update_scan`.

``findings`` — one partition per scan; each row is a *page*: a JSON array of findings (``Finding.to_dict()``),
in the order the scan produced them, split over ``data_00``…``data_15`` string columns. Pages keep the
entity count (and so the cost of writing, which azure-data-tables spends mostly per entity) about a
hundred times lower than one row per finding; see docs/STORE.md for the measurements. Names never go
into keys.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Final

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.models import Finding, Scan, ScanResult, ScanStatus, isoformat, utcnow
from shared.store.tables import (
    SCHEMA_VERSION,
    Operation,
    StoreError,
    Tables,
    clean,
    digest,
    dumps,
    inverted,
    joined,
    json_list,
    plain,
    read_time,
    table_time,
    to_int,
    upsert,
    utc,
)
from shared.text import SINGLE_LINE_LOGS, clean_text, clean_value, single_line

log = logging.getLogger("shared.store")  # the name operators filter on, as before the split
log.addFilter(SINGLE_LINE_LOGS)  # estate text in log arguments cannot forge a line

FINISHED: Final = (ScanStatus.COMPLETED, ScanStatus.PARTIAL)
"""Statuses readers see as "the latest results" (SPEC §4: ``completed`` or ``partial``)."""

_SCANS_PARTITION: Final = "scans"
_RECORD: Final = "scan_"
_STARTED: Final = "started_"
_FINISHED: Final = "finished_"
_SIMPLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class Unchanged(Exception):
    """Raised by an :meth:`ScanRecords.update_scan` change function to leave the scan as it is: nothing
    is written."""


class ScanRecords:
    """Every scan's rows and its pages of findings."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    # ------------------------------------------------------------------------------------------ writes

    def save(self, result: ScanResult) -> None:
        """Store a scan and its findings. The scan first appears as ``running`` (so retention can find a
        crashed write), then the findings are written, then one transaction makes the scan final and,
        when it finished, the latest. If anything fails, the scan is left ``running`` or marked ``failed``,
        never the latest, and :class:`StoreError` says why."""
        scan = result.scan
        key = scan_key(scan.id)
        started = time.perf_counter()
        pages = [self._page_entity(key, number, page) for number, page in enumerate(self._paginate(result.findings))]
        self._t.ensure_tables(self._t.scans, self._t.findings)
        announce = {**self._scan_columns(scan, ScanStatus.RUNNING, pages=0, findings=0), "finished_at": None}
        self._t.submit(
            self._t.scans, [upsert(self._row(announce, k)) for k in ("record", "started")], "announce the scan"
        )
        try:
            transactions = self._t.write_entities(self._t.findings, pages, "write findings")
            self._finalize(scan, pages=len(pages), findings=len(result.findings))
        except StoreError as error:
            self._mark_failed(scan, f"The findings store rejected a write, so this scan is incomplete there: {error}")
            raise
        log.info(
            "Stored scan %s: %d findings in %d pages, %d transactions, %.2f s",
            scan.id,
            len(result.findings),
            len(pages),
            transactions + 2,
            time.perf_counter() - started,
        )

    def record_problem(self, scan_id: str, problem: str) -> None:
        """Append a problem (e.g. a webhook that failed) to a stored scan; readers see it everywhere."""

        def change(columns: dict[str, Any]) -> None:
            stored = json_list(columns.get("problems"))
            if problem in stored:  # the same failure twice (e.g. two POST /api/alerts) is one line
                raise Unchanged
            columns["problems"] = self._t.problems_json([*stored, problem])

        self.update_scan(scan_id, change, f"record a problem on scan {scan_id}")

    def purge(self, retention_days: int, now: datetime | None = None) -> tuple[int, datetime]:
        """Delete scans that started more than ``retention_days`` ago, with their findings; returns how many,
        and the cutoff (the alert state older than it goes too).

        A scan stops being visible as the latest first, loses its findings next and its rows last, so an
        interrupted purge leaves nothing half-visible and the next purge finishes the job."""
        if retention_days < 1:
            raise StoreError(f"Retention must be at least one day, got {retention_days}")
        cutoff = (now or utcnow()) - timedelta(days=retention_days)
        lower = _STARTED + inverted(cutoff - timedelta(microseconds=1))
        old = list(self._t.query(self._t.scans, _SCANS_PARTITION, lower, _STARTED[:-1] + "`", "list old scans"))
        for row in old:
            columns = plain(row)
            key = str(columns.get("findings_partition") or scan_key(str(columns.get("scan_id"))))
            finished_at = read_time(columns.get("finished_at"))
            with self._t.calling(f"delete scan {columns.get('scan_id')}"):
                if finished_at is not None:
                    self._t.scans.delete_entity(_SCANS_PARTITION, _FINISHED + inverted(finished_at) + "_" + key)
            doomed = [
                {"PartitionKey": key, "RowKey": e["RowKey"]}
                for e in self._t.query(self._t.findings, key, None, None, "list findings to delete", select=["RowKey"])
            ]
            self._t.write_entities(self._t.findings, doomed, "delete findings", operation="delete")
            with self._t.calling(f"delete scan {columns.get('scan_id')}"):
                self._t.scans.delete_entity(_SCANS_PARTITION, _RECORD + key)
                self._t.scans.delete_entity(_SCANS_PARTITION, str(row["RowKey"]))
        if old:
            log.info("Purged %d scans that started before %s", len(old), isoformat(cutoff))
        return len(old), cutoff

    # ------------------------------------------------------------------------------------------- reads

    def latest(self) -> ScanResult | None:
        """The scan that finished last (``completed`` or ``partial``), with its findings."""
        rows = self._t.query(
            self._t.scans, _SCANS_PARTITION, _FINISHED, _FINISHED[:-1] + "`", "read the latest scan", top=1
        )
        row = next(iter(rows), None)
        return None if row is None else self._result(plain(row))

    def previous(self, before_scan_id: str) -> ScanResult | None:
        """The scan that finished before ``before_scan_id`` did (the latest other one if that one has not
        finished); None when there is none or ``before_scan_id`` is not stored."""
        record = self._record(before_scan_id, "read the previous scan")
        if record is None:
            return None
        moment = read_time(record.get("finished_at")) or utcnow()
        lower = self._row({**record, "finished_at": moment}, "finished")["RowKey"]
        for row in self._t.query(
            self._t.scans, _SCANS_PARTITION, lower, _FINISHED[:-1] + "`", "read the previous scan"
        ):
            columns = plain(row)
            if columns.get("findings_partition") != record.get("findings_partition"):  # skip that scan itself
                return self._result(columns)
        return None

    def get(self, scan_id: str) -> ScanResult | None:
        """A stored scan by id, whatever its status (a scan still running or whose write failed has no findings)."""
        record = self._record(scan_id, f"read scan {scan_id}")
        return None if record is None else self._result(record)

    def list_scans(self, limit: int = 30) -> list[Scan]:
        """Recent scans, newest (by start) first, including running and failed ones."""
        if limit <= 0:
            return []
        rows = self._t.query(self._t.scans, _SCANS_PARTITION, _STARTED, _STARTED[:-1] + "`", "list scans", top=limit)
        return [_scan_from(plain(row)) for row in islice(rows, limit)]

    # -------------------------------------------------------------------------------------- internals

    def update_scan(self, scan_id: str, change: Callable[[dict[str, Any]], None], action: str) -> None:
        """Read-modify-write of a scan's rows, guarded by the record's ETag (retried on a concurrent change).
        ``change`` raises :class:`Unchanged` when there is nothing to write."""
        for _attempt in range(8):
            with self._t.calling(action):
                try:
                    current = self._t.scans.get_entity(_SCANS_PARTITION, _RECORD + scan_key(scan_id))
                except ResourceNotFoundError:
                    raise StoreError(f"Could not {action}: no stored scan has id {scan_id!r}") from None
            old = plain(current)
            columns = {k: v for k, v in old.items() if k not in ("PartitionKey", "RowKey", "kind")}
            try:
                change(columns)
            except Unchanged:
                return
            record = self._row(columns, "record")
            operations: list[Operation] = [
                (
                    "update",
                    record,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": current.metadata["etag"],
                        "match_condition": MatchConditions.IfNotModified,
                    },
                ),
                upsert(self._row(columns, "started")),
            ]
            if columns.get("status") in FINISHED and columns.get("finished_at") is not None:
                operations.append(upsert(self._row(columns, "finished")))
            old_started = self._row(old, "started")["RowKey"]
            if old_started != operations[1][1]["RowKey"]:
                operations.append(("delete", {"PartitionKey": _SCANS_PARTITION, "RowKey": old_started}, {}))
            if old.get("status") in FINISHED and old.get("finished_at") is not None:
                old_finished = self._row(old, "finished")["RowKey"]
                if old_finished not in {op[1]["RowKey"] for op in operations}:
                    operations.append(("delete", {"PartitionKey": _SCANS_PARTITION, "RowKey": old_finished}, {}))
            try:
                with self._t.calling(action):
                    self._t.scans.submit_transaction(operations)
                return
            except StoreError as error:
                if error.status_code != 412:  # 412: the record changed since we read it; read again
                    raise
        raise StoreError(f"Could not {action}: the scan kept changing underneath (8 attempts)")

    def _row(self, columns: Mapping[str, Any], kind: str) -> dict[str, Any]:
        """One of a scan's rows in the scans partition; all carry the same columns."""
        key = str(columns["findings_partition"])
        if kind == "record":
            row_key = _RECORD + key
        else:
            moment = read_time(columns["started_at" if kind == "started" else "finished_at"])
            if moment is None:
                raise StoreError(f"Scan {columns.get('scan_id')} has no {kind}_at time to index")
            row_key = (_STARTED if kind == "started" else _FINISHED) + inverted(moment) + "_" + key
        return {**columns, "PartitionKey": _SCANS_PARTITION, "RowKey": row_key, "kind": kind}

    def _scan_columns(self, scan: Scan, status: ScanStatus, *, pages: int, findings: int) -> dict[str, Any]:
        finished_at = scan.finished_at
        if status in FINISHED and finished_at is None:
            finished_at = utcnow()
        return {
            "schema": SCHEMA_VERSION,
            "scan_id": clean(scan.id, self._t.limits.property_chars),
            "findings_partition": scan_key(scan.id),
            "status": status.value,
            "started_at": table_time(scan.started_at),
            "finished_at": table_time(finished_at) if finished_at else None,
            "counts": dumps({str(k): to_int(v) for k, v in scan.counts.items()}),
            "problems": self._t.problems_json(scan.problems),
            "subscriptions": self._t.list_json(scan.subscriptions, "subscriptions"),
            "vault_count": to_int(scan.vault_count),
            "certificate_count": to_int(scan.certificate_count),
            "probing": scan.probing,
            "finding_count": findings,
            "page_count": pages,
        }

    def _finalize(self, scan: Scan, *, pages: int, findings: int) -> None:
        """Make the scan final: record, started and (when finished) finished rows in one transaction."""
        final = self._scan_columns(scan, scan.status, pages=pages, findings=findings)

        def change(columns: dict[str, Any]) -> None:
            stored = json_list(columns.get("problems"))
            given = json_list(final["problems"])
            merged = given + [p for p in stored if p not in given]  # keep problems recorded meanwhile
            columns.clear()
            columns.update(final, problems=self._t.problems_json(merged))

        self.update_scan(scan.id, change, f"complete scan {scan.id}")

    def _mark_failed(self, scan: Scan, problem: str) -> None:
        """Best effort after a failed write: the scan shows as failed in the list, never as the latest."""

        def change(columns: dict[str, Any]) -> None:
            columns["status"] = ScanStatus.FAILED.value
            columns["finished_at"] = table_time(scan.finished_at or utcnow())
            columns["problems"] = self._t.problems_json([*json_list(columns.get("problems")), problem])

        try:
            self.update_scan(scan.id, change, f"mark scan {scan.id} failed")
        except StoreError as error:
            log.warning("Could not mark scan %s as failed in the store either: %s", scan.id, error)

    def _record(self, scan_id: str, action: str) -> dict[str, Any] | None:
        with self._t.calling(action):
            try:
                return plain(self._t.scans.get_entity(_SCANS_PARTITION, _RECORD + scan_key(scan_id)))
            except ResourceNotFoundError:
                return None

    def _result(self, columns: Mapping[str, Any]) -> ScanResult:
        scan = _scan_from(columns)
        key = str(columns.get("findings_partition") or scan_key(scan.id))
        try:
            expected_pages = to_int(columns.get("page_count"))
        except (ValueError, TypeError, OverflowError):
            raise StoreError(f"Scan {scan.id} has no readable page count in the store") from None
        findings: list[Finding] = []
        if expected_pages:
            upper = f"{expected_pages:06d}"  # pages past the count are leftovers of an earlier failed attempt
            rows = self._t.query(self._t.findings, key, None, upper, f"read the findings of scan {scan.id}")
            pages = sorted((plain(row) for row in rows), key=lambda page: str(page["RowKey"]))
            if len(pages) != expected_pages:
                raise StoreError(
                    f"Scan {scan.id} is incomplete in the store: {len(pages)} of {expected_pages} pages of findings"
                )
            for page in pages:
                try:
                    # Cleaned on the way out too: a scan stored by an older version may hold raw estate text.
                    findings.extend(Finding.from_dict(clean_value(item)) for item in json.loads(joined(page, "data")))
                except (ValueError, TypeError, KeyError):
                    raise StoreError(f"A page of findings of scan {scan.id} is not readable") from None
        return ScanResult(scan=scan, findings=findings)

    def _paginate(self, findings: Iterable[Finding]) -> Iterator[list[str]]:
        """Group findings, as JSON texts, into pages that each fit one entity."""
        budget = self._t.limits.page_chars - 2
        page: list[str] = []
        size = 0
        for finding in findings:
            text = dumps(_finding_data(finding))
            if len(text) > budget:
                text = dumps(self._t.shrink(_finding_data(finding), budget))
            if page and size + len(text) + 1 > budget:
                yield page
                page, size = [], 0
            page.append(text)
            size += len(text) + 1
        if page:
            yield page

    def _page_entity(self, key: str, number: int, page: list[str]) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": key,
            "RowKey": f"{number:06d}",
            "schema": SCHEMA_VERSION,
            "finding_count": len(page),
        }
        entity.update(self._t.parts("data", "[" + ",".join(page) + "]"))
        return entity


# ------------------------------------------------------------------------------------------- helpers


def scan_key(scan_id: str) -> str:
    """A key-safe form of a scan id: itself when simple (as new_scan_id makes them), else a digest."""
    if _SIMPLE_ID.match(scan_id):
        return scan_id
    return "~" + digest(scan_id)


def _finding_data(finding: Finding) -> dict[str, Any]:
    data = finding.to_dict()
    if finding.expires_on is not None:  # full precision: to_dict() rounds to milliseconds
        data["expires_on"] = utc(finding.expires_on).isoformat()
    return data


def _scan_from(columns: Mapping[str, Any]) -> Scan:
    try:
        started = read_time(columns.get("started_at"))
        if started is None:
            raise ValueError("no started_at")
        counts = json.loads(columns.get("counts") or "{}")
        return Scan(
            id=str(columns["scan_id"]),
            started_at=started,
            finished_at=read_time(columns.get("finished_at")),
            status=ScanStatus(columns.get("status") or ScanStatus.RUNNING),
            counts={str(k): int(v) for k, v in counts.items()},
            problems=[clean_text(p) for p in json_list(columns.get("problems"))],
            subscriptions=[single_line(s) for s in json_list(columns.get("subscriptions"))],
            vault_count=int(columns.get("vault_count") or 0),
            certificate_count=int(columns.get("certificate_count") or 0),
            probing=columns.get("probing") if columns.get("probing") in ("on", "off") else None,
        )
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as error:
        # OverflowError: a count of 1e999 (infinity in JSON) or an infinite Edm.Double holds no integer.
        raise StoreError(f"A stored scan row ({columns.get('RowKey')}) is not readable: {error}") from None
