"""FakeAzure: Key Vault, Resource Manager and the App Service managed-identity endpoint, over local HTTPS.

One asyncio event loop in one background thread serves everything:

- every vault on its own port of 127.0.0.1 (the certificates SDK rejects ids with a path prefix),
- Resource Manager on another port, all with one TLS context whose server certificate (127.0.0.1,
  localhost) is issued by a ``trustme`` CA written to a PEM file for ``REQUESTS_CA_BUNDLE``,
- the managed-identity endpoint, plain http, on a third kind of port.

Usage::

    with FakeAzure(estate_dict) as azure:
        os.environ.update(azure.env)           # or monkeypatch, see tests/plugins/fake_azure.py
        ...                                    # real SDK clients + DefaultAzureCredential
        azure.requests.where(operation="get_policy")
        azure.patches[("payments-prod-kv", "payments-gateway")]
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import copy
import datetime as dt
import hashlib
import logging
import os
import resource
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import trustme

from . import services, vault_secrets
from .estate import (
    CERTIFICATE_FAULT_OPS,
    ESTATE_FAULT_OPS,
    SERVICE_FAULT_OPS,
    SUBSCRIPTION_FAULT_OPS,
    VAULT_FAULT_OPS,
    Certificate,
    CertificateVersion,
    Estate,
    Fault,
    Json,
    Subscription,
    Vault,
    parse_faults,
)
from .http import ConnectionTracker, Handler, Request, Response, listening_socket
from .tls import TlsFrontends
from .wire import (
    KEYVAULT_RESOURCE,
    KEYVAULT_THROTTLED_MESSAGE,
    PUBLIC_ARM_AUDIENCES,
    arm_error,
    certificate_bundle,
    certificate_item,
    decode_token,
    default_arm_message,
    default_keyvault_message,
    generic_resource,
    keyvault_challenge,
    keyvault_default_inner_code,
    keyvault_error,
    keyvault_skiptoken,
    keyvault_skiptoken_offset,
    mint_token,
    older_version_bundle,
    older_version_item,
    pending_not_found,
    pending_operation,
    policy_json,
    subscription_json,
    vault_resource,
    version_item,
)

logger = logging.getLogger(__name__)

IDENTITY_PATH = "/msi/token"
LIFETIME_ACTION_TYPES = {"autorenew": "AutoRenew", "emailcontacts": "EmailContacts"}
_MAX_THROTTLE_STREAK = 3
_KEYVAULT_DEFAULT_CODES = {400: "BadParameter", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}
_ARM_DEFAULT_CODES = {
    400: "BadRequest",
    401: "AuthenticationFailed",
    403: "AuthorizationFailed",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
}


# --------------------------------------------------------------------------------------------------
# The request log
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake answered. Never holds an Authorization header or token, only its claims.

    ``service``: ``"keyvault"``, ``"arm"`` or ``"identity"``. ``operation``: ``list_certificates``,
    ``get_certificate``, ``get_policy``, ``update_policy``, ``update_certificate``, ``list_versions``,
    ``get_pending``, ``challenge`` (the unauthenticated first request), ``list_subscriptions``, ``get_subscription``,
    ``list_vaults``, ``get_vault``, ``list_resources``, ``token``, ``unauthorized``, ``unknown``.
    ``identity``: ``oid``/``appid``/``tid``/``upn`` claims of the bearer token (or of the token issued).
    """

    service: str
    operation: str
    method: str
    port: int
    path: str
    query: dict[str, str]
    body: Any
    status: int
    vault: str | None = None
    certificate: str | None = None
    subscription_id: str | None = None
    authorized: bool = False
    identity: dict[str, str] | None = None
    audience: str | None = None
    time: float = field(default_factory=time.time)

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")


class RequestLog:
    """A thread-safe, append-only list of ``RecordedRequest``; iteration works on a snapshot."""

    def __init__(self) -> None:
        self._items: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def append(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, index: int) -> RecordedRequest:
        with self._lock:
            return self._items[index]

    def where(self, **criteria: Any) -> list[RecordedRequest]:
        """Requests whose attributes equal every criterion, e.g. ``where(operation="get_policy", vault="x")``."""
        return [r for r in self.snapshot() if all(getattr(r, key) == value for key, value in criteria.items())]


# --------------------------------------------------------------------------------------------------
# TLS: one trustme CA per process (unless a test brings its own), its PEM at a stable path
# --------------------------------------------------------------------------------------------------


@dataclass
class _Tls:
    ca: trustme.CA
    ca_path: Path
    context: ssl.SSLContext


_shared_tls: _Tls | None = None
_shared_tls_lock = threading.Lock()


def _make_tls(ca: trustme.CA, directory: Path) -> _Tls:
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    ca_path = directory / "fakeazure-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return _Tls(ca, ca_path, context)


def shared_tls() -> _Tls:
    """The process-wide CA of the fake; its PEM file lives until the process exits."""
    global _shared_tls
    with _shared_tls_lock:
        if _shared_tls is None:
            directory = Path(tempfile.mkdtemp(prefix="fakeazure-ca-"))
            atexit.register(shutil.rmtree, directory, True)
            _shared_tls = _make_tls(trustme.CA(organization_name="AutoRenew Guard fake Azure"), directory)
        return _shared_tls


def raise_open_files_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit (thousands of vault sockets); returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft if soft != resource.RLIM_INFINITY else target
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


# --------------------------------------------------------------------------------------------------
# FakeAzure
# --------------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """What a synchronous handler decided; the async wrapper sleeps, records and answers."""

    response: Response
    operation: str = "unknown"
    vault: str | None = None
    certificate: str | None = None
    subscription_id: str | None = None
    claims: Json | None = None
    delay: float = 0.0


