"""Services that serve Key Vault certificates, from Resource Manager, mapped into :class:`Binding` records.

Four list calls per subscription (SPEC §2, CertificateBinding), plus one per Front Door profile for its
secrets. They go through the Key Vault management client's own pipeline (``send_request``): the same
credential, transport, ``ARM_ENDPOINT``, token scope and retries as the vault discovery, without adding
four management SDKs whose models we would only read three fields from.

Where each type keeps its reference (REST specs, azure-rest-api-specs):
- ``Microsoft.Network/applicationGateways``: ``properties.sslCertificates[].properties.keyVaultSecretId``,
  a secret URI, versionless when it follows the latest version.
- ``Microsoft.Cdn/profiles/{p}/secrets``: ``properties.parameters`` (type ``CustomerCertificate``):
  ``secretSource.id`` (the vault's resource id + ``/secrets/{name}``), ``secretVersion``,
  ``useLatestVersion``.
- ``Microsoft.ApiManagement/service``: ``properties.hostnameConfigurations[].keyVaultId``, a secret URI.
- ``Microsoft.Web/certificates``: ``properties.keyVaultId`` (the vault's resource id),
  ``keyVaultSecretName``, ``thumbprint`` (hex), ``keyVaultSecretStatus``.

A type that cannot be listed in a subscription is reported as a :class:`ServiceListError` (one
``not_assessed`` finding for that subscription and type); one malformed item becomes a binding with a
``problem``, never an exception.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from azure.core.exceptions import DecodeError, HttpResponseError
from azure.core.rest import HttpRequest

from shared.azure import arm
from shared.azure.clients import AzureClients
from shared.azure.keyvault import read_error, vault_name_from_host
from shared.models import Binding, ReadError
from shared.text import clean_text

log = logging.getLogger(__name__)

APPLICATION_GATEWAY = "Microsoft.Network/applicationGateways"
FRONT_DOOR_SECRET = "Microsoft.Cdn/profiles/secrets"  # noqa: S105 - a resource type, not a password
FRONT_DOOR_PROFILE = "Microsoft.Cdn/profiles"
API_MANAGEMENT = "Microsoft.ApiManagement/service"
APP_SERVICE_CERTIFICATE = "Microsoft.Web/certificates"
SERVICE_TYPES: tuple[str, ...] = (APPLICATION_GATEWAY, FRONT_DOOR_SECRET, API_MANAGEMENT, APP_SERVICE_CERTIFICATE)

# Stable API versions of each provider's list call.
_API_VERSIONS = {
    APPLICATION_GATEWAY: "2024-05-01",
    FRONT_DOOR_PROFILE: "2024-02-01",
    API_MANAGEMENT: "2024-05-01",
    APP_SERVICE_CERTIFICATE: "2024-04-01",
}
_FRONT_DOOR_SKUS = ("standard_azurefrontdoor", "premium_azurefrontdoor")
_MAX_PAGES = 1000
_JSON = {"Accept": "application/json"}
_VAULT_SECRET_ID = re.compile(
    r"^(?P<vault>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/(?P<name>[^/]+))"
    r"/secrets/(?P<secret>[^/]+)/?$",
    re.IGNORECASE,
)
_VAULT_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ServiceListError:
    """A service type the identity could not list in one subscription."""

    subscription_id: str
    resource_type: str
    error: ReadError


@dataclass(slots=True)
class ServiceRead:
    """The Key Vault references found in one subscription, and the types that could not be listed."""

    subscription_id: str
    bindings: list[Binding] = field(default_factory=list)
    failures: list[ServiceListError] = field(default_factory=list)


def read_services(clients: AzureClients, subscription_id: str) -> ServiceRead:
    """Every Key Vault reference of the four service types in one subscription. Never raises."""
    result = ServiceRead(subscription_id)
    try:
        client = clients.resource_manager(subscription_id)
    except Exception as exc:  # noqa: BLE001 - e.g. a credential that cannot be built: every type fails alike
        error = read_error(exc)
        result.failures.extend(ServiceListError(subscription_id, kind, error) for kind in SERVICE_TYPES)
        return result
    base = f"/subscriptions/{quote(subscription_id, safe='')}/providers"
    for kind, reader in (
        (APPLICATION_GATEWAY, _gateway_bindings),
        (API_MANAGEMENT, _api_management_bindings),
        (APP_SERVICE_CERTIFICATE, _app_service_bindings),
    ):
        try:
            items = list(_list(client, f"{base}/{kind}?api-version={_API_VERSIONS[kind]}"))
        except Exception as exc:  # noqa: BLE001 - one type failing costs only that type in this subscription
            result.failures.append(_failure(subscription_id, kind, exc))
            continue
        for item in items:
            result.bindings.extend(reader(subscription_id, item))
    try:
        result.bindings.extend(_front_door_bindings(client, subscription_id, base))
    except Exception as exc:  # noqa: BLE001 - as above
        result.failures.append(_failure(subscription_id, FRONT_DOOR_SECRET, exc))
    return result


def _failure(subscription_id: str, kind: str, exc: BaseException) -> ServiceListError:
    error = read_error(exc)
    log.warning("Could not list %s in subscription %s: %s", kind, subscription_id, error.describe())
    return ServiceListError(subscription_id, kind, error)


def _list(client: Any, url: str) -> Iterator[Mapping[str, Any]]:
    """Every item of a Resource Manager list, following ``nextLink`` on the same host only."""
    request = HttpRequest("GET", url, headers=_JSON)
    for _ in range(_MAX_PAGES):
        response = client.send_request(request)
        if response.status_code != 200:
            raise HttpResponseError(response=response)
        try:
            page = json.loads(response.content)
        except ValueError as exc:
            raise DecodeError("the response body is not valid JSON", response=response) from exc
        if not isinstance(page, Mapping) or not isinstance(page.get("value", []), list):
            raise ValueError("the list response has no 'value' array")
        for item in page.get("value") or []:
            if isinstance(item, Mapping):
                yield item
        if not page.get("nextLink"):
            return
        # The answer came from ARM_ENDPOINT (the clients' ArmHostGuard): its next page must stay there.
        request = HttpRequest("GET", arm.next_link(page["nextLink"], response.request.url), headers=_JSON)
    raise ValueError(f"the list did not end after {_MAX_PAGES} pages")


# --- mapping each type's JSON into bindings ------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return clean_text(value) if isinstance(value, str) and value.strip() else None


def _properties(item: Mapping[str, Any]) -> Mapping[str, Any]:
    value = item.get("properties")
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class _Service:
    """The service a reference was found in."""

    subscription_id: str
    resource_id: str
    kind: str
    name: str


def _service(subscription_id: str, item: Mapping[str, Any], kind: str) -> _Service:
    resource_id = _text(item.get("id")) or f"/subscriptions/{subscription_id}/providers/{kind}/(no id)"
    name = _text(item.get("name")) or resource_id.rstrip("/").rsplit("/", 1)[-1]
    return _Service(subscription_id, resource_id, kind, name)


def _gateway_bindings(subscription_id: str, item: Mapping[str, Any]) -> Iterator[Binding]:
    where = _service(subscription_id, item, APPLICATION_GATEWAY)
    certificates = _properties(item).get("sslCertificates") or []
    if not isinstance(certificates, list):
        yield _broken(where, None, "sslCertificates is not a list")
        return
    for entry in certificates:
        if not isinstance(entry, Mapping):
            continue
        binding = _text(entry.get("name"))
        secret_id = _properties(entry).get("keyVaultSecretId")
        if secret_id is None:
            continue  # a certificate uploaded to the gateway itself: no Key Vault to follow
        yield _from_secret_uri(where, binding, secret_id)


def _api_management_bindings(subscription_id: str, item: Mapping[str, Any]) -> Iterator[Binding]:
    where = _service(subscription_id, item, API_MANAGEMENT)
    hostnames = _properties(item).get("hostnameConfigurations") or []
    if not isinstance(hostnames, list):
        yield _broken(where, None, "hostnameConfigurations is not a list")
        return
    for entry in hostnames:
        if not isinstance(entry, Mapping) or entry.get("keyVaultId") is None:
            continue  # built-in or uploaded certificates
        binding = _text(entry.get("hostName"))
        yield _from_secret_uri(where, binding, entry.get("keyVaultId"))


def _app_service_bindings(subscription_id: str, item: Mapping[str, Any]) -> Iterator[Binding]:
    where = _service(subscription_id, item, APP_SERVICE_CERTIFICATE)
    properties = _properties(item)
    vault_id = properties.get("keyVaultId")
    if vault_id is None:
        return  # an uploaded or managed certificate, not from Key Vault
    secret_name = _text(properties.get("keyVaultSecretName"))
    thumbprint = _text(properties.get("thumbprint"))
    status = _text(properties.get("keyVaultSecretStatus"))
    match = _VAULT_ID.match(vault_id) if isinstance(vault_id, str) else None
    problem = None
    if match is None:
        problem = f"its keyVaultId {_shown(vault_id)} is not a Key Vault resource id"
    elif secret_name is None:
        problem = "it has a keyVaultId but no keyVaultSecretName"
    elif thumbprint is None or not re.fullmatch(r"[0-9A-Fa-f]{40}", thumbprint):
        problem = f"its thumbprint {_shown(properties.get('thumbprint'))} is not a SHA-1 thumbprint"
    yield Binding(
        subscription_id=subscription_id,
        resource_id=where.resource_id,
        resource_type=APP_SERVICE_CERTIFICATE,
        service_name=where.name,
        binding=where.name,
        reference=_text(vault_id) if isinstance(vault_id, str) else None,
        vault_resource_id=vault_id.rstrip("/") if match and isinstance(vault_id, str) else None,
        vault_name=match.group("name") if match else None,
        certificate_name=secret_name,
        version=None,
        thumbprint=thumbprint,
        secret_status=status,
        problem=problem,
    )


def _front_door_bindings(client: Any, subscription_id: str, base: str) -> Iterator[Binding]:
    profiles = list(_list(client, f"{base}/{FRONT_DOOR_PROFILE}?api-version={_API_VERSIONS[FRONT_DOOR_PROFILE]}"))
    for profile in profiles:
        sku = profile.get("sku")
        sku_name = str(sku.get("name") or "").lower() if isinstance(sku, Mapping) else ""
        profile_id = _text(profile.get("id"))
        if sku_name not in _FRONT_DOOR_SKUS or profile_id is None:
            continue  # classic CDN profiles hold no secrets
        # An id read from an answer: a path below ARM_ENDPOINT, never an absolute URL elsewhere.
        path = arm.resource_path(profile_id, "Front Door profile id")
        url = f"{path}/secrets?api-version={_API_VERSIONS[FRONT_DOOR_PROFILE]}"
        profile_name = _text(profile.get("name")) or profile_id.rsplit("/", 1)[-1]
        for secret in _list(client, url):
            yield from _front_door_secret(subscription_id, profile_id, profile_name, secret)


def _front_door_secret(
    subscription_id: str, profile_id: str, profile_name: str, secret: Mapping[str, Any]
) -> Iterator[Binding]:
    parameters = _properties(secret).get("parameters")
    if not isinstance(parameters, Mapping) or str(parameters.get("type") or "") != "CustomerCertificate":
        return  # managed certificates and URL signing keys
    binding = _text(secret.get("name"))
    source = parameters.get("secretSource")
    source_id = source.get("id") if isinstance(source, Mapping) else None
    match = _VAULT_SECRET_ID.match(source_id) if isinstance(source_id, str) else None
    use_latest = parameters.get("useLatestVersion")
    version = _text(parameters.get("secretVersion"))
    problem = None
    if match is None:
        problem = f"its secretSource.id {_shown(source_id)} is not a Key Vault secret resource id"
    elif use_latest is not True and version is None:
        problem = "it neither follows the latest version (useLatestVersion) nor names a secretVersion"
    yield Binding(
        subscription_id=subscription_id,
        resource_id=profile_id,
        resource_type=FRONT_DOOR_SECRET,
        service_name=profile_name,
        binding=binding,
        reference=_text(source_id) if isinstance(source_id, str) else None,
        vault_resource_id=match.group("vault") if match else None,
        vault_name=match.group("name") if match else None,
        certificate_name=match.group("secret") if match else None,
        version=None if use_latest is True else version,
        problem=problem,
    )


def _from_secret_uri(where: _Service, binding: str | None, secret_id: Any) -> Binding:
    parsed = parse_secret_uri(secret_id)
    if parsed is None:
        return _broken(
            where,
            binding,
            f"its Key Vault secret id {_shown(secret_id)} is not https://<vault>/secrets/<name>[/<version>]",
            reference=_text(secret_id) if isinstance(secret_id, str) else None,
        )
    vault_uri, secret, version = parsed
    host = urlsplit(vault_uri).hostname or ""
    return Binding(
        subscription_id=where.subscription_id,
        resource_id=where.resource_id,
        resource_type=where.kind,
        service_name=where.name,
        binding=binding,
        reference=clean_text(secret_id),
        vault_uri=vault_uri,
        vault_name=vault_name_from_host(host),  # never from another host: no vault, no route (SPEC §6)
        certificate_name=secret,
        version=version,
    )


def parse_secret_uri(value: Any) -> tuple[str, str, str | None] | None:
    """``https://{vault}/secrets/{name}[/{version}]`` -> (vault URI with a trailing slash, name, version)."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if parts.scheme.lower() != "https" or not parts.hostname or parts.query or parts.fragment:
        return None
    if len(segments) not in (2, 3) or segments[0].lower() != "secrets":
        return None
    netloc = parts.hostname.lower() + (f":{port}" if port else "")
    return f"https://{netloc}/", segments[1], segments[2] if len(segments) == 3 else None


def _broken(where: _Service, binding: str | None, problem: str, *, reference: str | None = None) -> Binding:
    return Binding(
        subscription_id=where.subscription_id,
        resource_id=where.resource_id,
        resource_type=where.kind,
        service_name=where.name,
        binding=binding,
        reference=reference,
        problem=problem,
    )


def _shown(value: Any) -> str:
    """A reference as a reason may quote it: cleaned, bounded, missing said plainly."""
    if value is None:
        return "(missing)"
    text = clean_text(str(value)).strip()
    if not text:
        return "(empty)"
    return repr(text if len(text) <= 160 else text[:159] + "…")
