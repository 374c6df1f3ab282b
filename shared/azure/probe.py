"""The TLS probe (ServedCertificate, SPEC §2): hostnames in, :class:`~shared.models.HostProbe` records out.

For each hostname, every address (A and AAAA, ``getaddrinfo``) gets one TLS handshake on port 443 with the
hostname as SNI and no verification (an expired or mismatched certificate must still be read); the leaf's
DER is read and the connection aborted right after the handshake. Only a ClientHello (and the rest of the
handshake) leaves the app: no HTTP request, no token, no header, not even a close_notify.

Why asyncio: a probe is nearly all waiting, and 1,000 names at ``PROBE_CONCURRENCY`` 32 are a few event-loop
callbacks each, where threads would cost a stack and a context switch per handshake (docs/BENCHMARKS.md).
Names resolve in a thread pool of the same size (``getaddrinfo`` blocks). Bounds, so a hostile or broken
endpoint costs at most ``PROBE_TIMEOUT_SECONDS`` and never the scan: one deadline per name covers the
resolve and the handshakes with all its addresses (tried at once); at most :data:`MAX_ADDRESSES` addresses
per name (the rest are counted); OpenSSL refuses a certificate chain over its 100 KiB message limit.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import socket
import ssl
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from shared.models import AddressProbe, HostProbe, ServedLeaf
from shared.settings import ConnectTo
from shared.text import SINGLE_LINE_LOGS

log = logging.getLogger(__name__)
log.addFilter(SINGLE_LINE_LOGS)

PORT = 443
# A DNS answer can list dozens of addresses; a name is a service's frontend, and 8 covers every
# multi-region frontend seen in practice. The rest are counted in the record and named in the reason.
MAX_ADDRESSES = 8


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """``PROBE_TIMEOUT_SECONDS``, ``PROBE_CONCURRENCY`` and ``PROBE_CONNECT_TO`` (shared.settings)."""

    timeout: float = 10.0
    concurrency: int = 32
    connect_to: tuple[ConnectTo, ...] = ()


def probe_hostnames(hostnames: Iterable[str], options: ProbeOptions) -> dict[str, HostProbe]:
    """One :class:`HostProbe` per distinct hostname (key: the name as given). Never raises for a name:
    every failure is in its record. Runs its own event loop, in a thread of its own when the caller's
    thread already has one running (the Functions host may call from a coroutine)."""
    names = list(dict.fromkeys(hostnames))
    if not names:
        return {}
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_probe_all(names, options))
    result: dict[str, HostProbe] = {}

    def run() -> None:
        result.update(asyncio.run(_probe_all(names, options)))

    thread = threading.Thread(target=run, name="tls-probe")
    thread.start()
    thread.join()
    return result


async def _probe_all(names: Sequence[str], options: ProbeOptions) -> dict[str, HostProbe]:
    # Our own resolver pool, not the loop's default executor: asyncio.run() joins the default executor's
    # threads on the way out, so a getaddrinfo stuck past its deadline would hold the scan there.
    resolver = ThreadPoolExecutor(max_workers=max(1, options.concurrency), thread_name_prefix="probe-dns")
    context = client_context()
    slots = asyncio.Semaphore(max(1, options.concurrency))

    async def one(name: str) -> HostProbe:
        async with slots:
            return await probe_hostname(name, options, context, resolver)

    try:
        probes = await asyncio.gather(*(one(name) for name in names))
    finally:
        # A resolver stuck past its deadline is not waited for: its thread ends when getaddrinfo returns.
        resolver.shutdown(wait=False, cancel_futures=True)
    return dict(zip(names, probes, strict=True))


def client_context() -> ssl.SSLContext:
    """No verification on purpose: the probe reports what is served, expired or mismatched included;
    the thumbprint, not the chain, decides (SPEC §2). Nothing is sent over the connection."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def sni_name(hostname: str) -> str:
    """The name as it goes on the wire: lower-case, without a trailing dot, an IDN as punycode (IDNA 2003,
    Python's ``idna`` codec). Raises ``ValueError`` for a name that cannot be sent."""
    if any(not ch.isprintable() or ch.isspace() for ch in hostname):
        raise ValueError("it contains control or space characters")
    if any(ch in "/\\@:?#[]" for ch in hostname):
        raise ValueError("it contains URL punctuation, so it is not a hostname")
    name = hostname.strip().rstrip(".").lower()
    if not name:
        raise ValueError("it is empty")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("it is not a valid internationalised name (IDNA)") from None
    if len(ascii_name) > 253:
        raise ValueError("it is longer than 253 characters")
    return ascii_name


