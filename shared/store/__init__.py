"""The findings store: every scan and its findings in Azure Table Storage (SPEC §1.4, §3, §4).

This module is the only place that knows how scans, findings and remediation records map to Table
entities. Three tables (names configurable):

``scans`` — one partition (``"scans"``) with two or three rows per scan, always rewritten together in
one entity-group transaction, so they never disagree:

* ``scan_<id>``: the scan's record, read by :meth:`FindingsStore.get` with one point lookup;
* ``started_<inverted started_at>_<id>``: the same columns, so :meth:`list_scans` is one range query
  whose first rows are the newest scans (no table scan);
* ``finished_<inverted finished_at>_<id>``: written only when a scan finished (``completed`` or
  ``partial``), in the same transaction that makes the record final. :meth:`latest` is the first row of
  this range, so the latest scan is the one that finished last, and a scan whose findings are not all
  written yet is never the latest.

Columns are typed: ``started_at``/``finished_at`` are ``Edm.DateTime``, counts are ``Edm.Int32``;
``counts``, ``problems`` and ``subscriptions`` are JSON text.

``findings`` — one partition per scan; each row is a *page*: a JSON array of findings (``Finding.to_dict()``),
in the order the scan produced them, split over ``data_00``…``data_15`` string columns. Pages keep the
entity count (and so the cost of writing, which azure-data-tables spends mostly per entity) about a
hundred times lower than one row per finding; see docs/STORE.md for the measurements. The JSON is
ASCII (``\\uXXXX`` escapes), so control characters, lone surrogates and any name round-trip exactly and
never meet the service's character rules; names never go into keys.

``remediations`` — one partition, newest first (inverted-time row keys); each row keeps the record as
JSON plus typed copies of its simple fields for people browsing the table.

``alertstate`` — what each webhook was last sent (see "Alert state" below): one partition per webhook
(its route name and a hash of its URL, never the URL), one row per problem posted there, keyed by a hash
of :attr:`Finding.key`. The alerts read it to list only what is new, worse or due for a reminder.

Writes respect the Table service's limits even where Azurite does not enforce them: at most 100
operations of one partition per transaction and at most ~3.5 MiB per request, string columns under
64 KiB (UTF-16), entities under 1 MiB, far fewer than 252 properties. A finding too big for a page has
its longest texts cut with a visible marker instead of failing the write.

Every failure of the service (HTTP error, connection refused, timeout, token failure) becomes one
:class:`StoreError` whose message names the operation and the service's error code and never contains
a connection string, an account key or a SAS token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from itertools import islice
from typing import Any, Final, Self
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import EntityProperty, TableClient, TableServiceClient, UpdateMode

from shared.models import Finding, Scan, ScanResult, ScanStatus, isoformat, parse_time, utcnow
from shared.settings import Settings
from shared.text import SINGLE_LINE_LOGS, clean_text, clean_value, single_line

log = logging.getLogger(__name__)
log.addFilter(SINGLE_LINE_LOGS)  # estate text in log arguments cannot forge a line

Operation = tuple[str, dict[str, Any], dict[str, Any]]
"""One operation of an entity-group transaction: ("upsert" | "update" | "create" | "delete", entity, options)."""

SCHEMA_VERSION: Final = 1

FINISHED: Final = (ScanStatus.COMPLETED, ScanStatus.PARTIAL)
"""Statuses readers see as "the latest results" (SPEC §4: ``completed`` or ``partial``)."""

# Client options for stores built here: a store that cannot be reached fails within a few seconds
# (3 retries: 0 s, 0.8 s, 1.6 s), not after the SDK's default 10 retries and 300 s timeouts.
CLIENT_OPTIONS: Final[Mapping[str, Any]] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 4,
    "connection_timeout": 5,
    "read_timeout": 60,
}

_SCANS_PARTITION: Final = "scans"
_REMEDIATIONS_PARTITION: Final = "remediations"
_RECORD: Final = "scan_"
_STARTED: Final = "started_"
_FINISHED: Final = "finished_"
_MANUAL_POST: Final = "manual_post_at"  # when POST /api/alerts last posted the scan (ISO 8601 text)
_RESERVED: Final = frozenset({"PartitionKey", "RowKey", "Timestamp", "etag", "kind", "schema"})
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
_SIMPLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_MAX_MICROS: Final = 10**19 - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_TABLE_TIME: Final = datetime(1601, 1, 2, tzinfo=UTC)  # Edm.DateTime starts at 1601-01-01
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SECRET_PAIR = re.compile(r"(?i)\b(AccountKey|SharedAccessSignature|sig|SharedAccessKey)=[^;&\s'\"]+")
_QUERY = re.compile(r"\?[^\s'\"]*=[^\s'\"]*")
_OS_ERROR = re.compile(r"\[Errno -?\d+\] ([^'\"\)\]]+)|Error\(-?\d+, '([^']+)'\)")


class _Unchanged(Exception):
    """Raised by an _update_scan change function to leave the scan as it is: nothing is written."""


@dataclass(frozen=True, slots=True)
class PostedProblem:
    """One problem as it was last posted to one webhook: what it was then, and when."""

    key: str  # Finding.key
    status: str
    severity: str
    last_posted: datetime


class StoreError(Exception):
    """The findings store could not do what was asked. ``str()`` is one line to show a person; it holds
    the service's error code when there is one and never a connection string, key or SAS token."""

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """How writes are cut to fit the Table service. The defaults are the service's limits with margin;
    tests shrink them to exercise paging and batching without writing megabytes."""

    batch_operations: int = 100  # entity-group transaction: at most 100 operations, one partition
    batch_bytes: int = 3_500_000  # ... and a 4 MiB request body (multipart overhead included)
    part_chars: int = 30_000  # one string column: 64 KiB of UTF-16; our JSON is ASCII
    page_parts: int = 16  # 16 x 60 KB < 1 MiB per entity, 20 properties << 252
    problem_chars: int = 4_000  # one problem (e.g. a webhook's error) in the scan row
    property_chars: int = 1_024  # typed copies of remediation fields

    @property
    def page_chars(self) -> int:
        return self.part_chars * self.page_parts


