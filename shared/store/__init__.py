"""The findings store: scans, findings, alert state and remediation records in Azure Table Storage.

The layout is SPEC §1.4, §3 and §4, measured in docs/STORE.md. Offers :class:`FindingsStore` (what the
app calls; build it with :meth:`FindingsStore.from_settings`),
:class:`StoreError` (every failure of the store, one line, no secret in it), :class:`StoreLimits`,
:class:`PostedProblem` and :data:`FINISHED`. One module per job:

- ``tables``: the table clients, the entity codec (typed columns, text cut into parts, the service's size
  limits) and the one error funnel (:class:`StoreError`);
- ``scans``: the ``scans`` and ``findings`` tables: a scan's rows and its pages of findings;
- ``alertstate``: what each webhook was last sent, and the manual-post mark of ``POST /api/alerts``;
- ``remediations``: the records of what ``remediate --apply`` changed.

:class:`FindingsStore` is a thin facade over the three record kinds, so callers hold one object.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Self

from azure.core.credentials import TokenCredential
from azure.data.tables import TableServiceClient

from shared.models import Scan, ScanResult
from shared.settings import Settings
from shared.store.alertstate import AlertState, PostedProblem
from shared.store.remediations import RemediationRecords
from shared.store.scans import FINISHED, ScanRecords
from shared.store.tables import CLIENT_OPTIONS, SCHEMA_VERSION, StoreError, StoreLimits, Tables

__all__ = [
    "CLIENT_OPTIONS",
    "FINISHED",
    "SCHEMA_VERSION",
    "FindingsStore",
    "PostedProblem",
    "StoreError",
    "StoreLimits",
]


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
        self._tables = Tables(
            service,
            scans_table=scans_table,
            findings_table=findings_table,
            remediations_table=remediations_table,
            alert_state_table=alert_state_table,
            limits=limits or StoreLimits(),
            secrets_to_hide=secrets_to_hide,
        )
        self._scans = ScanRecords(self._tables)
        self._alerts = AlertState(self._tables, self._scans)
        self._remediations = RemediationRecords(self._tables)

    @property
    def endpoint(self) -> str:
        """The Table service's address, without any query string (safe to log)."""
        return self._tables.endpoint

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
        self._tables.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------- scans (scans.py)

    def save(self, result: ScanResult) -> None:
        """Store a scan and its findings; see :meth:`ScanRecords.save`."""
        self._scans.save(result)

    def record_problem(self, scan_id: str, problem: str) -> None:
        """Append a problem (e.g. a webhook that failed) to a stored scan; readers see it everywhere."""
        self._scans.record_problem(scan_id, problem)

    def purge(self, retention_days: int, now: datetime | None = None) -> int:
        """Delete scans that started more than ``retention_days`` ago with their findings, and alert records
        as old; returns how many scans."""
        purged, cutoff = self._scans.purge(retention_days, now)
        self._alerts.purge(cutoff)
        return purged

    def latest(self) -> ScanResult | None:
        """The scan that finished last (``completed`` or ``partial``), with its findings."""
        return self._scans.latest()

    def previous(self, before_scan_id: str) -> ScanResult | None:
        """The scan that finished before ``before_scan_id`` did; see :meth:`ScanRecords.previous`."""
        return self._scans.previous(before_scan_id)

    def get(self, scan_id: str) -> ScanResult | None:
        """A stored scan by id, whatever its status (a scan still running or whose write failed has no findings)."""
        return self._scans.get(scan_id)

    def list_scans(self, limit: int = 30) -> list[Scan]:
        """Recent scans, newest (by start) first, including running and failed ones."""
        return self._scans.list_scans(limit)

    # ---------------------------------------------------------------------------- alerts (alertstate.py)

    def posted_problems(self, webhook: str) -> dict[str, PostedProblem]:
        return self._alerts.posted_problems(webhook)

    def record_posted(self, webhook: str, posted: Iterable[PostedProblem], forget: Iterable[str] = ()) -> None:
        self._alerts.record_posted(webhook, posted, forget)

    def purge_alert_state(self, cutoff: datetime) -> int:
        return self._alerts.purge(cutoff)

    def claim_manual_post(self, scan_id: str, *, now: datetime, window: timedelta) -> timedelta | None:
        return self._alerts.claim_manual_post(scan_id, now=now, window=window)

    def release_manual_post(self, scan_id: str, *, claimed_at: datetime) -> None:
        self._alerts.release_manual_post(scan_id, claimed_at=claimed_at)

    # ----------------------------------------------------------------------- remediation (remediations.py)

    def record_remediation(self, record: Mapping[str, Any]) -> None:
        self._remediations.record(record)

    def list_remediations(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._remediations.list(limit)
