"""The whole run: scan, then store, then export, then remediate, then alert (the timer, ``scan --notify``, the CLI).

Kept apart from :mod:`shared.scan` so the scan itself needs nothing from the alerts: it reads and judges
the estate (recording each finding's owner route, :mod:`shared.routes`); this module hands the result
to the store and the webhooks, in the order that keeps the findings safe.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared import alerts
from shared.alerts import WebhookSender
from shared.azure.clients import AzureClients
from shared.models import ScanResult
from shared.scan import ProgressCallback, Remediator, ScanTarget, scan_estate
from shared.settings import Settings
from shared.store import FindingsStore, StoreError
from shared.text import SINGLE_LINE_LOGS

if TYPE_CHECKING:  # the export's SDK is imported only where an export is configured
    from shared.export import ExportOutcome, LogsExporter

log = logging.getLogger("shared.scan")  # the name operators filter on, as when this lived in shared.scan
log.addFilter(SINGLE_LINE_LOGS)

_EVERYTHING = ScanTarget()  # every subscription and vault the identity can read


@dataclass(slots=True)
class RunOutcome:
    """What a run did beyond scanning: each later step reports here instead of raising, so a failing
    store or webhook never loses the findings already in hand."""

    result: ScanResult
    stored: bool = False
    store_error: str | None = None
    alert_error: str | None = None
    alerts_sent: int = 0
    exported: ExportOutcome | None = None
    export_error: str | None = None
    purged: int = 0
    remediations: list[Mapping[str, Any]] = field(default_factory=list)


def run_scan(
    settings: Settings,
    clients: AzureClients,
    *,
    target: ScanTarget = _EVERYTHING,
    store: FindingsStore | None = None,
    notify: bool = False,
    sender: WebhookSender | None = None,
    on_progress: ProgressCallback | None = None,
    remediate: Remediator | None = None,
    exporter: LogsExporter | None = None,
) -> RunOutcome:
    """Scan, then store, then export, then remediate, then alert — in that order, so the findings are safe
    before anything can fail on the way to Azure Monitor or a chat channel. ``store=None`` skips storing
    (``--no-store``). ``exporter`` sends a *stored* scan's findings to Azure Monitor Logs (SPEC §7); a
    failure there is a problem on the scan (stored, in the digest, logged), never an exception.
    ``remediate`` (the timer with ``AUTO_REMEDIATE``) runs only on a stored scan, so every change it
    makes can be recorded; what it changed goes into the digest."""
    result = scan_estate(settings, clients, target=target, on_progress=on_progress)
    outcome = RunOutcome(result=result)

    if store is not None:
        try:
            store.save(result)
            outcome.stored = True
        except StoreError as exc:
            outcome.store_error = str(exc)
            result.scan.problems.append(f"Could not store the scan: {exc}")
            log.error("Could not store scan %s: %s", result.scan.id, exc)

    if outcome.stored:
        _export(settings, store, exporter, outcome)

    if remediate is not None and outcome.stored:
        outcome.remediations = list(remediate(result))

    if notify:
        delivery = alerts.notify(settings, result, store=store, remediations=outcome.remediations, sender=sender)
        if delivery is not None:
            outcome.alerts_sent = delivery.delivered
            if delivery.error:
                outcome.alert_error = delivery.error
                problem = f"The alert webhook failed: {delivery.error}"
                result.scan.problems.append(problem)
                if store is not None and outcome.stored:
                    _record_problem(store, result.scan.id, problem)

    if store is not None and outcome.stored:
        try:
            outcome.purged = store.purge(settings.retention_days)
        except StoreError as exc:
            log.warning("Could not delete scans older than %d days: %s", settings.retention_days, exc)
    return outcome


def _export(
    settings: Settings, store: FindingsStore | None, exporter: LogsExporter | None, outcome: RunOutcome
) -> None:
    scan = outcome.result.scan
    problem = None
    if settings.logs_setting_error:
        problem = settings.logs_setting_error  # a bad LOGS_* setting stops only the export (SPEC §4)
        log.error("No rows were sent to Azure Monitor Logs: %s", problem)
    elif exporter is not None:
        try:
            outcome.exported = exporter.export(outcome.result)
            problem = outcome.exported.error
        except Exception as exc:  # a bug in the export must not cost the alerts
            log.exception("The export to Azure Monitor Logs failed")
            problem = f"The export to Azure Monitor Logs failed: {type(exc).__name__}"
    if problem:
        outcome.export_error = problem
        if problem not in scan.problems:
            scan.problems.append(problem)
        if store is not None:
            _record_problem(store, scan.id, problem)


def _record_problem(store: FindingsStore, scan_id: str, problem: str) -> None:
    try:
        store.record_problem(scan_id, problem)
    except StoreError as exc:
        log.error("Could not record a problem on scan %s: %s", scan_id, exc)
