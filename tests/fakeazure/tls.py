"""The estate's frontends: local TLS servers that answer the services' hostnames (ServedCertificate).

The probe reaches them the way it reaches private frontends in production: ``PROBE_CONNECT_TO`` maps each
hostname of the estate to a local port (:meth:`TlsFrontends.connect_to`), and the hostname still goes out
as SNI. The main listener picks the certificate by SNI from the fake vault's own DERs (``wire.certificate_der``
and ``wire.version_der``, signed with the fake's one leaf key), so thumbprints match what the fake Key Vault
reports as ``x5t``. What a hostname serves is written on its service reference in the estate spec:
``"serves": "current" | "older" | "oldest" | "unrelated" | "expired" | "stall" | "close" | "garbage" |
"huge" | "refused" | "unmapped"`` (one for all its hostnames, or ``{hostname: behaviour}``). Without it a
reference serves the version it is pinned or bound to (``version``, ``thumbprint``, ``served``: ``previous`` or
``oldest``), else the current one: what a healthy service does.

Hostile behaviours get their own listener: ``stall`` reads the ClientHello and never answers, ``close``
closes at once, ``garbage`` answers bytes that are not TLS, ``huge`` sends a 300-certificate chain (over
OpenSSL's 100 KiB message limit), ``refused`` is a bound port that does not listen. Every connection of
the main listener records what the client sent after its handshake (:attr:`TlsFrontends.after_handshake`):
the probe must send nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from . import wire
from .estate import Estate

HOSTILE = ("stall", "close", "garbage", "huge")
KNOWN = ("current", "older", "oldest", "unrelated", "expired", "refused", "unmapped", *HOSTILE)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One hostname of the estate: the certificate it belongs to and what its frontend does."""

    hostname: str
    vault: str | None
    certificate: str | None
    behaviour: str


def endpoints(estate: Estate) -> Iterator[Endpoint]:
    """Every hostname a service reference of the estate lists (``hostnames`` or API Management's ``host``)."""
    for sub in estate.subscriptions:
        for service in sub.services:
            for ref in _references(service):
                names = list(ref.get("hostnames") or ([ref["host"]] if isinstance(ref.get("host"), str) else []))
                serves = ref.get("serves")
                default = _pinned_behaviour(ref)
                for name in names:
                    if not isinstance(name, str):
                        continue
                    behaviour = serves.get(name, default) if isinstance(serves, Mapping) else serves or default
                    if behaviour not in KNOWN:
                        raise ValueError(f"unknown 'serves' {behaviour!r} for {name}; known: {', '.join(KNOWN)}")
                    yield Endpoint(name, ref.get("vault"), ref.get("certificate"), behaviour)


