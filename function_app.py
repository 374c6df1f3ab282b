"""AutoRenew Guard's Azure Functions (Python v2 programming model): triggers only.

Each function parses its input, calls ``shared``, and shapes the response. Importing this module reads
no setting and opens no connection: the host indexes it first, and an import error would hide every
function. Settings, credentials and clients are built on first use (``shared.runtime``) and reused by
later invocations of the same worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import azure.functions as func

from shared import api, jobs
from shared.runtime import AppContext
from shared.settings import SettingsError
from shared.store import StoreError
from shared.text import SINGLE_LINE_LOGS

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
context = AppContext()
log = logging.getLogger("autorenew_guard")
log.addFilter(SINGLE_LINE_LOGS)  # estate text in a log line (a summary, an error) cannot forge another line


@app.timer_trigger(schedule="%SCAN_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def scan_certificates(timer: func.TimerRequest) -> None:
    """Daily: scan, store, alert (and remediate when AUTO_REMEDIATE is on). A failed scan raises so the
    host records the invocation as failed and Application Insights can alert on it."""
    if timer.past_due:
        log.warning("The scan timer is past due; scanning now.")
    outcome = jobs.timer_run(context)
    log.info(jobs.summary(outcome))
    jobs.raise_if_failed(outcome)


@app.route(route="findings", methods=["GET"])
def get_findings(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: api.get_findings(context.store.latest, _query(req)))


@app.route(route="scans", methods=["GET"])
def list_scans(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: api.list_scans(context.store.list_scans, _query(req)))


@app.route(route="report", methods=["GET"])
def get_report(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(
        lambda: api.get_report(
            context.store.latest,
            _query(req),
            portal_url=context.settings.portal_url,
            scans=context.store.list_scans,
            previous=context.store.previous,
        )
    )


@app.route(route="alerts", methods=["POST"])
def post_alerts(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: jobs.post_alerts(context, _query(req)))


def _query(req: func.HttpRequest) -> api.Query:
    return api.parse_query(req.url, req.params)


def _respond(handler: Callable[[], api.ApiResponse]) -> func.HttpResponse:
    """The one place that turns failures into JSON errors: a bad setting, an unreachable store, or a bug
    (logged with its traceback, answered without one). Building the response and encoding its body happen
    inside too, so no failure is ever the host's own error page."""
    try:
        try:
            response = handler()
        except SettingsError as exc:
            log.error("Configuration error: %s", exc)
            response = api.error(500, "ConfigurationError", str(exc))
        except StoreError as exc:
            log.error("Findings store unavailable: %s", exc)
            if exc.code == "ConfigurationError":  # e.g. a connection string the SDK refuses: a setting to fix
                response = api.error(500, "ConfigurationError", str(exc))
            else:
                response = api.error(503, "StoreUnavailable", str(exc))
        return _http(response)
    except Exception:
        log.exception("Unhandled error")
        return _http(api.error(500, "InternalError", "Something went wrong; the details are in the function's logs."))


def _http(response: api.ApiResponse) -> func.HttpResponse:
    # Encoded here, strictly: text that is not valid Unicode fails inside _respond's handling, not in the host.
    return func.HttpResponse(
        body=response.body.encode("utf-8"),
        status_code=response.status,
        mimetype=response.mimetype,
        headers=dict(response.headers),
        charset="utf-8",
    )