def _mapping(hostname: str, sni: str, connect_to: Sequence[ConnectTo]) -> tuple[str, int] | None:
    for entry in connect_to:
        if entry.matches(hostname, PORT) or entry.matches(sni, PORT):
            return entry.connect_host or sni, entry.connect_port or PORT
    return None


async def probe_hostname(
    hostname: str, options: ProbeOptions, context: ssl.SSLContext, resolver: ThreadPoolExecutor
) -> HostProbe:
    """Every address of one name, within one deadline of ``options.timeout`` seconds."""
    if hostname.startswith("*"):
        return HostProbe(hostname=hostname, wildcard=True)
    try:
        sni = sni_name(hostname)
    except ValueError as exc:
        return HostProbe(hostname=hostname, error=f"the name was refused and not probed: {exc}")
    mapped = _mapping(hostname, sni, options.connect_to)
    host, port = mapped or (sni, PORT)
    via = f"{_bracketed(host)}:{port}" if mapped else None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + options.timeout
    try:
        async with asyncio.timeout_at(deadline):
            infos = await loop.run_in_executor(
                resolver, functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
            )
    except TimeoutError:
        return HostProbe(hostname, sni, error=f"{host} did not resolve within {options.timeout:g} s", via=via)
    except OSError as exc:
        return HostProbe(hostname, sni, error=f"{host} does not resolve ({_os_error(exc)})", via=via)
    addresses = list(dict.fromkeys((str(info[4][0]), int(info[4][1])) for info in infos))
    tried, skipped = addresses[:MAX_ADDRESSES], max(0, len(addresses) - MAX_ADDRESSES)
    results = await asyncio.gather(*(_handshake(address, sni, context, deadline, options.timeout) for address in tried))
    return HostProbe(hostname, sni, addresses=tuple(results), via=via, addresses_skipped=skipped)


async def _handshake(
    address: tuple[str, int], sni: str, context: ssl.SSLContext, deadline: float, timeout: float
) -> AddressProbe:
    ip, port = address
    shown = f"{_bracketed(ip)}:{port}" if port != PORT else ip
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout_at(deadline):
            _, writer = await asyncio.open_connection(
                ip, port, ssl=context, server_hostname=sni, ssl_handshake_timeout=max(0.01, timeout)
            )
            ssl_object: Any = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    except TimeoutError:
        return AddressProbe(shown, error=f"no TLS handshake within {timeout:g} s (connect or handshake stalled)")
    except ssl.SSLError as exc:
        return AddressProbe(shown, error=f"the TLS handshake failed ({_ssl_error(exc)})")
    except ConnectionRefusedError:
        return AddressProbe(shown, error="connection refused")
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, EOFError):
        return AddressProbe(shown, error="the server closed the connection during the TLS handshake")
    except OSError as exc:
        return AddressProbe(shown, error=f"could not connect ({_os_error(exc)})")
    finally:
        if writer is not None:
            writer.transport.abort()  # no close_notify, nothing more on the wire
    if not der:
        return AddressProbe(shown, error="the server completed the handshake without a certificate")
    return AddressProbe(shown, leaf=read_leaf(der))


def read_leaf(der: bytes) -> ServedLeaf:
    """The thumbprint always (SHA-1 of the DER, what Key Vault's x5t holds); subject, issuer and expiry
    when ``cryptography`` can parse it. Estate text: names are made printable here, where they enter."""
    thumbprint = hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
    try:
        certificate = x509.load_der_x509_certificate(der)
        return ServedLeaf(
            thumbprint=thumbprint,
            subject=_printable(certificate.subject.rfc4514_string()),
            issuer=_printable(certificate.issuer.rfc4514_string()),
            not_after=certificate.not_valid_after_utc,
        )
    except ValueError:
        return ServedLeaf(thumbprint=thumbprint)


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)[:300]


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _ssl_error(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None) or exc.__class__.__name__
    if "EXCESSIVE_MESSAGE_SIZE" in str(reason).upper():
        return "the certificate chain is larger than 100 KiB"
    if "WRONG_VERSION_NUMBER" in str(reason).upper() or "RECORD_LAYER" in str(reason).upper():
        return "the server did not answer in TLS"
    if isinstance(exc, ssl.SSLEOFError) or "EOF" in str(reason).upper():
        return "the server closed the connection during the handshake"
    return str(reason).replace("_", " ").lower()


def _os_error(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return exc.strerror or f"resolver error {exc.errno}"
    return exc.strerror or exc.__class__.__name__
