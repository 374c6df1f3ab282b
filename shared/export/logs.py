"""Send a scan's rows to Azure Monitor Logs with azure-monitor-ingestion (SPEC §7).

The SDK splits the rows into gzip-compressed requests under the API's 1 MB limit and retries 408, 429 and
5xx itself; this module hands it every row at once, with ``on_error`` so one rejected request does not
stop the others, and counts what arrived. Whatever still fails becomes one sentence for the scan's
problems: status, the service's error code, and for a rejected batch (400) the columns the service named,
never the service's own message (it may quote a row) nor the rows themselves.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.monitor.ingestion import LogsIngestionClient, LogsUploadError

from shared.export.columns import columns
from shared.export.rows import finding_rows
from shared.models import ScanResult
from shared.settings import Settings
from shared.text import SINGLE_LINE_LOGS, single_line

log = logging.getLogger(__name__)
log.addFilter(SINGLE_LINE_LOGS)

TABLE_NAME = "AutoRenewGuard_CL"


@dataclass(slots=True)
class ExportOutcome:
    """What the export did. ``error`` is the sentence recorded on the scan when rows did not arrive."""

    rows: int = 0
    sent: int = 0
    requests: int = 0
    failed: int = 0
    error: str | None = None
    failures: list[str] = field(default_factory=list)


class LogsExporter:
    """One scan at a time to one data collection rule's stream.

    ``client_options`` go to ``LogsIngestionClient`` (e.g. ``retry_total``, ``transport``): the client and
    its pipeline are the SDK's own, only how hard it retries can be chosen."""

    def __init__(
        self,
        endpoint: str,
        rule_id: str,
        stream_name: str,
        credential: TokenCredential,
        *,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.rule_id = rule_id
        self.stream_name = stream_name
        self._client = LogsIngestionClient(endpoint, credential, **dict(client_options or {}))

    @classmethod
    def from_settings(
        cls, settings: Settings, credential: TokenCredential, **client_options: Any
    ) -> LogsExporter | None:
        """``None`` when the export is not configured (or its settings are bad, see ``logs_setting_error``)."""
        endpoint, rule_id = settings.logs_ingestion_endpoint, settings.logs_dcr_immutable_id
        if not endpoint or not rule_id:
            return None
        return cls(
            endpoint,
            rule_id,
            settings.logs_stream_name,
            credential,
            client_options=client_options,
        )

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).hostname or "the ingestion endpoint"

    def export(self, result: ScanResult) -> ExportOutcome:
        outcome = ExportOutcome()
        try:
            rows = finding_rows(result.scan, result.findings)
        except ValueError as exc:  # ColumnsMismatchError or an unreadable columns file: a packaging bug
            outcome.rows = len(result.findings)
            outcome.failed = outcome.rows
            outcome.error = f"The export to Azure Monitor Logs did not run: {exc}"
            log.error("%s", outcome.error)
            return outcome
        outcome.rows = len(rows)
        if not rows:
            return outcome

        failed: list[LogsUploadError] = []

        def count(response: Any) -> None:
            if response.http_response.status_code == 204:
                outcome.requests += 1

        try:
            self._client.upload(self.rule_id, self.stream_name, rows, on_error=failed.append, raw_response_hook=count)
        except Exception as exc:  # noqa: BLE001 - the SDK raises before any chunk (bad argument); nothing lost
            failed.append(LogsUploadError(error=exc, failed_logs=list[Mapping[str, Any]](rows)))
        outcome.failed = sum(len(f.failed_logs) for f in failed)
        outcome.sent = outcome.rows - outcome.failed
        if failed:
            reasons = list(dict.fromkeys(self.describe(f.error) for f in failed))
            outcome.failures = reasons
            outcome.error = (
                f"The export to Azure Monitor Logs ({self.host}, stream {self.stream_name}) could not send "
                f"{outcome.failed} of {outcome.rows} rows: {'; '.join(reasons)}. The findings are stored; the next "
                "scan exports its own rows."
            )
            # A warning: the store holds everything, and the command line says it once itself (stderr).
            log.warning("%s", outcome.error)
        else:
            log.info("Sent %d rows to %s in %d request(s)", outcome.sent, TABLE_NAME, outcome.requests)
        return outcome

    def describe(self, error: Exception) -> str:
        """One clause for a failed request: what happened and what to check, never a row's data."""
        if isinstance(error, ClientAuthenticationError) and error.response is None:
            return "the app's identity could not get a token for Azure Monitor (scope https://monitor.azure.com)"
        if isinstance(error, HttpResponseError) and error.response is not None:
            status = error.response.status_code
            code = _error_code(error)
            label = f"{status}{f' {code}' if code else ''}"
            if status == 400:
                named = _columns_named(error)
                where = f" at column(s) {', '.join(named)}" if named else ""
                return (
                    f"the service rejected a batch ({label}){where}; check that the rule's stream declares "
                    "the columns of infra/monitor/findings-columns.json"
                )
            if status in (401, 403):
                return (
                    f"the app's identity is not allowed to send ({label}); it needs Monitoring Metrics "
                    "Publisher on the data collection rule"
                )
            if status == 404:
                return f"no such rule or stream ({label}); check LOGS_DCR_IMMUTABLE_ID and LOGS_STREAM_NAME"
            if status == 413:
                return f"a request was larger than the service accepts ({label})"
            return f"the service answered {label} after retries"
        if isinstance(error, ServiceRequestError):
            return f"could not reach {self.host} after retries ({type(error).__name__})"
        return f"{type(error).__name__}: {single_line(str(error))[:200]}"

    def close(self) -> None:
        self._client.close()


def _error_body(error: HttpResponseError) -> Mapping[str, Any]:
    try:
        body = json.loads(error.response.text()) if error.response is not None else None
    except (ValueError, TypeError):
        return {}
    inner = body.get("error") if isinstance(body, dict) else None
    return inner if isinstance(inner, dict) else {}


def _error_code(error: HttpResponseError) -> str | None:
    code = _error_body(error).get("code")
    if not isinstance(code, str) and error.response is not None:
        code = getattr(error.response, "headers", {}).get("x-ms-error-code")
    if not isinstance(code, str):
        return None
    return single_line(code)[:80] or None


def _columns_named(error: HttpResponseError) -> list[str]:
    """The columns of our file that the error names (its ``target``, its details' targets, or words of its
    messages), in the file's order: only our own column names ever reach the log, not the service's text."""
    body = _error_body(error)
    texts: list[str] = []

    def collect(item: Mapping[str, Any]) -> None:
        for key in ("target", "message"):
            value = item.get(key)
            if isinstance(value, str):
                texts.append(value)
        details = item.get("details")
        if isinstance(details, Sequence):
            for detail in details:
                if isinstance(detail, Mapping):
                    collect(detail)

    collect(body)
    words = {w for text in texts for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)}
    return [c.name for c in columns() if c.name in words]