def _references(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    if "vault" in spec or "hostnames" in spec or "host" in spec:
        yield spec
    for value in spec.values():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    yield from _references(item)


def _pinned_behaviour(ref: Mapping[str, Any]) -> str:
    """What the service holds, as the spec says it: pinned to a version (``version``), bound to a
    thumbprint (``thumbprint``: App Service sites), or reporting one (``served``: Container Apps)."""
    for key in ("version", "thumbprint", "served"):
        if str(ref.get(key)) in ("previous", "oldest"):
            return {"previous": "older", "oldest": "oldest"}[str(ref[key])]
    return "current"


def _mappable(name: str) -> bool:
    return bool(name) and not name.startswith("*") and all(ch.isalnum() or ch in ".-_" for ch in name)


class TlsFrontends:
    """The listeners; start with the fake, stop with it. ``delay`` holds every ServerHello back (bench)."""

    def __init__(self, estate: Estate, *, host: str = "127.0.0.1", delay: float = 0.0) -> None:
        self.estate = estate
        self.host = host
        self.delay = delay
        self.after_handshake: list[tuple[str, bytes]] = []
        self.handshakes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listeners: dict[str, socket.socket] = {}
        self._refused: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._contexts: dict[tuple[str, str], ssl.SSLContext] = {}
        self._index: dict[str, Endpoint] = {}
        self._names: dict[Any, str] = {}  # the SNI each TLS socket asked for, until its handshake is done
        self._dir = Path(tempfile.mkdtemp(prefix="frontends-"))
        self._key_file = self._dir / "leaf-key.pem"
        self._key_file.write_bytes(
            wire.leaf_key().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> TlsFrontends:
        for name in ("main", *HOSTILE):
            sock = socket.create_server((self.host, 0), backlog=1024)
            self._listeners[name] = sock
            thread = threading.Thread(target=self._accept, args=(name, sock), name=f"frontend-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        refused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        refused.bind((self.host, 0))  # bound, never listening: connections are refused
        self._refused = refused
        return self

    def stop(self) -> None:
        self._stop.set()
        for sock in [*self._listeners.values(), *([self._refused] if self._refused else [])]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept(); close() alone does not
            with contextlib.suppress(OSError):
                sock.close()
        with self._lock:
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.close()
        for thread in self._threads:
            thread.join(5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every connection's handler has finished (and recorded what it received)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._open:
                    return
            time.sleep(0.01)

    def port(self, behaviour: str) -> int:
        if behaviour == "refused":
            assert self._refused is not None
            return int(self._refused.getsockname()[1])
        listener = self._listeners[behaviour if behaviour in HOSTILE else "main"]
        return int(listener.getsockname()[1])

    def connect_to(self) -> str:
        """``PROBE_CONNECT_TO`` for every hostname of the estate (``unmapped`` ones and wildcards left out)."""
        entries = {
            e.hostname.lower(): f"{e.hostname.lower()}:443:{self.host}:{self.port(e.behaviour)}"
            for e in endpoints(self.estate)
            if e.behaviour != "unmapped" and _mappable(e.hostname)
        }
        return ",".join(entries.values())

    # ------------------------------------------------------------------ serving

    def _accept(self, kind: str, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._open.add(conn)
            threading.Thread(target=self._serve, args=(kind, conn), daemon=True).start()

    def _serve(self, kind: str, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            if kind == "main":
                self._handshake(conn)
            elif kind == "stall":
                conn.recv(65536)
                self._stop.wait(60)
            elif kind == "garbage":
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" + os.urandom(2048))
            elif kind == "huge":
                self._handshake(conn, context=self._huge_context())
            # "close": nothing, closed below
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                self._open.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _handshake(self, conn: socket.socket, context: ssl.SSLContext | None = None) -> None:
        if self.delay:
            time.sleep(self.delay)
        tls = (context or self._base_context()).wrap_socket(conn, server_side=True)
        with self._lock:
            self.handshakes += 1
            sni = self._names.pop(tls, "")
        # Whatever the client sends after the handshake (an HTTP request, a header, a token) is recorded.
        received = b""
        tls.settimeout(0.5)
        with contextlib.suppress(OSError, ssl.SSLError):
            while chunk := tls.recv(65536):
                received += chunk
        with self._lock:
            self.after_handshake.append((sni, received))

    def _base_context(self) -> ssl.SSLContext:
        """The context of an unknown name, whose SNI callback swaps in the context of the name asked for."""
        context = self._context_for("")
        context.sni_callback = self._by_sni
        return context

    def _by_sni(self, sock: Any, name: str | None, _: ssl.SSLContext) -> None:
        with self._lock:
            self._names[sock] = name or ""
        sock.context = self._context_for(name or "")

    def _context_for(self, sni: str) -> ssl.SSLContext:
        endpoint = self._endpoint(sni)
        behaviour = endpoint.behaviour if endpoint else "unrelated"
        key = (sni, behaviour)
        with self._lock:
            cached = self._contexts.get(key)
        if cached is not None:
            return cached
        der = self._der(endpoint, behaviour, sni)
        path = self._dir / f"cert-{len(self._contexts)}-{threading.get_ident()}.pem"
        path.write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(path, self._key_file)
        with self._lock:
            self._contexts[key] = context
        return context

    def _endpoint(self, sni: str) -> Endpoint | None:
        """The estate's endpoint for an SNI name (its IDN form too); the index is rebuilt when a name is
        missing, so an estate changed by a test is seen, and a thousand names cost one walk, not one each."""
        key = sni.lower()
        for attempt in (1, 2):
            if attempt == 2 or not self._index:
                index: dict[str, Endpoint] = {}  # built aside, then swapped in: readers never see half of it
                for endpoint in endpoints(self.estate):
                    name = endpoint.hostname.lower().rstrip(".")
                    index.setdefault(name, endpoint)
                    with contextlib.suppress(UnicodeError):
                        index.setdefault(name.encode("idna").decode(), endpoint)
                self._index = index
            found = self._index.get(key)
            if found is not None:
                return found
        return None

    def _der(self, endpoint: Endpoint | None, behaviour: str, sni: str) -> bytes:
        if endpoint is None or behaviour in ("unrelated", "expired") or not endpoint.vault or not endpoint.certificate:
            return _other_certificate(sni or "unknown.example", expired=behaviour == "expired")
        certificate = self.estate.vault(endpoint.vault).certificate(endpoint.certificate)
        if certificate is None:
            return _other_certificate(sni, expired=False)
        older = certificate.older_versions
        if behaviour == "older" and older:
            return wire.version_der(certificate, older[-1])
        if behaviour == "oldest" and older:
            return wire.version_der(certificate, older[0])
        return wire.certificate_der(certificate)

    def _huge_context(self) -> ssl.SSLContext:
        with self._lock:
            cached = self._contexts.get(("", "huge"))
        if cached is not None:
            return cached
        leaf = _other_certificate("huge.example", expired=False)
        pem = x509.load_der_x509_certificate(leaf).public_bytes(serialization.Encoding.PEM)
        filler = x509.load_der_x509_certificate(_other_certificate("intermediate.example", expired=False))
        chain = pem + filler.public_bytes(serialization.Encoding.PEM) * 300  # ~150 KiB of chain
        path = self._dir / "huge-chain.pem"
        path.write_bytes(chain)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(path, self._key_file)
        with self._lock:
            self._contexts[("", "huge")] = context
        return context


_UNRELATED_CA = x509.Name(
    [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Unrelated Hosting Ltd"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Unrelated Hosting CA"),
    ]
)
_unrelated_key = ec.generate_private_key(ec.SECP256R1())


def _other_certificate(hostname: str, *, expired: bool) -> bytes:
    """A certificate for the name that is no version of any vault certificate: a hosting provider's
    (``unrelated``), or one that expired ten days ago (``expired``). Same leaf key as the vault's, so one
    key file serves every context."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    not_after = now - dt.timedelta(days=10) if expired else now + dt.timedelta(days=300)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64])])
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(_UNRELATED_CA)
        .public_key(wire.leaf_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - dt.timedelta(days=365))
        .not_valid_after(not_after)
        .sign(_unrelated_key, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.DER)
