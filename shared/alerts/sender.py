"""Posting messages to a webhook: a timeout, retries with backoff, and a URL that never leaks.

The webhook URL is a secret (Slack's path and the Workflows ``sig`` parameter are the credential), so
nothing here logs it, returns it, or lets an exception text carry it: ``requests`` puts host and path in
its ``ConnectionError`` messages, so failures are described by kind and status code only. urllib3 logs
the request path at DEBUG level; a filter on its logger replaces the webhook's path and query in those
records while a post is in flight.

Retried: connection errors, timeouts, 408, 429 and 5xx, up to ``max_attempts`` tries, waiting
``backoff * 2**n`` seconds (or the server's ``Retry-After``), never more than ``max_backoff``. Final at
once: any other status (a 4xx means the payload or the URL is wrong, and trying again cannot help).
Any 2xx is success: Slack answers ``200 ok``, Teams Workflows ``202`` with an empty body.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests

from shared.alerts.fitting import payload_bytes
from shared.text import SINGLE_LINE_LOGS

log = logging.getLogger(__name__)
log.addFilter(SINGLE_LINE_LOGS)  # route names and service errors in a log line cannot forge another

USER_AGENT = "autorenew-guard/0.1 (+alerts)"
_RETRYABLE_STATUS = frozenset({408, 429})
# Short machine-readable error bodies (Slack's ``invalid_blocks``, ``no_text``...) help and hold no secret.
_ERROR_TOKEN = re.compile(r"^[a-z][a-z0-9_]{1,59}$")


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How posting went. ``error`` says what failed in words and status codes, never with the URL."""

    messages: int
    delivered: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.delivered == self.messages


@dataclass(frozen=True, slots=True)
class _Outcome:
    ok: bool
    problem: str = ""
    give_up: bool = False  # the endpoint kept failing: later messages would fail the same way


class WebhookSender:
    """Posts JSON payloads to one webhook URL in order. Reusable; safe to share between threads."""

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._own_session = session is None
        self._session = session or requests.Session()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep

    def close(self) -> None:
        if self._own_session:
            self._session.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def post(self, url: str, payloads: Sequence[Mapping[str, Any]]) -> DeliveryResult:
        """Post each payload in order. A message refused for good (4xx) does not stop the next one; an
        endpoint still failing after every retry does (the rest would only fail the same way)."""
        total = len(payloads)
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            log.error("Alert webhook not called: its URL is not an http(s) URL (the URL is not logged)")
            return DeliveryResult(total, 0, "the webhook URL is not an http(s) URL")
        delivered = 0
        errors: list[str] = []
        with _redacted(url):
            for index, payload in enumerate(payloads, start=1):
                outcome = self._deliver(url, payload_bytes(payload), index, total)
                if outcome.ok:
                    delivered += 1
                    continue
                label = f"message {index} of {total}" if total > 1 else "the message"
                errors.append(f"{label}: {outcome.problem}")
                if outcome.give_up and index < total:
                    errors.append(f"{total - index} later message(s) not sent")
                    break
        error = "; ".join(errors) or None
        if error:
            log.error("Alert webhook: delivered %d of %d message(s); %s", delivered, total, error)
        else:
            log.info("Alert webhook: delivered %d message(s)", delivered)
        return DeliveryResult(total, delivered, error)

    def _deliver(self, url: str, body: bytes, index: int, total: int) -> _Outcome:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                response = self._session.post(
                    url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
                )
            except requests.Timeout:
                problem = f"no answer within {self.timeout:g} s"
            except requests.ConnectionError:
                problem = "could not connect"
            except requests.RequestException as exc:  # invalid URL parts, too many redirects...: final
                return _Outcome(False, f"the request failed ({type(exc).__name__})")
            else:
                status = response.status_code
                text = _short_body(response)
                response.close()
                if 200 <= status < 300:
                    return _Outcome(True)
                problem = f"HTTP {status}" + (f" {text}" if text else "")
                if not (status in _RETRYABLE_STATUS or status >= 500):
                    return _Outcome(False, problem)
                retry_after = _retry_after(response.headers.get("Retry-After"))
            if attempt == self.max_attempts:
                break
            delay = retry_after if retry_after is not None else self.backoff * 2 ** (attempt - 1)
            delay = max(0.0, min(delay, self.max_backoff))
            log.warning(
                "Alert webhook: %s (message %d of %d, attempt %d of %d); retrying in %.1f s",
                problem,
                index,
                total,
                attempt,
                self.max_attempts,
                delay,
            )
            self._sleep(delay)
        attempts = "1 attempt" if self.max_attempts == 1 else f"{self.max_attempts} attempts"
        return _Outcome(False, f"{problem} after {attempts}", give_up=True)


def _short_body(response: requests.Response) -> str:
    try:
        text = response.text.strip()
    except Exception:  # noqa: BLE001 - a body we cannot decode is simply not shown
        return ""
    return text if _ERROR_TOKEN.match(text) else ""


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (a number of seconds or an HTTP date), or None when absent or unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


# --- keeping the URL out of urllib3's debug log ---------------------------------------------------------


class _SecretFilter(logging.Filter):
    """Replaces registered secrets (webhook paths and queries) in log records before they are emitted."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: dict[str, int] = {}

    def add(self, secret: str) -> None:
        with self._lock:
            self._secrets[secret] = self._secrets.get(secret, 0) + 1

    def remove(self, secret: str) -> None:
        with self._lock:
            left = self._secrets.get(secret, 0) - 1
            if left > 0:
                self._secrets[secret] = left
            else:
                self._secrets.pop(secret, None)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is left alone
            return True
        redacted = message
        for secret in secrets:
            redacted = redacted.replace(secret, "<redacted webhook path>")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = _SecretFilter()
_FILTERED_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "requests")


def _install_filter() -> None:
    """Attach the filter to the loggers that can print a request path (idempotent; done on first use)."""
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


@contextmanager
def _redacted(url: str) -> Iterator[None]:
    """While posting to ``url``, keep its path and query out of the log records of requests/urllib3."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    secrets = [s for s in (path if len(path) > 1 else "", parts.query) if s]
    _install_filter()
    for secret in secrets:
        _FILTER.add(secret)
    try:
        yield
    finally:
        for secret in secrets:
            _FILTER.remove(secret)
