"""Certificates and policies of one vault, mapped into the app's records.

This is the only module that touches the Key Vault data plane. It reads each certificate's properties
from the list call and its issuance policy with one GET per certificate (the list carries no policy), a
bounded number of GETs in flight per vault. Throttling (429 + Retry-After) and 5xx are retried by the
SDK's retry policy; what still fails becomes a :class:`ReadError` on that certificate, so one bad
certificate never stops its vault and one bad vault never stops the scan.

Every request goes through the ``CertificateClient``'s own pipeline (``send_request``: the challenge and
token, retries honouring Retry-After, the shared connection pool), but the JSON is read here rather than
by the SDK's models: that deserialisation was about 30 % of the scan's CPU (docs/BENCHMARKS.md). It is
also more tolerant: an action type the SDK's enum does not know is reported as what it is ("none of
which renews it") instead of as "could not read", and a list item with malformed attributes is
``not_assessed`` instead of breaking its vault.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from azure.core.exceptions import AzureError, DecodeError, HttpResponseError
from azure.core.rest import HttpRequest
from azure.keyvault.certificates import CertificateClient

from shared.models import Certificate, CertificateVersion, LifetimeAction, ReadError, Vault

log = logging.getLogger(__name__)

_WHITESPACE = re.compile(r"\s+")
MAX_ERROR_MESSAGE = 240
_JSON = {"Accept": "application/json"}


@dataclass(slots=True)
class VaultRead:
    """What reading one vault gave: its certificates (each possibly with its own error) and, when the
    listing itself failed, that error. Certificates listed before a listing failure are kept."""

    vault: Vault
    certificates: list[Certificate] = field(default_factory=list)
    error: ReadError | None = None
    # Versions of the certificates services reference (CertificateBinding), by lower-case name.
    versions: dict[str, VersionsRead] = field(default_factory=dict)


def read_vault(
    client: CertificateClient,
    vault: Vault,
    *,
    requests_in_flight: int,
    referenced: Mapping[str, set[str]] | None = None,
) -> VaultRead:
    """List the vault's certificates and fetch each enabled one's policy, ``requests_in_flight`` at a time.

    Policy GETs start while the next list page is still being fetched; the vault's certificates are kept
    in list order. ``referenced`` certificates (name -> versions services are pinned to) also get their
    current and pinned versions read, in the same pool, so those reads overlap the listing instead of
    adding a round after it, and the vault never sees more than ``requests_in_flight`` GETs at once. They
    start once the first list page has answered: by then the client holds the vault's authentication
    challenge, while requests sent before it would each be refused with a 401 first."""
    result = VaultRead(vault=vault)
    pending: list[tuple[Certificate, Future[Certificate]]] = []
    version_reads: dict[str, Future[VersionsRead]] = {}
    with ThreadPoolExecutor(max_workers=requests_in_flight, thread_name_prefix=f"kv-{vault.name[:20]}") as pool:

        def start_version_reads() -> None:
            if referenced and not version_reads:
                for name, versions in referenced.items():
                    version_reads[name.lower()] = pool.submit(read_versions_of, client, name, versions)

        try:
            for listed in list_certificates(client, vault):
                start_version_reads()
                if listed.enabled is False or listed.error is not None:
                    # A disabled certificate is not applicable to either rule, and one whose list entry is
                    # malformed is not assessed: no need to read either one's policy.
                    pending.append((listed, _done(listed)))
                    continue
                pending.append((listed, pool.submit(_read_policy, client, listed)))
        except Exception as exc:  # noqa: BLE001 - any failure of the listing is reported, never raised
            result.error = read_error(exc)
            log.warning("Could not list certificates of vault %s: %s", vault.name, result.error.describe())
        start_version_reads()
        for listed, future in pending:
            try:
                result.certificates.append(future.result())
            except Exception as exc:  # noqa: BLE001 - defensive: _read_policy already catches
                result.certificates.append(dataclasses.replace(listed, error=read_error(exc)))
        for name, read in version_reads.items():
            try:
                result.versions[name] = read.result()
            except Exception as exc:  # noqa: BLE001 - defensive: read_versions_of already catches
                result.versions[name] = VersionsRead(error=read_error(exc))
    return result


def _done(value: Certificate) -> Future[Certificate]:
    future: Future[Certificate] = Future()
    future.set_result(value)
    return future


def list_certificates(client: CertificateClient, vault: Vault) -> Iterator[Certificate]:
    """The vault's certificates as the list call gives them (no policy yet), page by page.

    Raises what the SDK's ``list_properties_of_certificates`` would: ``HttpResponseError`` when a page
    fails after retries, ``DecodeError`` for a body that is not JSON, ``ValueError`` for an item whose id
    is not a certificate id."""
    request = HttpRequest("GET", "/certificates", headers=_JSON)
    while True:
        page = _get_json(client, request)
        items = page.get("value") or []
        if not isinstance(items, list):
            raise ValueError("the certificate list's 'value' is not an array")
        for item in items:
            yield _listed_certificate(vault, item)
        next_link = page.get("nextLink")
        if not next_link:
            return
        if not isinstance(next_link, str):
            raise ValueError("the certificate list's 'nextLink' is not a URL")
        # As the service wrote it (its $skiptoken and api-version); send_request adds nothing it carries.
        request = HttpRequest("GET", next_link, headers=_JSON)


def _get_json(client: CertificateClient, request: HttpRequest) -> Mapping[str, Any]:
    response = client.send_request(request)
    if response.status_code != 200:
        # What the SDK's operations raise for anything but 200, with the service's error body parsed.
        raise HttpResponseError(response=response)
    try:
        data = json.loads(response.content)
    except ValueError as exc:
        raise DecodeError("the response body is not valid JSON", response=response) from exc
    if not isinstance(data, Mapping):
        raise ValueError("the response is not a JSON object")
    return data


def _listed_certificate(vault: Vault, item: Any) -> Certificate:
    if not isinstance(item, Mapping):
        raise ValueError("a certificate list item is not a JSON object")
    name = _certificate_name(item.get("id"))
    certificate = Certificate(vault=vault, name=name, id=f"{vault.uri.rstrip('/')}/certificates/{name}")
    attributes = item.get("attributes")
    tags = item.get("tags")
    if attributes is None:
        attributes = {}
    try:
        if not isinstance(attributes, Mapping):
            raise TypeError("attributes is not an object")
        if tags is not None and not isinstance(tags, Mapping):
            raise TypeError("tags is not an object")
        enabled = attributes.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise TypeError("attributes.enabled is not true or false")
        return dataclasses.replace(
            certificate,
            enabled=enabled,
            tags={str(key): str(value) for key, value in (tags or {}).items()},
            not_before=_unix_time(attributes.get("nbf"), "nbf"),
            expires_on=_unix_time(attributes.get("exp"), "exp"),
        )
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        problem = ReadError("MalformedResponse", _clean(f"unexpected data in the certificate list: {exc}"), 200)
        return dataclasses.replace(certificate, error=problem)


def _certificate_name(certificate_id: Any) -> str:
    """The name in ``https://<vault>/certificates/<name>[/<version>]``, checked as the SDK checks it."""
    parts = urlsplit(certificate_id) if isinstance(certificate_id, str) else None
    path = [segment for segment in parts.path.split("/") if segment] if parts else []
    if parts is None or not (parts.scheme and parts.hostname) or not 2 <= len(path) <= 3:
        raise ValueError(f"{certificate_id!r} is not a valid certificate id")
    return path[1]


