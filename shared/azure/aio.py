"""One asyncio event loop, in its own thread, for the Key Vault reads that come by the thousand.

Why: the SDK's sync pipeline (requests, urllib3, one thread per request in flight) costs about 2.2 ms of
CPU per request on a small machine, the SDK's own asyncio client over aiohttp about 0.5 ms
(docs/BENCHMARKS.md). The scan stays synchronous at its edges (threads per vault, sync entry points in
``shared.azure.keyvault``); only the per-certificate requests run here, as coroutines, each scan thread
waiting for its vault's coroutine with :meth:`EventLoopThread.run`.

Trust follows the same settings as the sync clients: ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``, as
requests reads them) else certifi's bundle, loaded once into one ``SSLContext`` that the connector holds.
Passing ``connection_verify=<path>`` to the SDK instead would make it build a new context, and so open a
new connection, for every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import certifi
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.pipeline.transport import AsyncHttpTransport, HttpTransport

T = TypeVar("T")


def ssl_context() -> ssl.SSLContext:
    """The CAs the sync clients trust (requests' rule: ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, certifi)."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


class EventLoopThread:
    """A loop running in a daemon thread, with the one aiohttp session every asyncio client shares.

    Started on first use. :meth:`close` closes the session on the loop (no "Unclosed client session"
    warning at exit), stops the loop and joins the thread; a later :meth:`run` starts a fresh one, as
    :class:`shared.azure.clients.AzureClients` rebuilds its sync session after ``close()``."""

    def __init__(self, *, max_connections: int) -> None:
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="keyvault-aio", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result here (never call it from the loop)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._started()).result()

    async def session(self) -> aiohttp.ClientSession:
        """The shared session (made on the loop, as aiohttp requires): one pool sized to the scan's
        concurrency, so connections are kept and reused instead of opened per request."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.max_connections, ssl=ssl_context())
            # trust_env: HTTPS_PROXY / NO_PROXY apply as they do to the sync clients' requests session.
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=True, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
            )
        return self._session

    def close(self) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close_session(), loop).result(30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            loop.close()

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        # Let aiohttp's SSL transports finish closing before the loop stops (aiohttp's advice).
        await asyncio.sleep(0)


class AsyncCredential:
    """The app's one (sync) credential, as the asyncio clients take it.

    A token is fetched once per client and then cached by the client's policy; the sync credential keeps
    its own cache too, so this runs rarely, and in a worker thread so it never blocks the loop."""

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return await asyncio.to_thread(self._credential.get_token, *scopes, **kwargs)

    async def close(self) -> None:
        """The sync credential belongs to :class:`~shared.azure.clients.AzureClients`, which closes it."""

    async def __aenter__(self) -> AsyncCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        with contextlib.suppress(Exception):
            await self.close()


class SyncTransportAsAsync(AsyncHttpTransport[Any, Any]):
    """A sync transport (e.g. one replaying recorded responses) under an asyncio pipeline: each send runs
    in a worker thread, and so does its ``sleep``, so a test clock that transport keeps still counts the
    retries' waits."""

    def __init__(self, transport: HttpTransport[Any, Any]) -> None:
        self._transport = transport

    async def __aenter__(self) -> SyncTransportAsAsync:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send(self, request: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._transport.send, request, **kwargs)

    async def sleep(self, duration: float) -> None:
        await asyncio.to_thread(self._transport.sleep, duration)
