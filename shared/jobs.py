"""The work behind the timer and ``POST /api/alerts``, given the worker's :class:`AppContext`."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from functools import partial

from shared import alerts, api
from shared.models import ScanStatus, utcnow
from shared.remediation.command import apply_auto_remediation
from shared.runtime import AppContext
from shared.scan import RunOutcome, run_scan
from shared.store import FindingsStore, StoreError
from shared.text import SINGLE_LINE_LOGS

log = logging.getLogger(__name__)
log.addFilter(SINGLE_LINE_LOGS)

# POST /api/alerts posts a scan at most once per window (SPEC §4: 429 with Retry-After within 10 minutes).
REPOST_WINDOW_MINUTES = 10
REPOST_WINDOW = timedelta(minutes=REPOST_WINDOW_MINUTES)


class ScanFailedError(RuntimeError):
    """Raised by the timer so the Functions host records a failed invocation."""


def timer_run(context: AppContext) -> RunOutcome:
    """Scan, store, alert: what the daily timer does. The store is optional only in the sense that a
    store failure is recorded on the outcome; the timer then fails after alerting."""
    settings = context.settings
    if settings.scan_setting_error:
        # Only the scan needs Resource Manager: fail this invocation with the one message, serve the rest.
        log.error("The scan did not run: %s", settings.scan_setting_error)
        raise ScanFailedError(settings.scan_setting_error)
    clients = context.clients
    store = context.store
    remediator = partial(apply_auto_remediation, settings, clients, store=store) if settings.auto_remediate else None
    outcome = run_scan(settings, clients, store=store, notify=settings.has_webhooks, remediate=remediator)
    if settings.alert_setting_error:
        # A bad alert setting stops only the alerts: the scan ran and is stored; say why nothing was posted.
        _record_alert_setting_error(outcome, store, settings.alert_setting_error)
    return outcome


def _record_alert_setting_error(outcome: RunOutcome, store: FindingsStore, problem: str) -> None:
    log.error("No alert was posted: %s", problem)
    scan = outcome.result.scan
    if problem not in scan.problems:
        scan.problems.append(problem)
    outcome.alert_error = outcome.alert_error or problem
    if outcome.stored:
        try:
            store.record_problem(scan.id, problem)
        except StoreError as exc:
            log.error("Could not record the alert setting problem on scan %s: %s", scan.id, exc)


def summary(outcome: RunOutcome) -> str:
    scan = outcome.result.scan
    counts = ", ".join(f"{n} {status}" for status, n in scan.counts.items() if n)
    parts = [
        f"Scan {scan.id} {scan.status.value}: {scan.certificate_count} certificates in {scan.vault_count} vaults "
        f"of {len(scan.subscriptions)} subscriptions ({counts or 'no findings'})",
        "stored" if outcome.stored else f"NOT stored ({outcome.store_error})",
    ]
    if outcome.alerts_sent:
        parts.append(f"{outcome.alerts_sent} alert message(s) sent")
    if outcome.alert_error:
        parts.append(f"alert failed ({outcome.alert_error})")
    if outcome.remediations:
        applied = sum(1 for r in outcome.remediations if r.get("outcome") == "applied")
        parts.append(
            f"auto-remediation turned on AutoRenew for {applied} of {len(outcome.remediations)} certificate(s)"
        )
    if outcome.purged:
        parts.append(f"{outcome.purged} old scan(s) deleted")
    return "; ".join(parts) + "."


def raise_if_failed(outcome: RunOutcome) -> None:
    scan = outcome.result.scan
    if scan.status == ScanStatus.FAILED:
        raise ScanFailedError(f"Scan {scan.id} failed: {'; '.join(scan.problems) or 'nothing could be read'}")
    if outcome.store_error:
        raise ScanFailedError(f"Scan {scan.id} could not be stored: {outcome.store_error}")


def post_alerts(context: AppContext, query: api.Query) -> api.ApiResponse:
    """Post the latest scan's digest now, even when it is an all-clear: someone asked for it."""

    def action() -> api.ApiResponse:
        api.check_names(query, ())
        settings = context.settings
        if settings.alert_setting_error:
            return api.error(500, "ConfigurationError", settings.alert_setting_error)
        if not settings.has_webhooks:
            return api.error(409, "NoWebhook", "No webhook is configured: set ALERT_WEBHOOK_URL or ALERT_ROUTES first.")
        store = context.store
        latest = store.latest()
        if latest is None:
            return api.error(404, "NoScan", "No scan has finished yet; there is nothing to post.")
        claimed_at = utcnow()
        left = store.claim_manual_post(latest.scan.id, now=claimed_at, window=REPOST_WINDOW)
        if left is not None:
            seconds = max(1, math.ceil(left.total_seconds()))
            return api.error(
                429,
                "AlreadyPosted",
                f"Scan {latest.scan.id} was posted less than {REPOST_WINDOW_MINUTES} minutes ago; try again in "
                f"{seconds} seconds, or wait for the next scan.",
                headers={"Retry-After": str(seconds)},
            )
        try:
            delivery = alerts.notify(settings, latest, store=store, full=True)
        except Exception:
            _release(store, latest.scan.id, claimed_at)  # a bug must not block the next try for 10 minutes
            raise
        if delivery is None or not delivery.delivered:
            _release(store, latest.scan.id, claimed_at)  # nothing reached the channel: posting again is fine
        if delivery is None:  # the webhook is set (checked above), so there was simply nothing to post
            return api.json_response(200, {"scan_id": latest.scan.id, "messages": 0, "delivered": 0})
        if delivery.error:
            store.record_problem(latest.scan.id, f"The alert webhook failed: {delivery.error}")
            return api.error(502, "WebhookFailed", f"The webhook did not accept the digest: {delivery.error}")
        return api.json_response(
            200, {"scan_id": latest.scan.id, "messages": delivery.messages, "delivered": delivery.delivered}
        )

    return api.handle(action)


def _release(store: FindingsStore, scan_id: str, claimed_at: datetime) -> None:
    try:
        store.release_manual_post(scan_id, claimed_at=claimed_at)
    except StoreError as exc:
        log.warning("Could not clear the posted mark of scan %s: %s", scan_id, exc)
