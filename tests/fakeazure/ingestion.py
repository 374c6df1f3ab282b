"""A fake Azure Monitor Logs Ingestion endpoint (a data collection rule's), over local HTTPS.

Wire shape, from sources we did not write:

- Path, method, query and body: Azure/azure-rest-api-specs,
  ``specification/monitor/data-plane/ingestion/stable/2023-01-01/DataCollectionRules.json``:
  ``POST {endpoint}/dataCollectionRules/{ruleId}/streams/{stream}?api-version=2023-01-01``, a JSON array of
  objects (``Content-Encoding: gzip`` optional), ``204`` on success; errors are
  ``{"error": {"code", "message", "target", "details"}}`` with an ``x-ms-error-code`` header. The example
  ``examples/post_IngestUsingDataCollectionRule.json`` answers ``204 {}``. Token scope
  ``https://monitor.azure.com/.default`` (its securityDefinitions).
- 413: ``ContentLengthLimitExceeded``, "Maximum allowed content length: 1048576 bytes (1 MB). Provided
  content length: N bytes." (a real answer quoted in JulianHayward/AzADServicePrincipalInsights#30).

Unkind on purpose: the token must be for Azure Monitor (a token for another audience is 401), the rule
and stream must exist, every row is checked against the stream's declared columns (an undeclared column
or a value of the wrong type is a 400 whose message quotes the offending value, as services do, so the
app must not log it), and ``fail(status, times)`` makes the next requests fail (5xx) to exercise retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from .http import ConnectionTracker, Request, Response, listening_socket
from .server import shared_tls
from .wire import decode_token

API_VERSION = "2023-01-01"
MAX_CONTENT_LENGTH = 1_048_576
MONITOR_AUDIENCES = frozenset({"https://monitor.azure.com", "https://monitor.azure.com/"})
DEFAULT_RULE_ID = "dcr-00112233445566778899aabbccddeeff"
DEFAULT_STREAM = "Custom-AutoRenewGuardFindings"


@dataclass(slots=True)
class Batch:
    """One accepted request: its rows (decoded), the compressed size on the wire, and the headers."""

    rows: list[dict[str, Any]]
    content_length: int
    content_encoding: str | None


@dataclass
class _Failure:
    status: int
    times: int | None
    code: str = "ServiceUnavailable"


@dataclass
class FakeLogsIngestion:
    """``columns``: the stream's declaration, ``[{name, type}]`` (the columns file, by default in tests)."""

    columns: Sequence[Mapping[str, str]]
    rule_id: str = DEFAULT_RULE_ID
    stream: str = DEFAULT_STREAM
    host: str = "127.0.0.1"
    audiences: frozenset[str] = MONITOR_AUDIENCES
    batches: list[Batch] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (status, error code) of every refusal
    port: int | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections = ConnectionTracker()
        self._failure: _Failure | None = None
        self._types = {c["name"]: c["type"] for c in self.columns}

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-ingestion", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), loop).result(30)
        return self

    async def _listen(self) -> None:
        sock = listening_socket(self.host)
        self.port = int(sock.getsockname()[1])
        self._server = await asyncio.start_server(
            self._connections.serve(self._handle, self.port), sock=sock, ssl=shared_tls().context
        )

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            self._connections.close_all()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    # ---------------------------------------------------------------- what tests read and set

    @property
    def endpoint(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return [row for batch in self.batches for row in batch.rows]

    def fail(self, status: int, times: int | None = None, code: str = "ServiceUnavailable") -> None:
        """The next ``times`` requests (``None``: every one) answer ``status``."""
        with self._lock:
            self._failure = _Failure(status, times, code)

    def heal(self) -> None:
        """Answer normally again."""
        with self._lock:
            self._failure = None

    # ---------------------------------------------------------------- the endpoint

    async def _handle(self, request: Request) -> Response:
        with self._lock:
            return self._answer(request)

    def _refuse(self, status: int, code: str, message: str, target: str | None = None) -> Response:
        self.refused.append((status, code))
        error: dict[str, Any] = {"code": code, "message": message}
        if target:
            error["target"] = target
        return Response.json(status, {"error": error}, headers=[("x-ms-error-code", code)])

    def _answer(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if request.method != "POST" or len(parts) != 4 or parts[0] != "dataCollectionRules" or parts[2] != "streams":
            return self._refuse(404, "NotFound", f"No route for {request.method} {request.path}.")
        if request.query.get("api-version") != API_VERSION:
            return self._refuse(
                400, "InvalidApiVersion", "The api-version query parameter is missing or not supported."
            )
        claims = self._claims(request)
        if claims is None:
            return self._refuse(401, "InvalidToken", "The access token is missing or invalid.")
        if claims.get("aud") not in self.audiences:
            return self._refuse(
                401,
                "InvalidToken",
                f"The access token was issued for audience {claims.get('aud')!r}, not Azure Monitor.",
            )
        if parts[1] != self.rule_id:
            return self._refuse(404, "NotFound", f"Data collection rule {parts[1]} was not found.")
        if parts[3] != self.stream:
            return self._refuse(
                404, "InvalidStream", f"Stream {parts[3]} is not declared by the rule.", target="stream"
            )
        length = len(request.body)
        if length > MAX_CONTENT_LENGTH:
            return self._refuse(
                413,
                "ContentLengthLimitExceeded",
                f"Maximum allowed content length: {MAX_CONTENT_LENGTH} bytes (1 MB). Provided content length: "
                f"{length} bytes.",
            )
        if self._failure is not None:
            failure = self._failure
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failure = None
            return self._refuse(failure.status, failure.code, "The service is temporarily unavailable.")
        encoding = request.headers.get("content-encoding")
        try:
            raw = gzip.decompress(request.body) if encoding == "gzip" else request.body
            rows = json.loads(raw)
        except (OSError, EOFError, ValueError):
            return self._refuse(400, "InvalidContent", "The request body is not valid (gzip) JSON.")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            return self._refuse(400, "InvalidContent", "The request body must be a JSON array of objects.")
        for row in rows:
            problem = self._check(row)
            if problem is not None:
                return self._refuse(400, "InvalidArgument", problem[1], target=problem[0])
        self.batches.append(Batch(rows, length, encoding))
        return Response(204)

    def _claims(self, request: Request) -> dict[str, Any] | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return decode_token(token)

    def _check(self, row: Mapping[str, Any]) -> tuple[str, str] | None:
        for name, value in row.items():
            kind = self._types.get(name)
            if kind is None:
                return name, f"Column {name} is not declared by stream {self.stream} (value {value!r})."
            if value is None:
                if name == "TimeGenerated":
                    return name, "Column TimeGenerated must not be null."
                continue
            if not _fits(kind, value):
                return name, f"Column {name} of type {kind} cannot hold the value {value!r}."
        return None


def _fits(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "real":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "datetime":
        if not isinstance(value, str):
            return False
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return kind == "dynamic"