class FindingsStore:
    """Scans and findings in Table Storage. Build it with :meth:`from_settings` (or pass a service
    client); tables are created on the first write."""

    def __init__(
        self,
        service: TableServiceClient,
        *,
        scans_table: str = "scans",
        findings_table: str = "findings",
        remediations_table: str = "remediations",
        alert_state_table: str = "alertstate",
        limits: StoreLimits | None = None,
        secrets_to_hide: Iterable[str] = (),
    ) -> None:
        for name in (scans_table, findings_table, remediations_table, alert_state_table):
            if not _TABLE_NAME.match(name):
                raise StoreError(
                    f"{name!r} is not a valid table name (3-63 letters and digits, starting with a letter)"
                )
        self._service = service
        self._scans = service.get_table_client(scans_table)
        self._findings = service.get_table_client(findings_table)
        self._remediations = service.get_table_client(remediations_table)
        self._alert_state = service.get_table_client(alert_state_table)
        self._limits = limits or StoreLimits()
        self._hide = tuple(s for s in secrets_to_hide if s)
        self._created: set[str] = set()
        parts = urlsplit(service.url)
        self._where = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")  # no query: it may hold a SAS

    @property
    def endpoint(self) -> str:
        """The Table service's address, without any query string (safe to log)."""
        return self._where

    # ----------------------------------------------------------------------------------- construction

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential | None = None, **options: Any) -> Self:
        """The store the settings describe: ``FINDINGS_STORAGE_CONNECTION``, else ``FINDINGS_TABLE_ENDPOINT``
        with ``credential`` (the scan's own identity), else ``AzureWebJobsStorage`` as a connection string."""
        explicit_connection = settings.storage_connection_setting == "FINDINGS_STORAGE_CONNECTION"
        if settings.storage_connection and (explicit_connection or not settings.table_endpoint):
            try:
                return cls.from_connection_string(settings.storage_connection, **options)
            except StoreError as error:
                if error.code != "ConfigurationError":
                    raise
                # Name the setting to fix: the message never shows the value (it holds an account key).
                name = settings.storage_connection_setting or "FINDINGS_STORAGE_CONNECTION"
                raise StoreError(f"Setting {name}: {error}", code=error.code) from None
        if settings.table_endpoint:
            if credential is None:
                raise StoreError("FINDINGS_TABLE_ENDPOINT is set, but no credential was given to reach it")
            service = TableServiceClient(endpoint=settings.table_endpoint, credential=credential, **CLIENT_OPTIONS)
            return cls(service, **options)
        raise StoreError(
            "No findings store is configured: set FINDINGS_TABLE_ENDPOINT (identity-based), "
            "FINDINGS_STORAGE_CONNECTION or AzureWebJobsStorage (a connection string), or skip storing"
        )

    @classmethod
    def from_connection_string(cls, connection_string: str, **options: Any) -> Self:
        hide = [
            value.strip()
            for name, _, value in (part.partition("=") for part in connection_string.split(";"))
            if name.strip().lower() in ("accountkey", "sharedaccesssignature")
        ]
        try:
            for name, _, value in (part.partition("=") for part in connection_string.split(";")):
                if name.strip().lower() == "accountkey":  # else every request fails later, more vaguely
                    base64.b64decode(value.strip(), validate=True)
            service = TableServiceClient.from_connection_string(connection_string, **CLIENT_OPTIONS)
        except (ValueError, TypeError, AttributeError, IndexError):  # whatever the SDK's parser raises
            raise StoreError(
                "the storage connection string is incomplete or malformed (it needs AccountName and a base64 "
                "AccountKey, or a SharedAccessSignature; the value is not shown: it is a secret)",
                code="ConfigurationError",
            ) from None
        return cls(service, secrets_to_hide=hide, **options)

    def close(self) -> None:
        for client in (self._scans, self._findings, self._remediations, self._alert_state):
            client.close()
        self._service.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ writes

    def save(self, result: ScanResult) -> None:
        """Store a scan and its findings. The scan first appears as ``running`` (so retention can find a
        crashed write), then the findings are written, then one transaction makes the scan final and,
        when it finished, the latest. If anything fails, the scan is left ``running`` or marked ``failed``,
        never the latest, and :class:`StoreError` says why."""
        scan = result.scan
        key = _scan_key(scan.id)
        started = time.perf_counter()
        pages = [self._page_entity(key, number, page) for number, page in enumerate(self._paginate(result.findings))]
        self._ensure_tables(self._scans, self._findings)
        announce = {**self._scan_columns(scan, ScanStatus.RUNNING, pages=0, findings=0), "finished_at": None}
        self._submit(self._scans, [_upsert(self._row(announce, k)) for k in ("record", "started")], "announce the scan")
        try:
            transactions = self._write_entities(self._findings, pages, "write findings")
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
            stored = _json_list(columns.get("problems"))
            if problem in stored:  # the same failure twice (e.g. two POST /api/alerts) is one line
                raise _Unchanged
            columns["problems"] = self._problems_json([*stored, problem])

        self._update_scan(scan_id, change, f"record a problem on scan {scan_id}")

    def purge(self, retention_days: int, now: datetime | None = None) -> int:
        """Delete scans that started more than ``retention_days`` ago, with their findings; returns how many.

        A scan stops being visible as the latest first, loses its findings next and its rows last, so an
        interrupted purge leaves nothing half-visible and the next purge finishes the job."""
        if retention_days < 1:
            raise StoreError(f"Retention must be at least one day, got {retention_days}")
        cutoff = (now or utcnow()) - timedelta(days=retention_days)
        lower = _STARTED + _inverted(cutoff - timedelta(microseconds=1))
        old = list(self._query(self._scans, _SCANS_PARTITION, lower, _STARTED[:-1] + "`", "list old scans"))
        for row in old:
            columns = _plain(row)
            key = str(columns.get("findings_partition") or _scan_key(str(columns.get("scan_id"))))
            finished_at = _read_time(columns.get("finished_at"))
            with self._calling(f"delete scan {columns.get('scan_id')}"):
                if finished_at is not None:
                    self._scans.delete_entity(_SCANS_PARTITION, _FINISHED + _inverted(finished_at) + "_" + key)
            doomed = [
                {"PartitionKey": key, "RowKey": e["RowKey"]}
                for e in self._query(self._findings, key, None, None, "list findings to delete", select=["RowKey"])
            ]
            self._write_entities(self._findings, doomed, "delete findings", operation="delete")
            with self._calling(f"delete scan {columns.get('scan_id')}"):
                self._scans.delete_entity(_SCANS_PARTITION, _RECORD + key)
                self._scans.delete_entity(_SCANS_PARTITION, str(row["RowKey"]))
        if old:
            log.info("Purged %d scans that started before %s", len(old), isoformat(cutoff))
        self.purge_alert_state(cutoff)
        return len(old)

    def record_remediation(self, record: Mapping[str, Any]) -> None:
        """Keep one remediation record (when, identity, vault, certificate, before, after, outcome...).

        The record is kept whole as JSON; its simple fields are also typed columns for people browsing
        the table. ``when`` (a datetime or ISO text) orders the list; it defaults to now."""
        when = _as_time(record.get("when")) or utcnow()
        data = {str(k): v for k, v in record.items()}
        data.setdefault("when", isoformat(when))
        entity: dict[str, Any] = {
            "PartitionKey": _REMEDIATIONS_PARTITION,
            "RowKey": f"{_inverted(when)}_{secrets.token_hex(4)}",
            "schema": SCHEMA_VERSION,
        }
        # Half an entity for the record, the rest for at most 200 typed copies of at most 2 KB each, so
        # the entity stays under 1 MiB and 252 properties whatever the record holds.
        room = self._limits.page_chars // 2
        text = _dumps(data)
        if len(text) > room:
            text = _dumps(self._shrink(data, room))
        entity.update(self._parts("record", text))
        budget = 200
        for name, value in data.items():
            if budget == 0:
                break
            if not _PROPERTY_NAME.match(name) or name in entity or name in _RESERVED or name.startswith("record_"):
                continue
            typed = self._typed(value)
            if typed is not None:
                entity[name] = typed
                budget -= 1
        self._ensure_tables(self._remediations)
        self._submit(self._remediations, [("create", entity, {})], "record a remediation")

    # ------------------------------------------------------------------- manual posts (POST /api/alerts)

    def claim_manual_post(self, scan_id: str, *, now: datetime, window: timedelta) -> timedelta | None:
        """Mark ``scan_id`` as posted by hand at ``now``, unless it was less than ``window`` ago: then nothing
        changes and the time left is returned. The mark is a column of the scan's record, changed under its
        ETag, so two requests at once cannot both claim the post."""
        left: list[timedelta] = []

        def change(columns: dict[str, Any]) -> None:
            left.clear()
            posted = _read_time(columns.get(_MANUAL_POST))
            if posted is not None and now - posted < window:
                left.append(window - (now - posted))
                raise _Unchanged
            columns[_MANUAL_POST] = _utc(now).isoformat()  # text: compared exactly by release_manual_post

        self._update_scan(scan_id, change, f"mark scan {scan_id} as posted")
        return left[0] if left else None

    def release_manual_post(self, scan_id: str, *, claimed_at: datetime) -> None:
        """Undo :meth:`claim_manual_post` after a post that delivered nothing (the webhook failed), so the
        person who fixes the webhook can post again at once. Only that claim is undone, not a later one."""

        def change(columns: dict[str, Any]) -> None:
            if columns.get(_MANUAL_POST) != _utc(claimed_at).isoformat():
                raise _Unchanged
            columns[_MANUAL_POST] = None

        self._update_scan(scan_id, change, f"clear the posted mark of scan {scan_id}")

    # ------------------------------------------------------------------------------------------- reads

    def latest(self) -> ScanResult | None:
        """The scan that finished last (``completed`` or ``partial``), with its findings."""
        rows = self._query(
            self._scans, _SCANS_PARTITION, _FINISHED, _FINISHED[:-1] + "`", "read the latest scan", top=1
        )
        row = next(iter(rows), None)
        return None if row is None else self._result(_plain(row))

    def previous(self, before_scan_id: str) -> ScanResult | None:
        """The scan that finished before ``before_scan_id`` did (the latest other one if that one has not
        finished); None when there is none or ``before_scan_id`` is not stored."""
        record = self._record(before_scan_id, "read the previous scan")
        if record is None:
            return None
        moment = _read_time(record.get("finished_at")) or utcnow()
        lower = self._row({**record, "finished_at": moment}, "finished")["RowKey"]
        for row in self._query(self._scans, _SCANS_PARTITION, lower, _FINISHED[:-1] + "`", "read the previous scan"):
            columns = _plain(row)
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
        rows = self._query(self._scans, _SCANS_PARTITION, _STARTED, _STARTED[:-1] + "`", "list scans", top=limit)
        return [_scan_from(_plain(row)) for row in islice(rows, limit)]

    def list_remediations(self, limit: int = 100) -> list[dict[str, Any]]:
        """Remediation records, newest first, as they were given (plus ``when``)."""
        if limit <= 0:
            return []
        rows = self._query(self._remediations, _REMEDIATIONS_PARTITION, None, None, "list remediations", top=limit)
        records: list[dict[str, Any]] = []
        for row in islice(rows, limit):
            text = _joined(_plain(row), "record")
            try:
                records.append(dict(json.loads(text)))
            except (ValueError, TypeError):
                raise StoreError(f"Remediation record {row['RowKey']} is not readable JSON") from None
        return records

    # ------------------------------------------------------------------------------------- alert state

    def posted_problems(self, webhook: str) -> dict[str, PostedProblem]:
        """What was last posted to one webhook, by :attr:`Finding.key` (empty when nothing was, or when
        the table does not exist yet)."""
        posted: dict[str, PostedProblem] = {}
        for row in self._query(self._alert_state, webhook, None, None, "read what the alerts last posted"):
            columns = _plain(row)
            when = _read_time(columns.get("last_posted"))
            key = columns.get("finding_key")
            if when is None or not isinstance(key, str):
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
                "finding_key": _clean(p.key, self._limits.property_chars * 4),
                "status": p.status,
                "severity": p.severity,
                "last_posted": _table_time(p.last_posted),
            }
            for p in posted
        ]
        doomed = [{"PartitionKey": webhook, "RowKey": _posted_key(key)} for key in forget]
        self._ensure_tables(self._alert_state)
        self._write_entities(self._alert_state, rows, "record what the alerts posted")
        self._write_entities(self._alert_state, doomed, "forget problems that were fixed", operation="delete")

    def purge_alert_state(self, cutoff: datetime) -> int:
        """Forget posts older than ``cutoff`` (retention): such a problem, if still open, is listed again."""
        query = "last_posted lt @cutoff"
        with self._calling("list old alert records"):
            try:
                old = [
                    (str(e["PartitionKey"]), str(e["RowKey"]))
                    for e in self._alert_state.query_entities(
                        query, parameters={"cutoff": _utc(cutoff)}, select=["PartitionKey", "RowKey"]
                    )
                ]
            except ResourceNotFoundError:
                return 0
        by_webhook: dict[str, list[dict[str, Any]]] = {}
        for partition, row in old:
            by_webhook.setdefault(partition, []).append({"PartitionKey": partition, "RowKey": row})
        for rows in by_webhook.values():
            self._write_entities(self._alert_state, rows, "delete old alert records", operation="delete")
        return len(old)

    # -------------------------------------------------------------------------------------- internals

    def _row(self, columns: Mapping[str, Any], kind: str) -> dict[str, Any]:
        """One of a scan's rows in the scans partition; all carry the same columns."""
        key = str(columns["findings_partition"])
        if kind == "record":
            row_key = _RECORD + key
        else:
            moment = _read_time(columns["started_at" if kind == "started" else "finished_at"])
            if moment is None:
                raise StoreError(f"Scan {columns.get('scan_id')} has no {kind}_at time to index")
            row_key = (_STARTED if kind == "started" else _FINISHED) + _inverted(moment) + "_" + key
        return {**columns, "PartitionKey": _SCANS_PARTITION, "RowKey": row_key, "kind": kind}

    def _scan_columns(self, scan: Scan, status: ScanStatus, *, pages: int, findings: int) -> dict[str, Any]:
        finished_at = scan.finished_at
        if status in FINISHED and finished_at is None:
            finished_at = utcnow()
        return {
            "schema": SCHEMA_VERSION,
            "scan_id": _clean(scan.id, self._limits.property_chars),
            "findings_partition": _scan_key(scan.id),
            "status": status.value,
            "started_at": _table_time(scan.started_at),
            "finished_at": _table_time(finished_at) if finished_at else None,
            "counts": _dumps({str(k): _int(v) for k, v in scan.counts.items()}),
            "problems": self._problems_json(scan.problems),
            "subscriptions": self._list_json(scan.subscriptions, "subscriptions"),
            "vault_count": _int(scan.vault_count),
            "certificate_count": _int(scan.certificate_count),
            "finding_count": findings,
            "page_count": pages,
        }

    def _finalize(self, scan: Scan, *, pages: int, findings: int) -> None:
        """Make the scan final: record, started and (when finished) finished rows in one transaction."""
        final = self._scan_columns(scan, scan.status, pages=pages, findings=findings)

        def change(columns: dict[str, Any]) -> None:
            stored = _json_list(columns.get("problems"))
            given = _json_list(final["problems"])
            merged = given + [p for p in stored if p not in given]  # keep problems recorded meanwhile
            columns.clear()
            columns.update(final, problems=self._problems_json(merged))

        self._update_scan(scan.id, change, f"complete scan {scan.id}")

    def _mark_failed(self, scan: Scan, problem: str) -> None:
        """Best effort after a failed write: the scan shows as failed in the list, never as the latest."""

        def change(columns: dict[str, Any]) -> None:
            columns["status"] = ScanStatus.FAILED.value
            columns["finished_at"] = _table_time(scan.finished_at or utcnow())
            columns["problems"] = self._problems_json([*_json_list(columns.get("problems")), problem])

        try:
            self._update_scan(scan.id, change, f"mark scan {scan.id} failed")
        except StoreError as error:
            log.warning("Could not mark scan %s as failed in the store either: %s", scan.id, error)

    def _update_scan(self, scan_id: str, change: Callable[[dict[str, Any]], None], action: str) -> None:
        """Read-modify-write of a scan's rows, guarded by the record's ETag (retried on a concurrent change).
        ``change`` raises :class:`_Unchanged` when there is nothing to write."""
        for _attempt in range(8):
            with self._calling(action):
                try:
                    current = self._scans.get_entity(_SCANS_PARTITION, _RECORD + _scan_key(scan_id))
                except ResourceNotFoundError:
                    raise StoreError(f"Could not {action}: no stored scan has id {scan_id!r}") from None
            old = _plain(current)
            columns = {k: v for k, v in old.items() if k not in ("PartitionKey", "RowKey", "kind")}
            try:
                change(columns)
            except _Unchanged:
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
                _upsert(self._row(columns, "started")),
            ]
            if columns.get("status") in FINISHED and columns.get("finished_at") is not None:
                operations.append(_upsert(self._row(columns, "finished")))
            old_started = self._row(old, "started")["RowKey"]
            if old_started != operations[1][1]["RowKey"]:
                operations.append(("delete", {"PartitionKey": _SCANS_PARTITION, "RowKey": old_started}, {}))
            if old.get("status") in FINISHED and old.get("finished_at") is not None:
                old_finished = self._row(old, "finished")["RowKey"]
                if old_finished not in {op[1]["RowKey"] for op in operations}:
                    operations.append(("delete", {"PartitionKey": _SCANS_PARTITION, "RowKey": old_finished}, {}))
            try:
                with self._calling(action):
                    self._scans.submit_transaction(operations)
                return
            except StoreError as error:
                if error.status_code != 412:  # 412: the record changed since we read it; read again
                    raise
        raise StoreError(f"Could not {action}: the scan kept changing underneath (8 attempts)")

    def _record(self, scan_id: str, action: str) -> dict[str, Any] | None:
        with self._calling(action):
            try:
                return _plain(self._scans.get_entity(_SCANS_PARTITION, _RECORD + _scan_key(scan_id)))
            except ResourceNotFoundError:
                return None

    def _result(self, columns: Mapping[str, Any]) -> ScanResult:
        scan = _scan_from(columns)
        key = str(columns.get("findings_partition") or _scan_key(scan.id))
        expected_pages = _int(columns.get("page_count"))
        findings: list[Finding] = []
        if expected_pages:
            upper = f"{expected_pages:06d}"  # pages past the count are leftovers of an earlier failed attempt
            rows = self._query(self._findings, key, None, upper, f"read the findings of scan {scan.id}")
            pages = sorted((_plain(row) for row in rows), key=lambda page: str(page["RowKey"]))
            if len(pages) != expected_pages:
                raise StoreError(
                    f"Scan {scan.id} is incomplete in the store: {len(pages)} of {expected_pages} pages of findings"
                )
            for page in pages:
                try:
                    # Cleaned on the way out too: a scan stored by an older version may hold raw estate text.
                    findings.extend(Finding.from_dict(clean_value(item)) for item in json.loads(_joined(page, "data")))
                except (ValueError, TypeError, KeyError):
                    raise StoreError(f"A page of findings of scan {scan.id} is not readable") from None
        return ScanResult(scan=scan, findings=findings)

    def _paginate(self, findings: Iterable[Finding]) -> Iterator[list[str]]:
        """Group findings, as JSON texts, into pages that each fit one entity."""
        budget = self._limits.page_chars - 2
        page: list[str] = []
        size = 0
        for finding in findings:
            text = _dumps(_finding_data(finding))
            if len(text) > budget:
                text = _dumps(self._shrink(_finding_data(finding), budget))
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
        entity.update(self._parts("data", "[" + ",".join(page) + "]"))
        return entity

    def _parts(self, name: str, text: str) -> dict[str, Any]:
        """ASCII text cut into string columns ``<name>_00``, ``<name>_01``... of at most part_chars each."""
        size = self._limits.part_chars
        chunks = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        columns: dict[str, Any] = {f"{name}_{i:02d}": chunk for i, chunk in enumerate(chunks)}
        columns[f"{name}_parts"] = len(chunks)
        return columns

    def _shrink(self, data: dict[str, Any], budget: int) -> dict[str, Any]:
        """Cut the longest texts of ``data`` (with a visible marker) until its JSON fits ``budget``."""
        data = dict(data)
        while len(_dumps(data)) > budget:
            texts = [(len(_dumps(v)), k) for k, v in data.items() if isinstance(v, str) and len(v) > 1_000]
            if not texts:
                raise StoreError(f"A record is too large to store even with its texts shortened ({budget} characters)")
            escaped, name = max(texts)
            value: str = data[name]
            excess = len(_dumps(data)) - budget + 200
            keep = max(0, min(len(value) // 2, int(len(value) * (escaped - excess) / escaped)))
            data[name] = (
                f"{value[:keep]}... [cut by the findings store: {len(value) - keep} of {len(value)} characters]"
            )
        return data

    def _problems_json(self, problems: Iterable[str]) -> str:
        cap = self._limits.problem_chars
        cut = [p if len(p) <= cap else p[:cap] + f"... [{len(p) - cap} more characters]" for p in map(str, problems)]
        return self._list_json(cut, "problems")

    def _list_json(self, items: Iterable[str], what: str) -> str:
        """JSON of a list that fits one column: the items that fit, then one saying how many did not."""
        kept: list[str] = []
        size = 2
        values = [str(item) for item in items]
        for index, value in enumerate(values):
            length = len(_dumps(value)) + 1
            if size + length > self._limits.part_chars - 100:
                kept.append(f"... and {len(values) - index} more {what} not stored")
                break
            kept.append(value)
            size += length
        return _dumps(kept)

    def _typed(self, value: Any) -> Any:
        """A value as a typed Table column, or None if it is not a simple one."""
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return _int(value)
        if isinstance(value, float):
            return value
        if isinstance(value, datetime):
            return _table_time(value)
        if isinstance(value, str):
            return _clean(value, self._limits.property_chars)
        return None

    def _write_entities(
        self, table: TableClient, entities: list[dict[str, Any]], action: str, *, operation: str = "upsert"
    ) -> int:
        """Entities of one partition in transactions of at most batch_operations and batch_bytes each."""
        limits = self._limits
        batch: list[Operation] = []
        size = 0
        count = 0
        options: dict[str, Any] = {"mode": UpdateMode.REPLACE} if operation == "upsert" else {}
        for entity in entities:
            length = len(json.dumps(entity, default=str)) + 1_024
            if batch and (len(batch) >= limits.batch_operations or size + length > limits.batch_bytes):
                self._submit(table, batch, action)
                count += 1
                batch, size = [], 0
            batch.append((operation, entity, options))
            size += length
        if batch:
            self._submit(table, batch, action)
            count += 1
        return count

    def _submit(self, table: TableClient, operations: list[Operation], action: str) -> None:
        with self._calling(action):
            table.submit_transaction(operations)

    def _query(
        self,
        table: TableClient,
        partition: str,
        lower: str | None,
        upper: str | None,
        action: str,
        *,
        top: int | None = None,
        select: list[str] | None = None,
    ) -> Iterator[Any]:
        """Entities of one partition, optionally with ``lower <= RowKey < upper``, in RowKey order.
        A table that does not exist yet reads as empty."""
        query = "PartitionKey eq @pk"
        parameters: dict[str, Any] = {"pk": partition}
        if lower is not None:
            query += " and RowKey ge @lower"
            parameters["lower"] = lower
        if upper is not None:
            query += " and RowKey lt @upper"
            parameters["upper"] = upper
        with self._calling(action):
            try:
                pages = table.query_entities(
                    query, parameters=parameters, results_per_page=min(top or 1000, 1000), select=select
                )
                yield from pages
            except ResourceNotFoundError:
                return

    def _ensure_tables(self, *tables: TableClient) -> None:
        for table in tables:
            if table.table_name in self._created:
                continue
            with self._calling(f"create table {table.table_name}"), suppress(ResourceExistsError):
                table.create_table()
            self._created.add(table.table_name)

    @contextmanager
    def _calling(self, action: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except AzureError as error:
            raise self._error(action, error) from None

    def _error(self, action: str, error: AzureError) -> StoreError:
        code: str | None = None
        status: int | None = None
        if isinstance(error, HttpResponseError) and not isinstance(error, ClientAuthenticationError):
            status = error.status_code
            raw = getattr(error, "error_code", None)
            code = str((raw.value if isinstance(raw, Enum) else raw) or error.reason or status)
            first_line = (error.message or "").strip().splitlines()[0:1]
            said = first_line[0].rstrip(".") if first_line else ""
            if said.startswith("Operation returned an invalid status"):
                said = ""
            detail = f"HTTP {status} {code}" + (f": {said}" if said and said != code else "")
        elif isinstance(error, ServiceRequestError | ServiceResponseError):
            text = str(error.message or error)
            found = _OS_ERROR.search(text)
            if found:
                reason = (found.group(1) or found.group(2)).strip()
            elif "timed out" in text.lower():
                reason = "timed out"
            else:
                reason = (text.strip().splitlines() or [""])[0][:200]
            code = type(error).__name__
            detail = "the service could not be reached" + (f" ({reason.lower()})" if reason else "")
        elif isinstance(error, ClientAuthenticationError):
            code = "ClientAuthenticationError"
            detail = "no token could be obtained: " + (str(error.message or error).strip().splitlines() or [""])[0]
        else:
            code = type(error).__name__
            detail = (str(error.message or error).strip().splitlines() or [code])[0]
        return StoreError(
            f"Findings store at {self._where}: could not {action}: {self._redact(detail)}",
            code=code,
            status_code=status,
        )

    def _redact(self, text: str) -> str:
        text = _QUERY.sub("?(query hidden)", text)
        text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}=(hidden)", text)
        for secret in self._hide:
            text = text.replace(secret, "(hidden)")
        return text[:500]


# ------------------------------------------------------------------------------------------- helpers


def _scan_key(scan_id: str) -> str:
    """A key-safe form of a scan id: itself when simple (as new_scan_id makes them), else a digest."""
    if _SIMPLE_ID.match(scan_id):
        return scan_id
    return "~" + _digest(scan_id)


def _posted_key(finding_key: str) -> str:
    """A row key for a finding key: names never go into keys (they may hold characters keys refuse)."""
    return _digest(finding_key)


def _digest(text: str) -> str:
    """40 hex characters of SHA-256: key-safe, fixed width, and the same for the same text (surrogates too)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _inverted(moment: datetime) -> str:
    """Fixed-width text that sorts later times first (micro-second resolution)."""
    micros = (_utc(moment) - _EPOCH) // timedelta(microseconds=1)
    return f"{_MAX_MICROS - max(micros, 0):019d}"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _table_time(moment: datetime) -> datetime | str:
    """A datetime column, or ISO text when the time is outside what Edm.DateTime holds."""
    try:
        moment = _utc(moment)
    except (OverflowError, ValueError):
        return str(isoformat(moment))
    return moment if moment >= _MIN_TABLE_TIME else str(isoformat(moment))


def _read_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):  # the SDK's TablesEntityDatetime: make it a plain datetime
        v = _utc(value)
        return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=UTC)
    if isinstance(value, str) and value:
        return parse_time(value)
    return None


def _as_time(value: Any) -> datetime | None:
    try:
        return _read_time(value)
    except ValueError:
        return None


def _int(value: Any) -> Any:
    """Int32 as is, larger integers as Int64, beyond that as text (never a serialisation error)."""
    number = int(value or 0)
    if -(2**31) <= number < 2**31:
        return number
    if -(2**63) <= number < 2**63:
        return EntityProperty(number, "Edm.Int64")
    return str(number)


def _plain(entity: Mapping[str, Any]) -> dict[str, Any]:
    """Entity values as plain Python: Int64 properties unwrapped, Table datetimes as datetimes."""
    out: dict[str, Any] = {}
    for name, raw in entity.items():
        value = raw.value if isinstance(raw, EntityProperty) else raw
        out[name] = _read_time(value) if isinstance(value, datetime) else value
    return out


def _clean(text: str, limit: int) -> str:
    """Text safe for a string column: no control characters or lone surrogates, at most ``limit`` chars."""
    text = _CONTROL.sub("\ufffd", text.replace("\t", " ").replace("\r", " ").replace("\n", " "))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dumps(value: Any) -> str:
    """Compact ASCII JSON: every character outside ASCII (and every control) is a \\u escape."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)


def _json_list(value: Any) -> list[str]:
    if not value:
        return []
    try:
        loaded = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return [str(value)]
    return [str(item) for item in loaded] if isinstance(loaded, list) else [str(loaded)]


def _joined(entity: Mapping[str, Any], name: str) -> str:
    count = _int(entity.get(f"{name}_parts"))
    return "".join(str(entity.get(f"{name}_{i:02d}") or "") for i in range(count))


def _upsert(entity: dict[str, Any]) -> Operation:
    return ("upsert", entity, {"mode": UpdateMode.REPLACE})


def _finding_data(finding: Finding) -> dict[str, Any]:
    data = finding.to_dict()
    if finding.expires_on is not None:  # full precision: to_dict() rounds to milliseconds
        data["expires_on"] = _utc(finding.expires_on).isoformat()
    return data


def _scan_from(columns: Mapping[str, Any]) -> Scan:
    try:
        started = _read_time(columns.get("started_at"))
        if started is None:
            raise ValueError("no started_at")
        counts = json.loads(columns.get("counts") or "{}")
        return Scan(
            id=str(columns["scan_id"]),
            started_at=started,
            finished_at=_read_time(columns.get("finished_at")),
            status=ScanStatus(columns.get("status") or ScanStatus.RUNNING),
            counts={str(k): int(v) for k, v in counts.items()},
            problems=[clean_text(p) for p in _json_list(columns.get("problems"))],
            subscriptions=[single_line(s) for s in _json_list(columns.get("subscriptions"))],
            vault_count=int(columns.get("vault_count") or 0),
            certificate_count=int(columns.get("certificate_count") or 0),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise StoreError(f"A stored scan row ({columns.get('RowKey')}) is not readable: {error}") from None