def _unix_time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"attributes.{name} is not a time")
    return datetime.fromtimestamp(value, UTC)


def _read_policy(client: CertificateClient, listed: Certificate) -> Certificate:
    """GET the certificate's policy through the client's pipeline and read the fields the rules need."""
    request = HttpRequest("GET", f"/certificates/{quote(listed.name, safe='')}/policy", headers=_JSON)
    try:
        data = _get_json(client, request)
    except (AzureError, ValueError) as exc:
        return dataclasses.replace(listed, error=read_error(exc))
    policy = parse_policy(data)
    return dataclasses.replace(
        listed,
        issuer=policy.issuer,
        lifetime_actions=policy.lifetime_actions,
        validity_months=policy.validity_months,
    )


@dataclass(frozen=True, slots=True)
class PolicyFields:
    """What the rules and remediation read from an issuance policy."""

    issuer: str | None
    lifetime_actions: tuple[LifetimeAction, ...]
    validity_months: int | None


def parse_policy(data: Mapping[str, Any]) -> PolicyFields:
    """The issuance policy's REST JSON, read tolerantly: a missing or odd field is ``None``, and an action
    type Key Vault may add later is kept as the text it is, so the rules can say what it is."""
    return PolicyFields(
        issuer=_text(_get(data, "issuer", "name")),
        lifetime_actions=tuple(_raw_actions(data.get("lifetime_actions"))),
        validity_months=_integer(_get(data, "x509_props", "validity_months")),
    )


def _raw_actions(value: Any) -> Iterator[LifetimeAction]:
    if not isinstance(value, list):
        return
    for item in value:
        if not isinstance(item, Mapping):
            continue
        yield LifetimeAction(
            action=_text(_get(item, "action", "action_type")) or "(none)",
            days_before_expiry=_integer(_get(item, "trigger", "days_before_expiry")),
            lifetime_percentage=_integer(_get(item, "trigger", "lifetime_percentage")),
        )


