"""Certificates and policies of one vault, mapped into the app's records.

This is the only module that touches the Key Vault data plane. It reads each certificate's properties
from the list call and its issuance policy with one GET per certificate (the list carries no policy), a
bounded number of GETs in flight per vault. Throttling (429, with or without Retry-After) and 5xx are
retried by the client's retry policy (``shared.azure.clients.ThrottlingRetryPolicy``); what still fails becomes
a :class:`ReadError` on that certificate, so one bad certificate never stops its vault and one bad vault
never stops the scan. A certificate whose renewal looks stuck costs one more GET, of its pending
operation, to say why (:func:`read_pending_operations`); remediation reads a version's X.509 issuer here
too (:func:`ca_that_issued`).

Every request goes through the ``CertificateClient``'s own pipeline (``send_request``: the challenge and
token, retries honouring Retry-After, the shared connection pool), but the JSON is read here rather than
by the SDK's models: that deserialisation was about 30 % of the scan's CPU (docs/BENCHMARKS.md). It is
also more tolerant: an action type the SDK's enum does not know, or a trigger that is neither days nor
a percentage, is kept with its raw value (the rules call it ``not_assessed`` and say what it is) instead
of failing the read, and a list item with malformed attributes is ``not_assessed`` instead of breaking
its vault. A policy that cannot be read at all is the certificate's ``policy_error``: its expiry, from
the list, is still judged.

Service text is untrusted: every parsed body and error message is cleaned (``shared.text``) here, where
it enters the app, so no later step (a terminal, an HTTP body, Table Storage, a chat card) can fail on
a lone surrogate or be misled by a control character.

Vault hosts are checked here too (:func:`untrusted_vault_host`, :func:`list_certificates`): a vault URI comes
from Resource Manager and a ``nextLink`` from the vault itself, and either one decides where the next
bearer token goes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.rest import HttpRequest
from azure.keyvault.certificates import CertificateClient
from azure.keyvault.certificates.aio import CertificateClient as AsyncCertificateClient

from shared import x509
from shared.azure.aio import EventLoopThread

# Re-exported: callers import these from here, where the reads are.
from shared.azure.kverrors import MAX_ERROR_MESSAGE as MAX_ERROR_MESSAGE  # noqa: PLC0414
from shared.azure.kverrors import UntrustedHostError as UntrustedHostError  # noqa: PLC0414
from shared.azure.kverrors import clean_message as _clean
from shared.azure.kverrors import read_error as read_error  # noqa: PLC0414
from shared.azure.kvjson import PolicyFields as PolicyFields  # noqa: PLC0414
from shared.azure.kvjson import interned_text as _text
from shared.azure.kvjson import json_of as _json_of
from shared.azure.kvjson import listed_certificate as _listed_certificate
from shared.azure.kvjson import parse_policy as parse_policy  # noqa: PLC0414
from shared.azure.kvjson import unix_time as _unix_time
from shared.models import (
    Certificate,
    CertificateVersion,
    PlainSecret,
    ReadError,
    Vault,
)
from shared.text import SINGLE_LINE_LOGS, clean_text, comparable, single_line

log = logging.getLogger(__name__)
log.addFilter(SINGLE_LINE_LOGS)  # estate text in log arguments cannot forge a line

_JSON = {"Accept": "application/json"}

# The Key Vault DNS suffixes of Azure's clouds: public, China, US Government, Germany (azure-cli's cloud
# definitions, Azure/azure-cli src/azure-cli-core/azure/cli/core/cloud.py, ``keyvault_dns``). The scan
# does not know which cloud a vault URI belongs to, so any of them is a Key Vault host.
KEYVAULT_DNS_SUFFIXES = ("vault.azure.net", "vault.azure.cn", "vault.usgovcloudapi.net", "vault.microsoftazure.de")


def untrusted_vault_host(vault_uri: str) -> ReadError | None:
    """Why ``vault_uri`` is not a Key Vault endpoint (``UntrustedVaultHost``), or ``None`` when it is one.

    A Key Vault host is ``<name>.<suffix>`` for one of :data:`KEYVAULT_DNS_SUFFIXES`, matched on a dot
    boundary (``vault.azure.net.evil.example`` and ``evilvault.azure.net`` are not), over https on the
    default port. Checked before any request, because the SDK sends its token wherever the client points
    once challenge verification is off, and a Resource Manager answer is not proof of a vault."""
    try:
        parts = urlsplit(vault_uri)
        host, port = (parts.hostname or "").lower().rstrip("."), parts.port
    except ValueError:
        parts, host, port = None, "", None
    suffixes = ", ".join(KEYVAULT_DNS_SUFFIXES)
    if parts is None or parts.scheme.lower() != "https" or not host or port not in (None, 443):
        shown = _clean(single_line(vault_uri))
        message = f"the vault URI {shown} is not an https address of a Key Vault host ({suffixes})"
        return ReadError("UntrustedVaultHost", f"{message}; nothing was sent to it")
    if not any(host.endswith("." + suffix) for suffix in KEYVAULT_DNS_SUFFIXES):
        message = f"the vault's host {_clean(single_line(host))} is not in the Key Vault domains ({suffixes})"
        return ReadError("UntrustedVaultHost", f"{message}; nothing was sent to it")
    return None


def vault_name_from_host(host: str | None) -> str | None:
    """A vault's name from a reference's host, only when that host is ``<name>.<suffix>`` for a Key Vault
    DNS suffix: ``pay-kv.attacker.example`` names no vault, so it matches no vault and no alert route."""
    host = (host or "").lower().rstrip(".")
    for suffix in KEYVAULT_DNS_SUFFIXES:
        name = host.removesuffix("." + suffix)
        if name != host and name and "." not in name:
            return name
    return None


_unchecked_warning = threading.Lock()
_unchecked_warned = threading.Event()


def warn_vault_hosts_unchecked() -> None:
    """Say once per process that vault hosts are not checked (``KEYVAULT_VERIFY_CHALLENGE_RESOURCE=false``):
    a setting meant for local emulators that, left on in Azure, lets any vault URI receive a token."""
    with _unchecked_warning:
        if _unchecked_warned.is_set():
            return
        _unchecked_warned.set()
    log.warning(
        "KEYVAULT_VERIFY_CHALLENGE_RESOURCE is false: vault hosts are not checked, so every vault URI from "
        "Resource Manager receives a Key Vault token. Use this only with a local Key Vault emulator."
    )


def origin(url: str) -> tuple[str, str, int | None] | None:
    """Scheme, host and port of ``url`` (an explicit :443 equals none), or ``None`` when it has no host:
    what two URLs must share to reach the same vault (a ``nextLink``, a service's secret id)."""
    try:
        parts = urlsplit(url.strip())
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower().rstrip(".")
        port = parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:
        return None
    return (scheme, host, port) if scheme and host else None


def _checked_next_link(vault: Vault, next_link: str) -> str:
    """The ``nextLink`` when it stays on the vault's own scheme, host and port; a link elsewhere would
    carry the vault's bearer token to whoever wrote it, so it is refused, never followed."""
    resolved = urljoin(vault.uri, next_link)
    target, own = origin(resolved), origin(vault.uri)
    if target is None or target != own:
        where = f"{target[0]}://{target[1]}:{target[2]}" if target else "an address without a host"
        message = f"the certificate list's next page points to {_clean(single_line(where))}, not to the vault"
        raise UntrustedHostError(ReadError("UntrustedNextLink", f"{message}; it was not followed"))
    return resolved


@dataclass(slots=True)
class VaultRead:
    """What reading one vault gave: its certificates (each possibly with its own error) and, when the
    listing itself failed, that error. Certificates listed before a listing failure are kept."""

    vault: Vault
    certificates: list[Certificate] = field(default_factory=list)
    error: ReadError | None = None
    # Versions of the certificates services reference (CertificateBinding), by lower-case name.
    versions: dict[str, VersionsRead] = field(default_factory=dict)


T = TypeVar("T")


class VaultClient(CertificateClient):
    """One vault's ``CertificateClient`` (for the few sync reads and remediation's writes) carrying its
    asyncio twin, which the per-certificate reads use (:func:`read_vault`).

    The twin is built on the shared event loop at first use, so a client that only remediates never
    starts the loop; closing this client closes both."""

    def __init__(
        self,
        vault_url: str,
        credential: Any,
        *,
        aio: Callable[[], Awaitable[AsyncCertificateClient]],
        loop: EventLoopThread,
        **kwargs: Any,
    ) -> None:
        super().__init__(vault_url, credential, **kwargs)
        self._make_aio = aio
        self._aio: AsyncCertificateClient | None = None
        self._loop = loop

    def run_async(self, call: Callable[[AsyncCertificateClient], Coroutine[Any, Any, T]]) -> T:
        """``call(async_client)`` run on the event loop; this thread waits for its result."""

        async def run() -> T:
            if self._aio is None:
                self._aio = await self._make_aio()
            return await call(self._aio)

        return self._loop.run(run())

    def __enter__(self) -> VaultClient:
        super().__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()  # the base class's __exit__ skips close(), which would leave the twin's session open

    def close(self) -> None:
        aio, self._aio = self._aio, None
        try:
            if aio is not None:
                self._loop.run(aio.close())
        finally:
            super().close()


def read_vault(
    client: VaultClient,
    vault: Vault,
    *,
    requests_in_flight: int,
    referenced: Mapping[str, set[str]] | None = None,
) -> VaultRead:
    """List the vault's certificates and fetch each enabled one's policy, ``requests_in_flight`` at a time.

    Policy GETs start while the next list page is still being fetched; the vault's certificates are kept
    in list order. ``referenced`` certificates (name -> versions services are pinned to) also get their
    current and pinned versions read, under the same limit, so those reads overlap the listing instead of
    adding a round after it, and the vault never sees more than ``requests_in_flight`` GETs at once. They
    start once the first list page has answered: by then the client holds the vault's authentication
    challenge, while requests sent before it would each be refused with a 401 first.

    A sync entry point over coroutines: the listing and the policy GETs run on the client's event loop
    (the asyncio SDK client costs a quarter of the sync one's CPU per request), the version reads, a few
    per vault, stay sync functions run in the loop's worker threads."""
    return client.run_async(
        lambda aio: _read_vault(aio, client, vault, requests_in_flight=requests_in_flight, referenced=referenced)
    )


async def _read_vault(
    aio: AsyncCertificateClient,
    client: CertificateClient,
    vault: Vault,
    *,
    requests_in_flight: int,
    referenced: Mapping[str, set[str]] | None,
) -> VaultRead:
    result = VaultRead(vault=vault)
    slots = asyncio.Semaphore(requests_in_flight)

    async def limited(work: Awaitable[T]) -> T:
        async with slots:
            return await work

    pending: list[tuple[Certificate, asyncio.Task[Certificate] | None]] = []
    version_reads: dict[str, asyncio.Task[VersionsRead]] = {}
    wanted = {name.lower(): (name, versions) for name, versions in (referenced or {}).items()}

    def read_versions(key: str, bundle: asyncio.Task[tuple[Certificate, CertificateVersion | None]] | None) -> None:
        """A referenced certificate's versions. Its current version comes from the bundle the policy read
        fetches anyway (the same ``GET /certificates/{name}/``), so it is not read twice; a certificate
        that is not listed, or disabled, or whose bundle failed, has its current version read here."""
        name, versions = wanted[key]

        async def work() -> VersionsRead:
            current = (await bundle)[1] if bundle is not None else None
            return await limited(asyncio.to_thread(read_versions_of, client, name, versions, current))

        version_reads[key] = asyncio.create_task(work())

    try:
        async for listed in _list_certificates_async(aio, vault):
            key = listed.name.lower()
            if listed.enabled is False or listed.error is not None:
                # A disabled certificate is not applicable to either rule, and one whose list entry is
                # malformed is not assessed: no need to read either one's policy.
                pending.append((listed, None))
                if key in wanted and key not in version_reads:
                    read_versions(key, None)
                continue
            if key in wanted and key not in version_reads:
                bundle = asyncio.create_task(limited(_read_bundle_async(aio, listed)))
                read_versions(key, bundle)
                pending.append((listed, asyncio.create_task(_certificate_of(bundle))))
                continue
            pending.append((listed, asyncio.create_task(limited(_read_policy_async(aio, listed)))))
    except Exception as exc:  # noqa: BLE001 - any failure of the listing is reported, never raised
        result.error = read_error(exc)
        log.warning("Could not list certificates of vault %s: %s", vault.name, result.error.describe())
    for key in wanted.keys() - version_reads.keys():
        read_versions(key, None)  # referenced but not listed: gone, a plain secret, or past a failed page
    for listed, task in pending:
        if task is None:
            result.certificates.append(listed)
            continue
        try:
            result.certificates.append(await task)
        except Exception as exc:  # noqa: BLE001 - defensive: _read_policy_async already catches
            result.certificates.append(dataclasses.replace(listed, error=read_error(exc)))
    for name, read in version_reads.items():
        try:
            result.versions[name] = await read
        except Exception as exc:  # noqa: BLE001 - defensive: read_versions_of already catches
            result.versions[name] = VersionsRead(error=read_error(exc))
    return result


_FIRST_PAGE = ("GET", "/certificates")


def list_certificates(client: CertificateClient, vault: Vault) -> Iterator[Certificate]:
    """The vault's certificates as the list call gives them (no policy yet), page by page.

    Raises what the SDK's ``list_properties_of_certificates`` would: ``HttpResponseError`` when a page
    fails after retries, ``DecodeError`` for a body that is not JSON, ``ValueError`` for an item whose id
    is not a certificate id; and :class:`UntrustedHostError` for a ``nextLink`` off the vault's host.
    The last page after a link is ``{"value": [], "nextLink": null}`` on the real service."""
    request: HttpRequest | None = HttpRequest(*_FIRST_PAGE, headers=_JSON)
    while request is not None:
        page = _get_json(client, request)
        yield from _page_items(vault, page)
        request = _next_page(vault, page)


async def _list_certificates_async(client: AsyncCertificateClient, vault: Vault) -> AsyncIterator[Certificate]:
    """:func:`list_certificates` through the asyncio client."""
    request: HttpRequest | None = HttpRequest(*_FIRST_PAGE, headers=_JSON)
    while request is not None:
        page = await _get_json_async(client, request)
        for certificate in _page_items(vault, page):
            yield certificate
        request = _next_page(vault, page)


def _page_items(vault: Vault, page: Mapping[str, Any]) -> Iterator[Certificate]:
    items = page.get("value") or []
    if not isinstance(items, list):
        raise ValueError("the certificate list's 'value' is not an array")
    for item in items:
        yield _listed_certificate(vault, item)


def _next_page(vault: Vault, page: Mapping[str, Any]) -> HttpRequest | None:
    next_link = page.get("nextLink")
    if not next_link:
        return None
    if not isinstance(next_link, str):
        raise ValueError("the certificate list's 'nextLink' is not a URL")
    # As the service wrote it (its $skiptoken and api-version); send_request adds nothing it carries.
    return HttpRequest("GET", _checked_next_link(vault, next_link), headers=_JSON)


def _get_json(client: CertificateClient, request: HttpRequest) -> Mapping[str, Any]:
    return _json_of(client.send_request(request))


async def _get_json_async(client: AsyncCertificateClient, request: HttpRequest) -> Mapping[str, Any]:
    return _json_of(await client.send_request(request))


def _read_policy(client: CertificateClient, listed: Certificate) -> Certificate:
    """The certificate's policy through the client's pipeline, with the fields the rules need.

    An enabled certificate's bundle (``GET .../certificates/{name}/``) carries the policy and the current
    version's ``cer`` in one answer, so KeyVault-006 learns for free whether a CA issued what a ``Self``
    policy would replace (SPEC §2). A disabled one keeps ``GET .../policy``: it is not judged on its
    issuer, and Key Vault may refuse to hand out a disabled certificate."""
    try:
        return _with_policy(listed, _get_json(client, _policy_request(listed)))
    except (AzureError, ValueError) as exc:
        # Only the policy is missing: the list already gave the expiry, which the expiry rule still judges.
        return dataclasses.replace(listed, policy_error=read_error(exc))


async def _read_policy_async(client: AsyncCertificateClient, listed: Certificate) -> Certificate:
    """:func:`_read_policy` through the asyncio client."""
    try:
        return _with_policy(listed, await _get_json_async(client, _policy_request(listed)))
    except (AzureError, ValueError) as exc:
        return dataclasses.replace(listed, policy_error=read_error(exc))


async def _read_bundle_async(
    client: AsyncCertificateClient, listed: Certificate
) -> tuple[Certificate, CertificateVersion | None]:
    """:func:`_read_policy_async` for a certificate a service references: the same bundle also gives its
    current version (``None`` when the bundle could not be read or parsed: the version read then asks)."""
    try:
        answer = await _get_json_async(client, _policy_request(listed))
    except (AzureError, ValueError) as exc:
        return dataclasses.replace(listed, policy_error=read_error(exc)), None
    try:
        certificate = _with_policy(listed, answer)
    except (AzureError, ValueError) as exc:
        certificate = dataclasses.replace(listed, policy_error=read_error(exc))
    try:
        # Who issued it was decided by the policy read where it matters (a Self policy): the signature is
        # checked once, not again for the version.
        current = parse_certificate_version(answer, with_issuer=False)
    except (ValueError, TypeError, OverflowError):
        return certificate, None
    return certificate, dataclasses.replace(current, issued_by_ca=certificate.issued_by_ca)


async def _certificate_of(bundle: asyncio.Task[tuple[Certificate, CertificateVersion | None]]) -> Certificate:
    return (await bundle)[0]


def _policy_request(listed: Certificate) -> HttpRequest:
    suffix = "/" if _reads_bundle(listed) else "/policy"
    return HttpRequest("GET", f"/certificates/{quote(listed.name, safe='')}{suffix}", headers=_JSON)


def _reads_bundle(listed: Certificate) -> bool:
    return listed.enabled is not False


def _with_policy(listed: Certificate, answer: Mapping[str, Any]) -> Certificate:
    """The policy's fields from a bundle (or a policy answer), and for a ``Self`` policy who issued the
    current version. Raises ``ValueError`` when the bundle came without its policy."""
    bundle = _reads_bundle(listed)
    data = answer.get("policy") if bundle else answer
    if not isinstance(data, Mapping):
        raise ValueError("the certificate came without its policy")
    policy = parse_policy(data)
    issued_by_ca = listed.issued_by_ca
    if bundle and comparable(policy.issuer) == "self":
        # Parsed and verified only where it decides something: a Self policy (about 0.1 ms each).
        issued_by_ca = _issued_by_ca(answer.get("cer"))
    return dataclasses.replace(
        listed,
        issuer=policy.issuer,
        lifetime_actions=policy.lifetime_actions,
        validity_months=policy.validity_months,
        issued_by_ca=issued_by_ca,
    )


# --- the current version's X.509 certificate (``cer``) ----------------------------------------------------


# Who issued it is decided by its signature, in one place that the scan and remediation share.
ca_that_issued = x509.ca_that_issued


# --- pending operations: why a renewal looks stuck --------------------------------------------------------


@dataclass(slots=True)
class VersionsRead:
    """What the vault holds for one referenced certificate: its current version, each pinned version a
    service asked about, and what is gone. ``certificate_missing`` is the service's 404 on the current
    version (the certificate was deleted); ``missing_versions`` are pinned versions that 404. ``error``
    is anything else that kept the certificate from being read (403, 5xx after retries, malformed)."""

    current: CertificateVersion | None = None
    pinned: dict[str, CertificateVersion] = field(default_factory=dict)
    missing_versions: set[str] = field(default_factory=set)
    certificate_missing: bool = False
    error: ReadError | None = None
    # When the certificate is missing: the plain secret of that name, if there is one.
    plain_secret: PlainSecret | None = None


def read_bundle(client: CertificateClient, name: str, version: str | None = None) -> Mapping[str, Any]:
    """``GET {vault}/certificates/{name}/`` (the current version: attributes, tags, ``cer``, policy) or
    ``.../{name}/{version}``, as cleaned JSON through the client's pipeline like the other reads. Raises
    the SDK's ``HttpResponseError`` (404 included), ``DecodeError`` or ``ValueError`` for a bad body."""
    path = f"/certificates/{quote(name, safe='')}/" + (quote(version, safe="") if version else "")
    return _get_json(client, HttpRequest("GET", path, headers=_JSON))


def read_certificate_version(client: CertificateClient, name: str, version: str | None = None) -> CertificateVersion:
    """One version of a certificate (see :func:`read_bundle`), as the binding rule reads it."""
    return parse_certificate_version(read_bundle(client, name, version))


def parse_certificate_version(data: Mapping[str, Any], *, with_issuer: bool = True) -> CertificateVersion:
    """A certificate bundle or version list item: the version from its id, x5t, created, exp, enabled, and
    (``with_issuer``) which CA issued it, from the bundle's ``cer``."""
    certificate_id = data.get("id")
    parts = urlsplit(certificate_id) if isinstance(certificate_id, str) else None
    path = [segment for segment in parts.path.split("/") if segment] if parts else []
    if len(path) != 3 or path[0].lower() != "certificates":
        raise ValueError(f"{certificate_id!r} is not a versioned certificate id")
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise TypeError("attributes is not an object")
    enabled = attributes.get("enabled")
    x5t = data.get("x5t")
    return CertificateVersion(
        version=path[2],
        x5t=x5t if isinstance(x5t, str) and x5t else None,
        created_on=_unix_time(attributes.get("created"), "created"),
        expires_on=_unix_time(attributes.get("exp"), "exp"),
        enabled=enabled if isinstance(enabled, bool) else None,
        issued_by_ca=_issued_by_ca(data.get("cer")) if with_issuer else None,
    )


def _issued_by_ca(cer: Any) -> str | None:
    """The bundle came with its ``cer`` anyway: who issued it costs a parse, not a request. A version list
    item has no ``cer``, and an unreadable one says nothing (remediation reads it again and refuses)."""
    if cer is None:
        return None
    try:
        return ca_that_issued(cer)
    except ValueError:
        return None


def read_versions_of(
    client: CertificateClient, name: str, versions: set[str], current: CertificateVersion | None = None
) -> VersionsRead:
    """One referenced certificate's current version (read here unless ``current`` came with its bundle)
    and each pinned version that is not the current one."""
    result = VersionsRead()
    found = current or _version_or_gone(client, name)
    if found is None:
        result.certificate_missing = True
        secret = read_secret_metadata(client, name)
        if isinstance(secret, ReadError):
            result.error = secret
        else:
            result.plain_secret = secret
    elif isinstance(found, ReadError):
        result.error = found
    else:
        result.current = found
        for version in sorted(v for v in versions if v.lower() != found.version.lower()):
            pinned = _version_or_gone(client, name, version)
            if pinned is None:
                result.missing_versions.add(version.lower())
            elif isinstance(pinned, ReadError):
                result.error = pinned
                break
            else:
                result.pinned[version.lower()] = pinned
    return result


def _version_or_gone(
    client: CertificateClient, name: str, version: str | None = None
) -> CertificateVersion | ReadError | None:
    """The version; ``None`` when Key Vault answers 404 (the certificate or version is gone, which the rule
    judges); the error for anything else."""
    try:
        return read_certificate_version(client, name, version)
    except HttpResponseError as exc:
        return None if exc.status_code == 404 else read_error(exc)
    except (AzureError, ValueError, TypeError, OverflowError, OSError) as exc:
        return read_error(exc)


def read_secret_metadata(client: CertificateClient, name: str) -> PlainSecret | ReadError | None:
    """A secret's metadata, never its value: ``GET {vault}/secrets/{name}/versions?maxresults=1`` lists
    ``SecretItem``s (``id``, ``attributes``, ``contentType``, ``tags``, ``managed``: the Key Vault REST
    spec's GetSecretVersions, example GetSecretVersions-example.json of
    specification/keyvault/data-plane/Microsoft.KeyVault/stable/7.5), which the ``secrets/readMetadata``
    data action of Key Vault Reader allows; ``GET /secrets/{name}`` would return the value and needs
    Key Vault Secrets User. ``None`` when there is no secret of that name (404, or an empty list).

    Which version is the newest is not in one item (the list is unordered), so only the existence, the
    content type and one version's dates are read: enough to tell a plain secret from a deleted one."""
    path = f"/secrets/{quote(name, safe='')}/versions"
    try:
        data = _get_json(client, HttpRequest("GET", path, params={"maxresults": 1}, headers=_JSON))
    except HttpResponseError as exc:
        return None if exc.status_code == 404 else read_error(exc)
    except (AzureError, ValueError, TypeError, OverflowError, OSError) as exc:
        return read_error(exc)
    items = data.get("value")
    if not isinstance(items, list):
        return read_error(ValueError("the secret versions list has no 'value' array"))
    item = next((i for i in items if isinstance(i, Mapping)), None)
    if item is None:
        return None
    raw = item.get("attributes")
    attributes: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    secret_id = item.get("id")
    version = secret_id.rstrip("/").rsplit("/", 1)[-1] if isinstance(secret_id, str) and secret_id.strip() else None
    enabled = attributes.get("enabled")
    try:
        created = _unix_time(attributes.get("created"), "created")
        expires = _unix_time(attributes.get("exp"), "exp")
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        return read_error(exc)
    return PlainSecret(
        name=name,
        version=clean_text(version) if version else None,
        content_type=_text(item.get("contentType")),
        created_on=created,
        expires_on=expires,
        enabled=enabled if isinstance(enabled, bool) else None,
    )