class FakeAzure:
    """A fake Azure tenant that the real SDK clients talk to unchanged. See the module docstring.

    ``estate``: a scenario dict, a path to one, or an ``Estate``. ``ca``: a ``trustme.CA`` to issue the
    server certificate from (default: one shared by the process). ``identity_header``: the secret
    expected in ``X-IDENTITY-HEADER`` (default: random).
    """

    def __init__(
        self,
        estate: Estate | Mapping[str, Any] | str | Path,
        *,
        ca: trustme.CA | None = None,
        host: str = "127.0.0.1",
        identity_header: str | None = None,
        reject_autorenew_for_unknown_issuer: bool = True,
    ) -> None:
        self.estate = Estate.from_source(estate)
        self.host = host
        self.identity_header = identity_header or secrets.token_urlsafe(24)
        self.reject_autorenew_for_unknown_issuer = reject_autorenew_for_unknown_issuer
        self.lock = threading.RLock()
        self.requests = RequestLog()
        self._patches: dict[tuple[str, str], list[Any]] = {}
        self._own_ca = ca
        self._tls: _Tls | None = None
        self._tempdir: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: dict[str, asyncio.AbstractServer] = {}
        self._connections = ConnectionTracker()
        self._claims_cache: dict[str, Json | None] = {}
        self._attempts: dict[str, int] = {}
        self._throttle_streaks: dict[str, int] = {}
        self.arm_port: int | None = None
        self.identity_port: int | None = None
        # The services' hostnames, answered by SNI over local TLS (ServedCertificate); see tls.py.
        self.frontends = TlsFrontends(self.estate, host=host)

    # ---------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 120.0) -> Self:
        """Open every port and serve in a background thread; returns when all ports listen."""
        if self._loop is not None:
            raise RuntimeError("FakeAzure is already started")
        limit = raise_open_files_limit()
        needed = sum(1 for _ in self.estate.vaults()) + 64
        if limit < needed:
            raise RuntimeError(f"RLIMIT_NOFILE is {limit}; serving this estate needs at least {needed} descriptors")
        if self._own_ca is not None:
            self._tempdir = Path(tempfile.mkdtemp(prefix="fakeazure-"))
            self._tls = _make_tls(self._own_ca, self._tempdir)
        else:
            self._tls = shared_tls()
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=self._run_loop, args=(loop,), name="fake-azure", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._startup(), loop).result(timeout)
            self.frontends.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close every port and connection and end the thread. Safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        self.frontends.stop()
        self._loop = None
        self._thread = None
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _listen(self, key: str, handler: Handler, *, tls: bool) -> int:
        sock = listening_socket(self.host)
        port = int(sock.getsockname()[1])
        assert self._tls is not None
        server = await asyncio.start_server(
            self._connections.serve(handler, port), sock=sock, ssl=self._tls.context if tls else None
        )
        self._servers[key] = server
        return port

    async def _startup(self) -> None:
        self.identity_port = await self._listen("identity", self._handle_identity, tls=False)
        self.arm_port = await self._listen("arm", self._handle_arm, tls=True)
        for vault in list(self.estate.vaults()):
            await self._open_vault(vault)

    async def _open_vault(self, vault: Vault) -> None:
        async def handler(request: Request) -> Response:
            return await self._handle_keyvault(vault, request)

        vault.port = await self._listen(f"vault:{vault.name.lower()}", handler, tls=True)

    async def _close_vault(self, vault: Vault) -> None:
        server = self._servers.pop(f"vault:{vault.name.lower()}", None)
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _shutdown(self) -> None:
        servers = list(self._servers.values())
        self._servers.clear()
        for server in servers:
            server.close()
        self._connections.close_all()
        await asyncio.sleep(0)
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    def _run(self, coroutine: Any, timeout: float = 30.0) -> Any:
        if self._loop is None:
            raise RuntimeError("FakeAzure is not started")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # ---------------------------------------------------------------- addresses and environment

    @property
    def arm_endpoint(self) -> str:
        """``https://127.0.0.1:PORT`` (no trailing slash), the value of ``ARM_ENDPOINT``."""
        self._require_started()
        return f"https://{self.host}:{self.arm_port}"

    @property
    def identity_endpoint(self) -> str:
        self._require_started()
        return f"http://{self.host}:{self.identity_port}{IDENTITY_PATH}"

    @property
    def ca_path(self) -> Path:
        self._require_started()
        assert self._tls is not None
        return self._tls.ca_path

    @property
    def ca(self) -> trustme.CA:
        """The CA behind the server certificate (issue more certificates from it to share one bundle)."""
        return self._own_ca or shared_tls().ca

    @property
    def env(self) -> dict[str, str]:
        """The variables that point the production code (and ``DefaultAzureCredential``) at this fake."""
        no_proxy = [p for p in (os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "").split(",") if p]
        no_proxy += [h for h in ("127.0.0.1", "localhost") if h not in no_proxy]
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
            "ARM_ENDPOINT": self.arm_endpoint,
            "KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false",
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
            "NO_PROXY": ",".join(no_proxy),
            # DefaultAzureCredential then tries managed identity only: a refused token never falls
            # through to a developer's `az login` (and a real tenant).
            "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
            # Every hostname the estate's services list goes to the local frontends, SNI unchanged.
            "PROBE_CONNECT_TO": self.frontends.connect_to(),
        }

    def connections_opened(self, vault: str) -> int:
        """How many TCP connections clients have opened to the vault's port since the fake started."""
        port = self.estate.vault(vault).port
        return self._connections.opened[port] if port is not None else 0

    def vault_uri(self, name: str) -> str:
        """``https://127.0.0.1:PORT/``: the vault's ``properties.vaultUri`` (with the trailing slash)."""
        vault = self.estate.vault(name)
        if vault.port is None:
            raise RuntimeError(f"vault {name} has no port yet: start the fake first")
        return f"https://{self.host}:{vault.port}/"

    def certificate_id(self, vault: str, name: str) -> str:
        """The versionless certificate id, as the list call gives it."""
        return f"{self.vault_uri(vault)}certificates/{name}"

    def _require_started(self) -> None:
        if self.arm_port is None:
            raise RuntimeError("FakeAzure is not started")

    # ---------------------------------------------------------------- inspection

    @property
    def patches(self) -> dict[tuple[str, str], list[Any]]:
        """PATCH policy bodies received, keyed by (vault name, certificate name) as in the estate."""
        with self.lock:
            return {key: list(bodies) for key, bodies in self._patches.items()}

    @property
    def token_requests(self) -> list[RecordedRequest]:
        return self.requests.where(service="identity")

    def certificate(self, vault: str, name: str) -> Certificate:
        """The live model of a certificate; change it under ``with azure.lock:``."""
        certificate = self.estate.vault(vault).certificate(name)
        if certificate is None:
            raise KeyError(f"no certificate {name!r} in vault {vault!r}")
        return certificate

    def policy(self, vault: str, name: str) -> Json | None:
        """A copy of the stored policy of a certificate (REST shape)."""
        with self.lock:
            return copy.deepcopy(self.certificate(vault, name).policy)

    # ---------------------------------------------------------------- mutation between scans

    def set_policy(self, vault: str, name: str, policy: Mapping[str, Any] | None) -> None:
        with self.lock:
            certificate = self.certificate(vault, name)
            certificate.policy = copy.deepcopy(dict(policy)) if policy is not None else None
            certificate.policy_updated_on = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def update_certificate(
        self,
        vault: str,
        name: str,
        *,
        enabled: bool | None = None,
        tags: Mapping[str, str] | None = None,
        expires_in_days: float | None = None,
        not_before_days_ago: float | None = None,
    ) -> None:
        """Change a certificate's attributes (a new expiry is what a successful renewal looks like)."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        with self.lock:
            certificate = self.certificate(vault, name)
            previous_not_before, previous_expires_on = certificate.not_before, certificate.expires_on
            if enabled is not None:
                certificate.enabled = enabled
            if tags is not None:
                certificate.tags = dict(tags)
            if not_before_days_ago is not None:
                certificate.not_before = now - dt.timedelta(days=not_before_days_ago)
            if expires_in_days is not None:
                certificate.expires_on = now + dt.timedelta(days=expires_in_days)
            if not_before_days_ago is not None or expires_in_days is not None:
                # A renewal: the version that was current becomes an older one (services may pin it).
                certificate.older_versions.append(
                    CertificateVersion(
                        version=certificate.version,
                        enabled=certificate.enabled,
                        not_before=previous_not_before,
                        expires_on=previous_expires_on,
                        created_on=certificate.created_on,
                        thumbprint=certificate.thumbprint,
                        der=certificate.der,
                    )
                )
                certificate.created_on = now
                certificate.der = None
                certificate.thumbprint = None
                certificate.version = secrets.token_hex(16)
            certificate.updated_on = now

    def add_certificate(self, vault: str, spec: Mapping[str, Any]) -> None:
        with self.lock:
            target = self.estate.vault(vault)
            target.add(
                Certificate.from_spec(spec, target.name, dt.datetime.now(dt.UTC), self.estate.synthetic_thumbprints)
            )

    def remove_certificate(self, vault: str, name: str) -> None:
        with self.lock:
            self.estate.vault(vault).remove(name)

    def set_fault(self, vault: str, op: str, spec: Mapping[str, Any] | None, *, certificate: str | None = None) -> None:
        """Set (or with ``None`` clear) a vault fault (``any``, ``list``, ``list_page``, ``policy``, ``get``,
        ``patch``, ``update``, ``versions``) or, with ``certificate``, a certificate fault."""
        with self.lock:
            target = self.certificate(vault, certificate) if certificate else self.estate.vault(vault)
            ops = CERTIFICATE_FAULT_OPS if certificate else VAULT_FAULT_OPS
            self._set_fault(target.faults, ops, op, spec)

    def set_subscription_fault(self, subscription_id: str, op: str, spec: Mapping[str, Any] | None) -> None:
        """``vaults`` (listing its vaults) or ``get``."""
        with self.lock:
            sub = self.estate.subscription(subscription_id)
            if sub is None:
                raise KeyError(subscription_id)
            self._set_fault(sub.faults, SUBSCRIPTION_FAULT_OPS + SERVICE_FAULT_OPS, op, spec)

    def set_estate_fault(self, op: str, spec: Mapping[str, Any] | None) -> None:
        """``subscriptions`` (listing subscriptions) or ``token`` (the managed-identity endpoint)."""
        with self.lock:
            self._set_fault(self.estate.faults, ESTATE_FAULT_OPS, op, spec)

    @staticmethod
    def _set_fault(faults: dict[str, Fault], ops: tuple[str, ...], op: str, spec: Mapping[str, Any] | None) -> None:
        if op not in ops:
            raise ValueError(f"unknown fault operation {op!r}; known: {list(ops)}")
        if spec is None:
            faults.pop(op, None)
        else:
            faults.update(parse_faults({op: spec}, ops, op))

    def add_vault(self, subscription_id: str, spec: Mapping[str, Any]) -> str:
        """Add a vault (a new port) to a subscription while running; returns its URI."""
        with self.lock:
            sub = self.estate.subscription(subscription_id)
            if sub is None:
                raise KeyError(subscription_id)
            vault = Vault.from_spec(
                spec, sub.subscription_id, dt.datetime.now(dt.UTC), self.estate.synthetic_thumbprints
            )
            self.estate.add_vault(sub, vault)
        self._run(self._open_vault(vault))
        return self.vault_uri(vault.name)

    def remove_vault(self, name: str) -> None:
        """Remove a vault from the estate and close its port."""
        with self.lock:
            vault = self.estate.remove_vault(name)
        self._run(self._close_vault(vault))

    # ---------------------------------------------------------------- shared request plumbing

    def _claims(self, request: Request) -> Json | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        token = token.strip()
        if token not in self._claims_cache:
            if len(self._claims_cache) > 10_000:
                self._claims_cache.clear()
            self._claims_cache[token] = decode_token(token)
        return self._claims_cache[token]

    async def _finish(self, service: str, request: Request, outcome: _Outcome) -> Response:
        if outcome.delay > 0:
            await asyncio.sleep(outcome.delay)
        claims = outcome.claims
        identity = None
        if claims is not None:
            identity = {key: str(claims[key]) for key in ("oid", "appid", "tid", "upn") if claims.get(key) is not None}
        self.requests.append(
            RecordedRequest(
                service=service,
                operation=outcome.operation,
                method=request.method,
                port=request.port,
                path=request.path,
                query=dict(request.query),
                body=request.recorded_body(),
                status=outcome.response.status,
                vault=outcome.vault,
                certificate=outcome.certificate,
                subscription_id=outcome.subscription_id,
                authorized=claims is not None and service != "identity",
                identity=identity,
                audience=str(claims["aud"]) if claims else None,
            )
        )
        return outcome.response

    def _fault_response(
        self, fault: Fault, service: str, message: Callable[[int, str], str], *, inner_code: str | None = None
    ) -> Response:
        if fault.drop:
            return Response(0, drop=True)
        status = fault.response_status
        headers: list[tuple[str, str]] = [("x-ms-request-id", secrets.token_hex(16))]
        if fault.retry_after is not None:
            value = fault.retry_after
            headers.append(("Retry-After", str(int(value)) if float(value).is_integer() else str(value)))
        if fault.body is not None:
            return Response(
                status, fault.body.encode(), [("Content-Type", "application/json; charset=utf-8"), *headers]
            )
        if service == "arm":
            code = fault.code or _ARM_DEFAULT_CODES.get(status, "InternalServerError")
            return Response.json(
                status, arm_error(code, fault.message or message(status, code), fault.inner_code), headers
            )
        code = fault.code or _KEYVAULT_DEFAULT_CODES.get(status, "Throttled" if status == 429 else "InternalError")
        payload = keyvault_error(code, fault.message or message(status, code), inner_code or fault.inner_code)
        return Response.json(status, payload, headers)

    @staticmethod
    def _fire(fault: Fault | None, outcome: _Outcome) -> bool:
        """Consume a fault occurrence; True when it makes this request fail (a delay is added either way)."""
        if fault is None or not fault.fire():
            return False
        outcome.delay += fault.delay_ms / 1000
        return fault.fails

    @staticmethod
    def _offset(query: Mapping[str, str]) -> int | None:
        token = query.get("$skiptoken", "0") or "0"
        return int(token) if token.isdigit() else None

    # ---------------------------------------------------------------- managed identity

    async def _handle_identity(self, request: Request) -> Response:
        with self.lock:
            outcome = self._identity(request)
        return await self._finish("identity", request, outcome)

    def _identity(self, request: Request) -> _Outcome:
        def refuse(status: int, message: str) -> _Outcome:
            body = {"statusCode": status, "message": message, "correlationId": secrets.token_hex(16)}
            return _Outcome(Response.json(status, body), operation="token")

        if request.path != IDENTITY_PATH or request.method != "GET":
            return refuse(404, f"No endpoint {request.method} {request.path}.")
        if not secrets.compare_digest(request.headers.get("x-identity-header", ""), self.identity_header):
            return refuse(401, "The X-IDENTITY-HEADER request header is missing or does not match IDENTITY_HEADER.")
        resource_param = request.query.get("resource", "")
        if not resource_param:
            return refuse(400, "The query parameter 'resource' is required.")
        outcome = _Outcome(Response(200), operation="token")
        fault = self.estate.faults.get("token")
        if self._fire(fault, outcome):
            assert fault is not None
            if fault.drop:
                outcome.response = Response(0, drop=True)
            elif fault.body is not None:
                outcome.response = Response.text(fault.response_status, fault.body)
            else:
                outcome.response = refuse(fault.response_status, fault.message or "Token request failed.").response
            return outcome
        token, expires = mint_token(self.estate, resource_param, request.query.get("client_id"))
        claims = decode_token(token)
        assert claims is not None
        outcome.claims = claims
        outcome.response = Response.json(
            200,
            {
                "access_token": token,
                "expires_on": str(expires),
                "resource": resource_param,
                "token_type": "Bearer",
                "client_id": claims["appid"],
            },
        )
        return outcome

    # ---------------------------------------------------------------- Resource Manager

    async def _handle_arm(self, request: Request) -> Response:
        if self.estate.latency_ms:
            await asyncio.sleep(self.estate.latency_ms / 1000)
        with self.lock:
            outcome = self._arm(request)
        return await self._finish("arm", request, outcome)

    def _arm_audiences(self) -> set[str]:
        return {self.arm_endpoint.rstrip("/").lower(), *PUBLIC_ARM_AUDIENCES}

    def _arm(self, request: Request) -> _Outcome:
        claims = self._claims(request)
        headers = [("x-ms-request-id", secrets.token_hex(16))]
        if claims is None:
            message = (
                "Authentication failed. The 'Authorization' header is missing."
                if "authorization" not in request.headers
                else "The access token is invalid."
            )
            code = "AuthenticationFailed" if "authorization" not in request.headers else "InvalidAuthenticationToken"
            challenge = 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"'
            response = Response.json(401, arm_error(code, message), [("WWW-Authenticate", challenge), *headers])
            return _Outcome(response, operation="unauthorized")
        audience = str(claims["aud"]).rstrip("/").lower()
        if audience not in self._arm_audiences():
            message = (
                f"The access token has been obtained for wrong audience or resource '{claims['aud']}'. It should "
                f"exactly match with one of the allowed audiences '{self.arm_endpoint}/', "
                "'https://management.azure.com/', 'https://management.core.windows.net/'."
            )
            response = Response.json(401, arm_error("InvalidAuthenticationTokenAudience", message), headers)
            return _Outcome(response, operation="unauthorized", claims=claims)

        parts = [p for p in request.path.split("/") if p]
        lower = [p.lower() for p in parts]
        outcome = _Outcome(Response(200), claims=claims)
        if request.method != "GET":
            outcome.response = Response.json(
                405, arm_error("MethodNotAllowed", f"The fake supports GET only, not {request.method}."), headers
            )
            return outcome
        if lower == ["subscriptions"]:
            outcome.operation = "list_subscriptions"
            fault = self.estate.faults.get("subscriptions")
            if self._fire(fault, outcome):
                assert fault is not None
                outcome.response = self._fault_response(
                    fault, "arm", lambda s, c: default_arm_message(s, c, "/subscriptions", claims)
                )
                return outcome
            items = [subscription_json(s) for s in self.estate.subscriptions]
            outcome.response = self._arm_page(request, items, self.estate.subscription_page_size, "$top")
            return outcome
        if len(lower) < 2 or lower[0] != "subscriptions":
            outcome.response = self._arm_not_found(request)
            return outcome

        sub = self.estate.subscription(parts[1])
        outcome.subscription_id = parts[1]
        rest = lower[2:]
        outcome.operation = {
            (): "get_subscription",
            ("providers", "microsoft.keyvault", "vaults"): "list_vaults",
            ("resources",): "list_resources",
        }.get(tuple(rest), "unknown")
        if (
            len(rest) in (5, 6)
            and rest[0] == "resourcegroups"
            and rest[2:5] == ["providers", "microsoft.keyvault", "vaults"]
        ):
            outcome.operation = "list_vaults" if len(rest) == 5 else "get_vault"
        outcome.operation = services.arm_operation(rest) or outcome.operation
        if outcome.operation == "unknown":
            outcome.response = self._arm_not_found(request)
            return outcome
        if sub is None:
            message = f"The subscription '{parts[1]}' could not be found."
            outcome.response = Response.json(404, arm_error("SubscriptionNotFound", message), headers)
            return outcome
        if outcome.operation in services.OPERATIONS:
            outcome.response = services.respond(self, sub, rest, request, outcome)
            return outcome
        fault = sub.faults.get("get" if outcome.operation == "get_subscription" else "vaults")
        if self._fire(fault, outcome):
            assert fault is not None
            scope = f"/subscriptions/{sub.subscription_id}"
            outcome.response = self._fault_response(fault, "arm", lambda s, c: default_arm_message(s, c, scope, claims))
            return outcome
        if outcome.operation == "get_subscription":
            outcome.response = Response.json(200, subscription_json(sub), headers)
        elif outcome.operation == "list_resources":
            flt = request.query.get("$filter", "").lower()
            vaults = sub.vaults if (not flt or "microsoft.keyvault/vaults" in flt) else []
            items = [generic_resource(v) for v in vaults]
            outcome.response = self._arm_page(request, items, self.estate.vault_page_size, "$top")
        else:
            vaults = self._vaults_in(sub, parts[3] if len(rest) >= 5 else None)
            if outcome.operation == "get_vault":
                found = [v for v in vaults if v.name.lower() == rest[5]]
                if not found:
                    message = (
                        f"The Resource 'Microsoft.KeyVault/vaults/{parts[7]}' under resource group "
                        f"'{parts[3]}' was not found."
                    )
                    outcome.response = Response.json(404, arm_error("ResourceNotFound", message), headers)
                else:
                    outcome.vault = found[0].name
                    outcome.response = Response.json(200, self._vault_json(found[0]), headers)
            else:
                items = [self._vault_json(v) for v in vaults]
                outcome.response = self._arm_page(request, items, self.estate.vault_page_size, "$top")
        return outcome

    @staticmethod
    def _vaults_in(sub: Subscription, resource_group: str | None) -> list[Vault]:
        if resource_group is None:
            return list(sub.vaults)
        return [v for v in sub.vaults if v.resource_group.lower() == resource_group.lower()]

    def _vault_json(self, vault: Vault) -> Json:
        return vault_resource(vault, self.vault_uri(vault.name), self.estate.tenant_id)

    def _arm_not_found(self, request: Request) -> Response:
        message = f"No HTTP resource was found that matches the request URI '{request.path}'."
        return Response.json(404, arm_error("NotFound", message))

    def _arm_page(self, request: Request, items: list[Json], page_size: int, top_param: str) -> Response:
        offset = self._offset(request.query)
        if offset is None:
            return Response.json(400, arm_error("InvalidSkipToken", "The $skiptoken is not valid."))
        size = max(1, page_size)
        top = request.query.get(top_param, "")
        if top.isdigit() and int(top) > 0:
            size = min(size, int(top))
        page = items[offset : offset + size]
        payload: Json = {"value": page}
        if offset + size < len(items):
            api = request.query.get("api-version", "")
            link = f"{self.arm_endpoint}{request.path}?api-version={api}&$skiptoken={offset + size}"
            if top:
                link += f"&{top_param}={top}"
            payload["nextLink"] = link
        return Response.json(200, payload, [("x-ms-request-id", secrets.token_hex(16))])

    # ---------------------------------------------------------------- Key Vault data plane

    async def _handle_keyvault(self, vault: Vault, request: Request) -> Response:
        latency = vault.latency_ms if vault.latency_ms is not None else self.estate.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        with self.lock:
            outcome = self._keyvault(vault, request)
        return await self._finish("keyvault", request, outcome)

    def _keyvault_headers(self) -> list[tuple[str, str]]:
        return [
            ("Cache-Control", "no-cache"),
            ("x-ms-request-id", secrets.token_hex(16)),
            ("x-ms-keyvault-service-version", "1.9.2700.1"),
            ("x-ms-keyvault-network-info", "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;"),
        ]

    def _keyvault(self, vault: Vault, request: Request) -> _Outcome:
        headers = self._keyvault_headers()
        base = self.vault_uri(vault.name)
        parts = [p for p in request.path.split("/") if p]
        name = parts[1] if len(parts) >= 2 and parts[0].lower() == "certificates" else None
        outcome = _Outcome(Response(200), vault=vault.name, certificate=name)

        claims = self._claims(request)
        if claims is None or str(claims["aud"]).rstrip("/").lower() != KEYVAULT_RESOURCE:
            if claims is None and "authorization" not in request.headers:
                message, outcome.operation = "AKV10000: Request is missing a Bearer or PoP token.", "challenge"
            elif claims is None:
                message, outcome.operation = "AKV10032: Invalid issuer.", "unauthorized"
            else:
                message = f"AKV10022: Invalid audience. Expected {KEYVAULT_RESOURCE}, found: {claims['aud']}."
                outcome.operation = "unauthorized"
            challenge = ("WWW-Authenticate", keyvault_challenge(self.estate.tenant_id))
            outcome.response = Response.json(401, keyvault_error("Unauthorized", message), [challenge, *headers])
            return outcome
        outcome.claims = claims

        if parts and parts[0].lower() == "secrets":
            outcome.certificate = parts[1] if len(parts) >= 2 else None
            outcome.response = vault_secrets.respond(self, vault, parts, request, outcome, headers=headers)
            return outcome

        method = request.method
        tail = [p.lower() for p in parts[2:]]
        operation, fault_op = {
            ("GET", 1, ""): ("list_certificates", "list"),
            ("GET", 2, ""): ("get_certificate", "get"),
            ("PATCH", 2, ""): ("update_certificate", "update"),
            ("GET", 3, "policy"): ("get_policy", "policy"),
            ("PATCH", 3, "policy"): ("update_policy", "patch"),
            ("GET", 3, "versions"): ("list_versions", "versions"),
            ("GET", 3, "pending"): ("get_pending", "pending"),
        }.get((method, len(parts), tail[0] if tail else ""), ("unknown", ""))
        if parts and parts[0].lower() == "certificates" and len(parts) == 3 and method == "GET" and not fault_op:
            operation, fault_op = "get_certificate", "get"  # a specific version
        outcome.operation = operation
        if not parts or parts[0].lower() != "certificates" or not fault_op:
            status = 405 if parts and parts[0].lower() == "certificates" and len(parts) <= 3 else 404
            code = "MethodNotAllowed" if status == 405 else "NotFound"
            message = f"The fake Key Vault does not serve {method} {request.path}."
            outcome.response = Response.json(status, keyvault_error(code, message), headers)
            return outcome

        def failure(fault: Fault) -> Response:
            inner = self._keyvault_inner_code(vault, fault)
            return self._fault_response(
                fault,
                "keyvault",
                lambda s, c: default_keyvault_message(s, c, inner, vault, claims),
                inner_code=inner,
            )

        throttled = self._throttle(vault, request)
        if throttled is not None:
            outcome.response = throttled
            return outcome
        any_fault = vault.faults.get("any")
        if self._fire(any_fault, outcome):
            assert any_fault is not None
            outcome.response = failure(any_fault)
            return outcome

        if operation == "list_certificates":
            offset = self._keyvault_offset(request.query)
            if offset is None:
                message = "The $skiptoken is not valid."
                outcome.response = Response.json(400, keyvault_error("BadParameter", message), headers)
                return outcome
            size = self._list_page_size(vault, request)
            page_number = offset // size + 1
            list_fault = vault.faults.get("list") if offset == 0 else vault.faults.get("list_page")
            if list_fault is not None and offset > 0 and list_fault.page not in (None, page_number):
                list_fault = None
            if list_fault is not None and offset == 0 and list_fault.page not in (None, 1):
                list_fault = None
            if self._fire(list_fault, outcome):
                assert list_fault is not None
                outcome.response = failure(list_fault)
                return outcome
            outcome.response = self._list_certificates(vault, request, base, (offset, size), headers)
            return outcome

        # The current version's bundle carries the policy (certificate_bundle): a fault on reading the policy
        # fails the bundle too, as one permission (certificates/get) guards both on the real service.
        fault_ops = (fault_op, "policy") if operation == "get_certificate" and len(parts) == 2 else (fault_op,)
        for vault_fault in (vault.faults.get(op) for op in fault_ops):
            if self._fire(vault_fault, outcome):
                assert vault_fault is not None
                outcome.response = failure(vault_fault)
                return outcome
        assert name is not None
        certificate = vault.certificate(name)
        if certificate is None or (
            operation == "get_certificate"
            and len(parts) == 3
            and parts[2].lower() != certificate.version.lower()
            and certificate.version_named(parts[2]) is None
        ):
            message = (
                f"A certificate with (name/id) {name} was not found in this key vault. If you recently deleted "
                "this certificate you may be able to recover it using the correct recovery command. For help "
                "resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
            )
            outcome.response = Response.json(404, keyvault_error("CertificateNotFound", message), headers)
            return outcome
        outcome.certificate = certificate.name
        if operation == "update_policy":
            # Recorded once it reached the vault authorised, even if a fault refuses it below.
            body = request.recorded_body()
            self._patches.setdefault((vault.name, certificate.name), []).append(body)
        for fault in (certificate.faults.get("any"), *(certificate.faults.get(op) for op in fault_ops)):
            if self._fire(fault, outcome):
                assert fault is not None
                outcome.response = failure(fault)
                return outcome

        if operation == "get_certificate" and len(parts) == 3 and certificate.version_named(parts[2]) is not None:
            older = certificate.version_named(parts[2])
            assert older is not None
            outcome.response = Response.json(200, older_version_bundle(base, certificate, older), headers)
        elif operation == "get_certificate":
            outcome.response = Response.json(200, certificate_bundle(base, certificate), headers)
        elif operation == "list_versions":
            outcome.response = self._list_versions(vault, certificate, request, base, headers)
        elif operation == "get_policy":
            rendered = policy_json(base, certificate)
            if rendered is None:
                message = f"Policy for certificate {certificate.name} was not found."
                outcome.response = Response.json(404, keyvault_error("PolicyNotFound", message), headers)
            else:
                outcome.response = Response.json(200, rendered, headers)
        elif operation == "get_pending":
            outcome.response = self._pending(base, certificate, headers)
        elif operation == "update_policy":
            outcome.response = self._update_policy(base, certificate, request, headers)
        else:
            outcome.response = self._update_certificate(base, certificate, request, headers)
        return outcome

    def _list_versions(
        self, vault: Vault, certificate: Certificate, request: Request, base: str, headers: list[tuple[str, str]]
    ) -> Response:
        """``GET /certificates/{name}/versions``: every version, oldest first, paged like the certificate list."""
        offset = self._offset(request.query)
        if offset is None:
            return Response.json(400, keyvault_error("BadParameter", "The $skiptoken is not valid."), headers)
        size = self._list_page_size(vault, request)
        synthetic = self.estate.synthetic_thumbprints
        items = [older_version_item(base, certificate, v, synthetic) for v in certificate.older_versions]
        items.append(version_item(base, certificate))
        # Paged as the certificate list (recording test_list_certificate_versions[7.3].json, named in wire.py):
        # once paging started, an empty last page follows the last items.
        page = items[offset : offset + size]
        payload: Json = {"value": page, "nextLink": None}
        if self._keyvault_has_next_page(offset, size, len(page), len(items)):
            api = request.query.get("api-version", "")
            link_base = f"{vault.next_link_base}/" if vault.next_link_base else base  # a test's hostile link
            payload["nextLink"] = (
                f"{link_base}certificates/{certificate.name}/versions?api-version={api}&$skiptoken={offset + size}"
            )
        return Response.json(200, payload, headers)

    def _list_page_size(self, vault: Vault, request: Request) -> int:
        """The vault's page size (or the estate's), lowered by the client's ``maxresults``."""
        size = max(1, vault.page_size or self.estate.page_size)
        maxresults = request.query.get("maxresults", "")
        if maxresults.isdigit() and int(maxresults) > 0:
            size = min(size, int(maxresults))
        return size

    def _list_certificates(
        self, vault: Vault, request: Request, base: str, page: tuple[int, int], headers: list[tuple[str, str]]
    ) -> Response:
        offset, size = page
        certificates = vault.sorted_certificates()
        items = certificates[offset : offset + size]
        payload: Json = {"value": [certificate_item(base, c) for c in items], "nextLink": None}
        if self._keyvault_has_next_page(offset, size, len(items), len(certificates)):
            payload["nextLink"] = self._keyvault_next_link(vault, request, offset + len(items), size)
        return Response.json(200, payload, headers)

    # ---------------------------------------------------------------- Key Vault paging as the real service pages
    # From the recorded live traffic (azure-sdk-for-python, sdk/keyvault/azure-keyvault-certificates/tests/
    # recordings/test_certificates_client.pyTestCertificateClienttest_list[7.3].json): a ``nextLink`` like
    # ``https://vaultname.vault.azure.net:443/certificates?api-version=7.3&$skiptoken=<opaque>&maxresults=6``
    # (explicit port, opaque token, maxresults), and after the last items one more page
    # ``{"value": [], "nextLink": null}``.

    @staticmethod
    def _keyvault_has_next_page(offset: int, size: int, returned: int, total: int) -> bool:
        """A link after every non-empty page except a lone first page that did not fill up: paging
        that started goes on to an empty last page."""
        if returned == 0:
            return False
        return offset + returned < total or offset > 0 or returned == size

    def _keyvault_next_link(self, vault: Vault, request: Request, offset: int, size: int) -> str:
        api = request.query.get("api-version", "")
        maxresults = request.query.get("maxresults") or str(size)
        base = vault.next_link_base or f"https://{self.host}:{vault.port}"
        return f"{base}/certificates?api-version={api}&$skiptoken={keyvault_skiptoken(offset)}&maxresults={maxresults}"

    @staticmethod
    def _keyvault_offset(query: Mapping[str, str]) -> int | None:
        token = query.get("$skiptoken", "")
        return 0 if not token else keyvault_skiptoken_offset(token)

    @staticmethod
    def _keyvault_inner_code(vault: Vault, fault: Fault) -> str | None:
        """The fault's inner code, or for a bare 403 the one the real service would send."""
        if fault.inner_code or fault.body is not None or fault.drop:
            return fault.inner_code
        if fault.response_status == 403 and fault.code in (None, "Forbidden"):
            return keyvault_default_inner_code(vault)
        return None

    def _throttle(self, vault: Vault, request: Request) -> Response | None:
        """Deterministic throttling: a draw per (request, attempt), independent of arrival order."""
        ratio = self.estate.throttle_ratio
        if ratio <= 0:
            return None
        key = f"{vault.name}|{request.method}|{request.path}|{request.query.get('$skiptoken', '')}"
        attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
        streak = self._throttle_streaks.get(key, 0)
        digest = hashlib.blake2b(f"{self.estate.seed}|{key}|{attempt}".encode(), digest_size=8).digest()
        draw = int.from_bytes(digest, "big") / 2**64
        if draw >= ratio or streak >= _MAX_THROTTLE_STREAK:
            self._throttle_streaks[key] = 0
            return None
        self._throttle_streaks[key] = streak + 1
        # As Key Vault throttles: 429 Throttled without Retry-After (vcsjones/AzureSignTool#219).
        return Response.json(429, keyvault_error("Throttled", KEYVAULT_THROTTLED_MESSAGE), self._keyvault_headers())

    def _pending(self, base: str, certificate: Certificate, headers: list[tuple[str, str]]) -> Response:
        """The certificate's pending operation, or 404 ``PendingCertificateNotFound`` when it has none."""
        operation = pending_operation(base, certificate)
        if operation is None:
            return Response.json(404, pending_not_found(certificate.name), headers)
        return Response.json(200, operation, headers)

    def _bad_parameter(self, message: str, headers: list[tuple[str, str]]) -> Response:
        return Response.json(400, keyvault_error("BadParameter", message), headers)

    def _update_policy(
        self, base: str, certificate: Certificate, request: Request, headers: list[tuple[str, str]]
    ) -> Response:
        try:
            body = request.json()
        except ValueError:
            return self._bad_parameter("The request body is not valid JSON.", headers)
        if not isinstance(body, dict):
            return self._bad_parameter("The policy must be a JSON object.", headers)
        stored = certificate.policy if isinstance(certificate.policy, dict) else {}
        merged = merge_policy(stored, body)
        problem = self._policy_problem(merged)
        if problem:
            return self._bad_parameter(problem, headers)
        certificate.policy = merged
        certificate.policy_updated_on = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return Response.json(200, policy_json(base, certificate), headers)

    def _policy_problem(self, policy: Json) -> str | None:
        """What real Key Vault would refuse in a merged policy (the checks a remediation can trip on)."""
        actions = policy.get("lifetime_actions") or []
        if not isinstance(actions, list):
            return "lifetime_actions must be an array."
        issuer = policy.get("issuer") if isinstance(policy.get("issuer"), dict) else {}
        issuer_name = str(issuer.get("name") or "") if issuer else ""
        for action in actions:
            if not isinstance(action, dict):
                return "Each lifetime action must be an object."
            action_type = str((action.get("action") or {}).get("action_type") or "")
            if action_type.lower() not in LIFETIME_ACTION_TYPES:
                return f"Invalid lifetime action type '{action_type}'. Valid values are AutoRenew, EmailContacts."
            trigger = action.get("trigger") or {}
            set_fields = [k for k in ("days_before_expiry", "lifetime_percentage") if trigger.get(k) is not None]
            if len(set_fields) != 1:
                return "A lifetime action trigger needs exactly one of days_before_expiry and lifetime_percentage."
            percentage = trigger.get("lifetime_percentage")
            if percentage is not None and not (isinstance(percentage, int) and 1 <= percentage <= 99):
                return "lifetime_percentage must be an integer between 1 and 99."
            days = trigger.get("days_before_expiry")
            if days is not None and not (isinstance(days, int) and days >= 1):
                return "days_before_expiry must be a positive integer."
            if (
                self.reject_autorenew_for_unknown_issuer
                and action_type.lower() == "autorenew"
                and issuer_name.lower() == "unknown"
            ):
                return (
                    "Lifetime action AutoRenew is not supported for a certificate whose issuer is Unknown; "
                    "Key Vault cannot renew a certificate from a CA it is not partnered with."
                )
        return None

    def _update_certificate(
        self, base: str, certificate: Certificate, request: Request, headers: list[tuple[str, str]]
    ) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            return self._bad_parameter("The request body is not valid JSON.", headers)
        if not isinstance(body, dict):
            return self._bad_parameter("The request body must be a JSON object.", headers)
        attributes = body.get("attributes") or {}
        if isinstance(attributes, dict) and attributes.get("enabled") is not None:
            certificate.enabled = bool(attributes["enabled"])
        if isinstance(body.get("tags"), dict):
            certificate.tags = {str(k): str(v) for k, v in body["tags"].items()}
        if isinstance(body.get("policy"), dict):
            certificate.policy = merge_policy(certificate.policy or {}, body["policy"])
        certificate.updated_on = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return Response.json(200, certificate_bundle(base, certificate), headers)


def merge_policy(stored: Mapping[str, Any], patch: Mapping[str, Any]) -> Json:
    """PATCH semantics: objects merge key by key, arrays and scalars replace, ``null`` and ``id`` are ignored.

    Returns a new dict (stored policies may be shared between certificates and are never changed in place).
    """
    result: Json = dict(stored)
    for key, value in patch.items():
        if key == "id" or value is None:
            continue
        current = result.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            result[key] = merge_policy(current, value)
        else:
            result[key] = copy.deepcopy(value)
    return result
