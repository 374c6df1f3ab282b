"""A small HTTP/1.1 server on asyncio streams: enough protocol for the Azure SDKs, and fast.

Each connection is served by one task that reads a request, awaits the handler and writes the whole
response (status line, headers and body) with ONE ``write``, so a keep-alive client never waits for a
40 ms delayed ACK between a header segment and a body segment. ``TCP_NODELAY`` is set as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

logger = logging.getLogger(__name__)

IDLE_TIMEOUT_SECONDS = 600.0
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(slots=True)
class Request:
    """One parsed request; header names are lower-cased, ``query`` keeps the first value of each key."""

    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    port: int

    def json(self) -> Any:
        """The body parsed as JSON, ``None`` when empty; raises ``ValueError`` when it is not JSON."""
        if not self.body:
            return None
        return json.loads(self.body)

    def recorded_body(self) -> Any:
        """What the request log keeps: parsed JSON when possible, else the text, else ``None``."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode("utf-8", "replace")


@dataclass(slots=True)
class Response:
    """A response to send; ``drop`` aborts the connection instead (a reset, as a broken proxy would)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, body, [("Content-Type", "application/json; charset=utf-8"), *headers])

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "application/json; charset=utf-8") -> Response:
        return cls(status, text.encode(), [("Content-Type", content_type)])

    def encode(self, *, keep_alive: bool) -> bytes:
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        lines.append(f"Content-Length: {len(self.body)}")
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + self.body


Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    pass


def _parse_head(head: bytes, port: int) -> tuple[Request, int, bool]:
    """Parse the request line and headers; returns the request (body empty), body length, chunked."""
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        method, target, version = request_line.split(" ", 2)
    except ValueError as exc:
        raise _BadRequest("malformed request line") from exc
    if not version.startswith("HTTP/1."):
        raise _BadRequest("unsupported HTTP version")
    headers: dict[str, str] = {}
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest("malformed header line")
        headers[name.strip().lower()] = value.strip()
    if version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers.setdefault("connection", "close")
    split = urlsplit(target)
    query: dict[str, str] = {}
    for key, value in parse_qsl(split.query, keep_blank_values=True):
        query.setdefault(key, value)
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    try:
        length = int(headers.get("content-length", "0") or "0")
    except ValueError as exc:
        raise _BadRequest("bad Content-Length") from exc
    if length < 0 or length > MAX_BODY_BYTES:
        raise _BadRequest("bad Content-Length")
    request = Request(method.upper(), target, unquote(split.path) or "/", query, headers, b"", port)
    return request, length, chunked


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise _BadRequest("bad chunk size") from exc
        if size == 0:
            # trailers, up to the empty line
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return b"".join(parts)
        total += size
        if total > MAX_BODY_BYTES:
            raise _BadRequest("body too large")
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class ConnectionTracker:
    """Serves connections with a handler and remembers them, so a shutdown can close every one."""

    def __init__(self) -> None:
        self._writers: set[asyncio.StreamWriter] = set()
        # Connections accepted so far, by listening port: whether a client reuses its connections or opens
        # one per request is visible here, as it is to a real service's load balancer.
        self.opened: Counter[int] = Counter()

    def __len__(self) -> int:
        return len(self._writers)

    def serve(
        self, handler: Handler, port: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.add(writer)
            self.opened[port] += 1
            try:
                await _serve_connection(reader, writer, handler, port)
            finally:
                self._writers.discard(writer)

        return on_connection

    def close_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()


def _set_nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler, port: int
) -> None:
    _set_nodelay(writer)
    try:
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_SECONDS)
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                return
            except asyncio.LimitOverrunError:
                writer.write(Response.text(431, "{}").encode(keep_alive=False))
                return
            try:
                request, length, chunked = _parse_head(head[:-4], port)
                if chunked:
                    request.body = await _read_chunked(reader)
                elif length:
                    request.body = await reader.readexactly(length)
            except _BadRequest as exc:
                error = {"error": {"code": "BadRequest", "message": str(exc)}}
                writer.write(Response.json(400, error).encode(keep_alive=False))
                return
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            try:
                response = await handler(request)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("fake Azure handler failed on %s %s", request.method, request.target)
                error = {"error": {"code": "InternalServerError", "message": "The fake Azure handler failed."}}
                response = Response.json(500, error)
            if response.drop:
                writer.transport.abort()
                return
            keep_alive = request.headers.get("connection", "").lower() != "close"
            writer.write(response.encode(keep_alive=keep_alive))  # one write: headers and body together
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, ssl.SSLError, OSError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def listening_socket(host: str, backlog: int = 512) -> socket.socket:
    """A bound, listening TCP socket on a free port of ``host``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
