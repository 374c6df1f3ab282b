"""What the HTTP functions do, free of the Functions library: parse the query, ask the store, shape
the answer. ``function_app.py`` only converts between ``func.HttpRequest``/``HttpResponse`` and these.

Every error is JSON ``{"error": {"code", "message"}}`` with a status a client can act on; nothing here
ever returns a stack trace or a setting's value.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from shared.models import RULE_IDS, Finding, Scan, ScanResult, Status, sort_by_severity, utcnow
from shared.report.history import TREND_SCANS, ReportHistory
from shared.store import StoreError
from shared.text import single_line

# Parameters the platform adds (the function key) and that must never count as unknown or be echoed.
PLATFORM_PARAMETERS = frozenset({"code"})
FINDING_FILTERS = ("status", "rule_id", "subscription_id", "vault_name")
CSV_COLUMNS = (
    "rule_id",
    "status",
    "severity",
    "subscription_id",
    "vault_name",
    "vault_uri",
    "certificate_name",
    "certificate_id",
    "issuer",
    "lifetime_action",
    "days_before_expiry",
    "lifetime_percentage",
    "expires_on",
    "reason",
    "vault_id",
    "error_code",
    # CertificateBinding (SPEC §2): the service and the versions it serves.
    "resource_id",
    "resource_type",
    "binding",
    "bound_version",
    "current_version",
    # ServedCertificate (SPEC §2): what the worst address of the hostname (binding) served.
    "served_thumbprint",
    "served_version",
    "served_expires_on",
)
MAX_SCANS = 1000


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    body: str
    mimetype: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


class BadRequest(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


Query = dict[str, list[str]]


def parse_query(url: str, params: Mapping[str, str] | None = None) -> Query:
    """All values of every parameter, repeated (``?status=a&status=b``) or comma-separated
    (``?status=a,b``). The URL is the source of truth; ``params`` fills in when a caller built the
    request without a query string."""
    query: Query = {}
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    for name, value in (params or {}).items():
        query.setdefault(name, [value])
    return {
        name: [v.strip() for value in values for v in value.split(",") if v.strip()] for name, values in query.items()
    }


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> ApiResponse:
    return ApiResponse(status, json.dumps(payload, ensure_ascii=False), headers=headers or {})


def error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> ApiResponse:
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


def check_names(query: Query, allowed: Iterable[str]) -> None:
    allowed_set = set(allowed) | PLATFORM_PARAMETERS
    unknown = sorted(set(query) - allowed_set)
    if unknown:
        choices = ", ".join(sorted(set(allowed))) or "none"
        names = ", ".join(shown(name) for name in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise BadRequest("UnknownParameter", f"Unknown query parameter {names}; allowed: {choices}.")


def shown(value: str, limit: int = 40) -> str:
    """What an error message repeats of a caller's value: one clean line, at most ``limit`` characters
    (a 5,000-digit ``limit`` is answered in one short line)."""
    value = single_line(value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _one(query: Query, name: str, default: str, choices: Iterable[str] | None = None) -> str:
    values = query.get(name) or [default]
    if len(values) > 1:
        raise BadRequest("InvalidParameter", f"Give {name} once.")
    value = values[0]
    if choices is not None and value not in choices:
        raise BadRequest("InvalidParameter", f"{name} must be one of {', '.join(choices)}; got {shown(value)!r}.")
    return value


_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


def whole_number(query: Query, name: str, default: int, low: int, high: int) -> int:
    """A whole number parameter, ASCII digits only: ``²`` and ``٣`` are digits to ``str.isdigit`` but not
    to ``int``, and a 5,000-digit number is past what ``int()`` converts; every such value is a 400."""
    raw = _one(query, name, str(default)) if query.get(name, True) else ""  # present but empty: bad too
    number = int(raw) if _WHOLE_NUMBER.fullmatch(raw) else None
    if number is None or not low <= number <= high:
        raise BadRequest("InvalidParameter", f"{name} must be a whole number from {low} to {high}; got {shown(raw)!r}.")
    return number


def handle(action: Callable[[], ApiResponse]) -> ApiResponse:
    """Turn a bad request into a 400 without repeating the plumbing in every handler."""
    try:
        return action()
    except BadRequest as exc:
        return error(400, exc.code, str(exc))


# --- GET /api/findings -----------------------------------------------------------------------------------


def get_findings(latest: Callable[[], ScanResult | None], query: Query) -> ApiResponse:
    def action() -> ApiResponse:
        check_names(query, (*FINDING_FILTERS, "format"))
        output = _one(query, "format", "json", ("json", "csv"))
        filters = _finding_filters(query)
        result = latest()
        if result is None:
            return error(404, "NoScan", "No scan has finished yet; the timer runs daily, or run one now.")
        findings = [f for f in sort_by_severity(result.findings) if _matches(f, filters)]
        if output == "csv":
            return ApiResponse(
                200,
                findings_csv(findings),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="autorenew-guard-{result.scan.id}.csv"'},
            )
        document: dict[str, Any] = {"scan": result.scan.to_dict(), "findings": [f.to_dict() for f in findings]}
        if filters:
            document["filters"] = {name: sorted(values) for name, values in filters.items()}
        return json_response(200, document)

    return handle(action)


def _finding_filters(query: Query) -> dict[str, set[str]]:
    filters: dict[str, set[str]] = {}
    for name in FINDING_FILTERS:
        values = query.get(name)
        if not values:
            continue
        if name == "status":
            bad = [shown(v) for v in values if v not in {s.value for s in Status}][:5]
            if bad:
                raise BadRequest(
                    "InvalidParameter",
                    f"Unknown status {', '.join(bad)}; use {', '.join(s.value for s in Status)}.",
                )
        elif name == "rule_id":
            bad = [shown(v) for v in values if v not in RULE_IDS][:5]
            if bad:
                raise BadRequest("InvalidParameter", f"Unknown rule_id {', '.join(bad)}; use {', '.join(RULE_IDS)}.")
        elif name == "subscription_id":
            try:
                values = [str(uuid.UUID(v)) for v in values]
            except ValueError:
                raise BadRequest("InvalidParameter", "subscription_id must be a subscription id (a GUID).") from None
        filters[name] = {v.lower() for v in values} if name in ("vault_name", "subscription_id") else set(values)
    return filters


def _matches(finding: Finding, filters: Mapping[str, set[str]]) -> bool:
    for name, wanted in filters.items():
        value = getattr(finding, name)
        value = value.value if isinstance(value, Status) else value
        if name in ("vault_name", "subscription_id"):
            value = (value or "").lower()
        if value not in wanted:
            return False
    return True


def findings_csv(findings: Iterable[Finding]) -> str:
    """One row per finding. Cells that a spreadsheet would run as a formula are prefixed with ``'``:
    names and reasons come from the estate, and whoever controls a certificate name controls the cell.
    That covers cells starting with ``= + - @`` and with any whitespace (a spreadsheet trims a leading
    space, tab, CR or LF and then reads the formula behind it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for finding in findings:
        data = finding.to_dict()
        writer.writerow([_csv_cell(data.get(column)) for column in CSV_COLUMNS])
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and (value[:1] in ("=", "+", "-", "@") or value[:1].isspace()):
        return "'" + value
    return value


# --- GET /api/scans --------------------------------------------------------------------------------------


def list_scans(scans: Callable[[int], list[Any]], query: Query) -> ApiResponse:
    def action() -> ApiResponse:
        check_names(query, ("limit",))
        limit = whole_number(query, "limit", 30, 1, MAX_SCANS)
        return json_response(200, {"scans": [scan.to_dict() for scan in scans(limit)]})

    return handle(action)


# --- GET /api/report -------------------------------------------------------------------------------------


def get_report(
    latest: Callable[[], ScanResult | None],
    query: Query,
    *,
    portal_url: str,
    scans: Callable[[int], list[Scan]] | None = None,
    previous: Callable[[str], ScanResult | None] | None = None,
) -> ApiResponse:
    """The latest scan as HTML. With ``scans`` (the store's ``list_scans``) and ``previous`` (its
    ``previous``), the page also shows the trend of recent scans and what changed since the previous one;
    when only those reads fail, the page says so and still shows the scan."""
    from shared.report.html import render_report  # noqa: PLC0415 - only this route needs it

    def action() -> ApiResponse:
        check_names(query, ())
        result = latest()
        if result is None:
            return error(404, "NoScan", "No scan has finished yet; the timer runs daily, or run one now.")
        history = None if scans is None and previous is None else _report_history(result, scans, previous)
        page = render_report(result, generated_at=utcnow(), portal_url=portal_url, history=history)
        return ApiResponse(
            200,
            page,
            mimetype="text/html",
            headers={
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    return handle(action)


def _report_history(
    result: ScanResult,
    scans: Callable[[int], list[Scan]] | None,
    previous: Callable[[str], ScanResult | None] | None,
) -> ReportHistory:
    # Failed and running scans are listed too and the chart leaves them out: read twice as many.
    recent: list[Scan] = []
    scans_error = previous_error = None
    before = None
    if scans is not None:
        try:
            recent = scans(2 * TREND_SCANS)
        except StoreError as exc:
            scans_error = str(exc)
    if previous is not None:
        try:
            before = previous(result.scan.id)
        except StoreError as exc:
            previous_error = str(exc)
    return ReportHistory(recent, before, scans_error, previous_error)
