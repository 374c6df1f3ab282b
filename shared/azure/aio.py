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
import urllib.request
import weakref
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
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


def proxy_configured() -> bool:
    """Whether the environment names an https proxy (``HTTPS_PROXY``/``ALL_PROXY``, any case), as the sync
    clients' requests session would use it.

    Only then does the aiohttp session trust the environment: with ``trust_env`` aiohttp looks up the
    proxy and ``~/.netrc`` in a worker thread before every request (about a tenth of the scan's CPU),
    to find, on nearly every machine that runs this, nothing."""
    proxies = urllib.request.getproxies()
    return bool(proxies.get("https") or proxies.get("all"))


class EventLoopThread:
    """A loop running in a daemon thread, where the asyncio clients and their aiohttp sessions live.

    Started on first use. Each vault's client gets its own session (:meth:`session`), closed with the
    client: every vault is its own host, so a connection is only worth keeping while its vault is read,
    and each idle TLS connection holds a 256 KiB buffer in asyncio (800 kept-alive connections to 200
    vaults cost 300 MB). The ``SSLContext`` is made once and shared, which is what keeps a new session
    cheap. :meth:`close` closes any session a caller left open (no "Unclosed client session" warning at
    exit), stops the loop and joins the thread; a later :meth:`run` starts a fresh one, as
    :class:`shared.azure.clients.AzureClients` rebuilds its sync session after ``close()``."""

    def __init__(self, *, max_connections: int) -> None:
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ssl: ssl.SSLContext | None = None
        self._sessions: weakref.WeakSet[aiohttp.ClientSession] = weakref.WeakSet()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                # Worker threads for the sync reads and token requests run from coroutines (asyncio.to_thread):
                # as many as requests may be in flight, not the default's few.
                workers = ThreadPoolExecutor(max_workers=self.max_connections, thread_name_prefix="keyvault-sync")
                loop.set_default_executor(workers)
                thread = threading.Thread(target=loop.run_forever, name="keyvault-aio", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result here (never call it from the loop)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._started()).result()

    def session(self, *, connections: int) -> aiohttp.ClientSession:
        """A session with a pool of at most ``connections`` (call it on the loop, as aiohttp requires); the
        caller closes it. Connections in the pool are kept and reused, not opened per request."""
        if self._ssl is None:
            self._ssl = ssl_context()
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(1, connections), ssl=self._ssl),
            trust_env=proxy_configured(),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )
        self._sessions.add(session)
        return session

    def close(self) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close_all(), loop).result(30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            loop.close()

    async def _close_all(self) -> None:
        sessions = [s for s in self._sessions if not s.closed]
        self._sessions = weakref.WeakSet()
        for session in sessions:
            await session.close()
        await asyncio.get_running_loop().shutdown_default_executor()
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
