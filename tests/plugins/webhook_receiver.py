"""A local webhook receiver: HTTPS on 127.0.0.1 (the fake Azure's test CA signs it), a script of replies, a log.

    def test_retry(webhook_receiver):
        webhook_receiver.reply(Reply(429, headers={"Retry-After": "3"}), Reply(200, "ok"))
        WebhookSender(...).post(webhook_receiver.url, [payload])
        assert len(webhook_receiver.requests) == 2

Replies are used in order, one per request; when the script runs out, every request gets
``default`` (``200 ok``, like Slack). A reply's ``delay`` holds the answer back (to make the client time
out); closing the receiver releases any held answer at once, so tests never wait for a delay to run out.
Each response goes out in one write (see FACTS: no 40 ms delayed-ACK stalls).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fakeazure.server import shared_tls

# The path looks like a Slack webhook's: it is the "secret" the tests make sure is never logged.
SECRET_PATH = "/services/T0SECRET/B0SECRET/xoxSecretToken0123456789"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str | bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply(200, b"ok")
        self.requests: list[ReceivedRequest] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # The handshake runs in the handler's thread (not in accept), so one slow client stalls nobody.
        self._server.socket = shared_tls().context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}{SECRET_PATH}"

    @property
    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.json for r in self.requests]

    def reply(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._script.extend(replies)

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self._script.popleft() if self._script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                request = ReceivedRequest("POST", self.path, dict(self.headers.items()), body)
                reply = receiver._next(request)
                if reply.delay and receiver._closing.wait(reply.delay):
                    self.close_connection = True
                    return
                payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                head = [f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}"]
                headers = {"Content-Type": "text/plain; charset=utf-8", **reply.headers}
                headers["Content-Length"] = str(len(payload))
                head += [f"{name}: {value}" for name, value in headers.items()]
                try:
                    self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
                    self.wfile.flush()
                except OSError:  # the client gave up (timeout): nothing to answer
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def webhook_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """Started, with ``REQUESTS_CA_BUNDLE`` trusting its CA (the same CA as the fake Azure's)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(shared_tls().ca_path))
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
