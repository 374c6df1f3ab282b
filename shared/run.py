"""The whole run: scan, then store, then remediate, then alert (the timer, ``scan --notify``, the CLI).

Kept apart from :mod:`shared.scan` so the scan itself needs nothing from the alerts: it reads and judges
the estate (recording each finding's owner route, :mod:`shared.routes`); this module hands the result
to the store and the webhooks, in the order that keeps the findings safe.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared import alerts
from shared.alerts import WebhookSender
from shared.azure.clients import AzureClients
from shared.models import ScanResult
from shared.scan import ProgressCallback, Remediator, ScanTarget, scan_estate
from shared.settings import Settings
from shared.store import FindingsStore, StoreError
from shared.text import SINGLE_LINE_LOGS

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
) -> RunOutcome:
    """Scan, then store, then remediate, then alert — in that order, so the findings are safe before
    anything can fail on the way to a chat channel. ``store=None`` skips storing (``--no-store``).
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


def _record_problem(store: FindingsStore, scan_id: str, problem: str) -> None:
    try:
        store.record_problem(scan_id, problem)
    except StoreError as exc:
        log.error("Could not record a problem on scan %s: %s", scan_id, exc)