def _get(data: Mapping[str, Any], *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str | None:
    """A non-empty string, interned: issuer and action names repeat across thousands of certificates, and
    every finding keeps them, so at 100,000 certificates one shared copy saves megabytes."""
    return sys.intern(value) if isinstance(value, str) and value else None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def read_error(exc: BaseException) -> ReadError:
    """The service's error code and message, or the failure's kind: never a URL, header or token."""
    if isinstance(exc, DecodeError):  # a 2xx whose body is not the JSON the SDK expects
        status = getattr(exc, "status_code", None)
        return ReadError(code="MalformedResponse", message="the response body is not valid JSON", status_code=status)
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        code, message = None, None
        error = exc.error
        if error is not None:
            inner = getattr(error, "innererror", None) or {}
            inner_code = inner.get("code") if isinstance(inner, Mapping) else None
            code = f"{error.code} ({inner_code})" if error.code and inner_code else (inner_code or error.code)
            message = error.message
        if not code:
            code = _code_from_status(status)
        if not message:
            message = exc.reason or "no error message"
        return ReadError(code=str(code), message=_clean(_first_line(message)), status_code=status)
    if isinstance(exc, AzureError):
        kind = type(exc).__name__
        code = {
            "ServiceRequestError": "ConnectionFailed",
            "ServiceResponseError": "ResponseFailed",
            "ClientAuthenticationError": "AuthenticationFailed",
            "CredentialUnavailableError": "NoCredential",
            "DecodeError": "MalformedResponse",
            "DeserializationError": "MalformedResponse",
        }.get(kind, kind)
        return ReadError(code=code, message=_clean(_first_line(exc.message)))
    if isinstance(exc, ValueError | KeyError | TypeError | AttributeError):
        return ReadError(code="MalformedResponse", message=_clean(f"unexpected data: {_first_line(str(exc))}"))
    return ReadError(code=type(exc).__name__, message=_clean(_first_line(str(exc))))


def _code_from_status(status: int | None) -> str:
    return {
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        429: "TooManyRequests",
        500: "InternalServerError",
        502: "BadGateway",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }.get(status or 0, f"HTTP{status}" if status else "Error")


_URL = re.compile(r"https?://\S+")


def _clean(text: str) -> str:
    """One line, bounded, and with any URL cut to its host: a SAS or token in a query never survives."""
    text = _URL.sub(lambda m: _host_only(m.group(0)), text)
    text = _WHITESPACE.sub(" ", text).strip()
    return text if len(text) <= MAX_ERROR_MESSAGE else text[: MAX_ERROR_MESSAGE - 1] + "…"


def _host_only(url: str) -> str:
    match = re.match(r"(https?://[^/?#\s]+)", url)
    return match.group(1) if match else "<url>"


def _first_line(text: str) -> str:
    """The headline of a service message: Key Vault appends caller ids, addresses and resource ids on
    further lines, which help support but drown the reason a person reads."""
    return text.strip().splitlines()[0] if text.strip() else ""


# --- versions of certificates that services reference (CertificateBinding) -----------------------------------


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


def read_certificate_version(client: CertificateClient, name: str, version: str | None = None) -> CertificateVersion:
    """``GET {vault}/certificates/{name}/`` (the current version) or ``.../{name}/{version}``, through the
    client's pipeline like the other reads. Raises the SDK's ``HttpResponseError`` (404 included)."""
    path = f"/certificates/{quote(name, safe='')}/" + (quote(version, safe="") if version else "")
    data = _get_json(client, HttpRequest("GET", path, headers=_JSON))
    return parse_certificate_version(data)


def parse_certificate_version(data: Mapping[str, Any]) -> CertificateVersion:
    """A certificate bundle or version list item: the version from its id, x5t, created, exp, enabled."""
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
    )


def read_versions_of(client: CertificateClient, name: str, versions: set[str]) -> VersionsRead:
    """One referenced certificate's current version and each pinned version that is not the current one."""
    result = VersionsRead()
    try:
        result.current = read_certificate_version(client, name)
    except HttpResponseError as exc:
        if exc.status_code == 404:
            result.certificate_missing = True
        else:
            result.error = read_error(exc)
        return result
    except (AzureError, ValueError, TypeError, OverflowError, OSError) as exc:
        result.error = read_error(exc)
        return result
    for version in sorted(versions):
        if version.lower() == result.current.version.lower():
            continue
        try:
            result.pinned[version.lower()] = read_certificate_version(client, name, version)
        except HttpResponseError as exc:
            if exc.status_code == 404:
                result.missing_versions.add(version.lower())
            else:
                result.error = read_error(exc)
                return result
        except (AzureError, ValueError, TypeError, OverflowError, OSError) as exc:
            result.error = read_error(exc)
            return result
    return result
