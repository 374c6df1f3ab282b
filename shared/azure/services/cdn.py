"""Front Door Standard/Premium and classic CDN: ``Microsoft.Cdn/profiles`` and their children.

One list of profiles per subscription, then by SKU:
- Front Door Standard/Premium profiles (``Standard_AzureFrontDoor``, ``Premium_AzureFrontDoor``):
  ``profiles/{p}/secrets`` (Secrets_ListByProfile.json) whose ``properties.parameters`` of type
  ``CustomerCertificate`` carry ``secretSource.id`` (the vault's resource id + ``/secrets/{name}``),
  ``secretVersion``, ``useLatestVersion`` and what Front Door reports serving, ``thumbprint`` and
  ``expirationDate``; the hostnames are those of ``profiles/{p}/customDomains`` whose
  ``tlsSettings.secret.id`` names the secret (AFDCustomDomains_ListByProfile.json).
- classic CDN profiles (every other SKU): ``profiles/{p}/endpoints`` (Endpoints_ListByProfile.json) and
  each endpoint's ``customDomains`` (CustomDomains_ListByEndpoint.json) whose
  ``customHttpsParameters`` has ``certificateSource`` ``AzureKeyVault`` and
  ``certificateSourceParameters`` {``subscriptionId``, ``resourceGroupName``, ``vaultName``,
  ``secretName``, ``secretVersion``}; it follows the latest version when ``secretVersion`` is empty.
  Classic CDN reports no thumbprint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from shared.models import Binding

from .common import (
    VAULT_SECRET_ID,
    ServiceRead,
    broken,
    by_vault_id,
    hostnames_of,
    last_segment,
    list_children,
    list_items,
    mapping,
    properties,
    service,
    shown,
    text,
    thumbprint,
    when,
)

FRONT_DOOR_PROFILE = "Microsoft.Cdn/profiles"
FRONT_DOOR_SECRET = "Microsoft.Cdn/profiles/secrets"  # noqa: S105 - a resource type, not a password
FRONT_DOOR_CUSTOM_DOMAIN = "Microsoft.Cdn/profiles/customDomains"
CDN_CUSTOM_DOMAIN = "Microsoft.Cdn/profiles/endpoints/customDomains"
API_VERSION = "2024-02-01"
_FRONT_DOOR_SKUS = ("standard_azurefrontdoor", "premium_azurefrontdoor")


def cdn_bindings(client: Any, subscription_id: str, base: str, result: ServiceRead) -> None:
    """Both kinds of profile. A profile list that fails costs both types; a child list that fails costs
    that profile's type (or, for Front Door custom domains, only the hostnames)."""
    try:
        profiles = list(list_items(client, f"{base}/{FRONT_DOOR_PROFILE}?api-version={API_VERSION}"))
    except Exception as exc:  # noqa: BLE001 - one type failing costs only that type in this subscription
        result.fail(FRONT_DOOR_SECRET, exc)
        result.fail(CDN_CUSTOM_DOMAIN, exc)
        return
    front_doors: list[Mapping[str, Any]] = []
    classics: list[Mapping[str, Any]] = []
    for profile in profiles:
        sku = str(mapping(profile.get("sku")).get("name") or "").lower()
        if text(profile.get("id")) is not None:
            (front_doors if sku in _FRONT_DOOR_SKUS else classics).append(profile)
    try:
        for profile in front_doors:
            result.bindings.extend(_front_door_profile(client, subscription_id, profile, result))
    except Exception as exc:  # noqa: BLE001 - as above
        result.fail(FRONT_DOOR_SECRET, exc)
    try:
        for profile in classics:
            result.bindings.extend(_classic_profile(client, subscription_id, profile))
    except Exception as exc:  # noqa: BLE001 - as above
        result.fail(CDN_CUSTOM_DOMAIN, exc)


# --- Front Door Standard/Premium ------------------------------------------------------------------------------


def _front_door_profile(
    client: Any, subscription_id: str, profile: Mapping[str, Any], result: ServiceRead
) -> list[Binding]:
    profile_id = str(text(profile.get("id")))
    profile_name = text(profile.get("name")) or profile_id.rsplit("/", 1)[-1]
    secrets = [
        binding
        for secret in list_children(client, profile_id, "secrets", API_VERSION)
        if (binding := _front_door_secret(subscription_id, profile_id, profile_name, secret)) is not None
    ]
    if not secrets:
        return []  # no Key Vault secret: its custom domains use managed certificates
    try:
        domains = list_children(client, profile_id, "customDomains", API_VERSION)
        hostnames = _domain_hostnames(domains)
    except Exception as exc:  # noqa: BLE001 - the secrets are still judged; only their hostnames are missing
        result.fail(FRONT_DOOR_CUSTOM_DOMAIN, exc)
        hostnames = {}
    return [
        replace(b, hostnames=hostnames.get((b.binding or "").lower(), ())) if b.problem is None else b for b in secrets
    ]


def _domain_hostnames(domains: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Secret name (lower-cased) -> the hostnames of the custom domains whose TLS uses it."""
    found: dict[str, list[Any]] = {}
    for domain in domains:
        props = properties(domain)
        name = last_segment(mapping(mapping(props.get("tlsSettings")).get("secret")).get("id"))
        if name is not None:
            found.setdefault(name, []).append(props.get("hostName"))
    return {key: hostnames_of(values) for key, values in found.items()}


def _front_door_secret(
    subscription_id: str, profile_id: str, profile_name: str, secret: Mapping[str, Any]
) -> Binding | None:
    parameters = properties(secret).get("parameters")
    if not isinstance(parameters, Mapping) or str(parameters.get("type") or "") != "CustomerCertificate":
        return None  # managed certificates and URL signing keys
    binding = text(secret.get("name"))
    source_id = mapping(parameters.get("secretSource")).get("id")
    match = VAULT_SECRET_ID.match(source_id) if isinstance(source_id, str) else None
    use_latest = parameters.get("useLatestVersion")
    version = text(parameters.get("secretVersion"))
    problem = None
    if match is None:
        problem = f"its secretSource.id {shown(source_id)} is not a Key Vault secret resource id"
    elif use_latest is not True and version is None:
        problem = "it neither follows the latest version (useLatestVersion) nor names a secretVersion"
    return Binding(
        subscription_id=subscription_id,
        resource_id=profile_id,
        resource_type=FRONT_DOOR_SECRET,
        service_name=profile_name,
        binding=binding,
        reference=text(source_id),
        vault_resource_id=match.group("vault") if match else None,
        vault_name=match.group("name") if match else None,
        certificate_name=match.group("secret") if match else None,
        version=None if use_latest is True else version,
        thumbprint=thumbprint(parameters.get("thumbprint")),
        served_expires_on=when(parameters.get("expirationDate")),
        problem=problem,
    )


# --- classic CDN ----------------------------------------------------------------------------------------------


def _classic_profile(client: Any, subscription_id: str, profile: Mapping[str, Any]) -> list[Binding]:
    profile_id = str(text(profile.get("id")))
    found = []
    for endpoint in list_children(client, profile_id, "endpoints", API_VERSION):
        endpoint_id = text(endpoint.get("id"))
        if endpoint_id is None:
            continue
        for domain in list_children(client, endpoint_id, "customDomains", API_VERSION):
            binding = _classic_domain(subscription_id, endpoint, domain)
            if binding is not None:
                found.append(binding)
    return found


def _classic_domain(subscription_id: str, endpoint: Mapping[str, Any], domain: Mapping[str, Any]) -> Binding | None:
    props = properties(domain)
    https = mapping(props.get("customHttpsParameters"))
    if str(https.get("certificateSource") or "").lower() != "azurekeyvault":
        return None  # HTTPS off, or a CDN managed certificate
    where = service(subscription_id, endpoint, CDN_CUSTOM_DOMAIN)
    binding = text(domain.get("name"))
    source = mapping(https.get("certificateSourceParameters"))
    vault_sub = text(source.get("subscriptionId")) or subscription_id
    group, vault, secret = (text(source.get(key)) for key in ("resourceGroupName", "vaultName", "secretName"))
    if not (group and vault and secret) or any("/" in part for part in (vault_sub, group, vault, secret)):
        named = ("subscriptionId", "resourceGroupName", "vaultName", "secretName")
        return broken(
            where,
            binding,
            "its certificateSourceParameters do not name a Key Vault secret "
            f"({', '.join(f'{k} {shown(source.get(k))}' for k in named)})",
        )
    vault_resource_id = f"/subscriptions/{vault_sub}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/{vault}"
    return by_vault_id(
        where,
        binding,
        vault_resource_id,
        vault,
        secret,
        version=text(source.get("secretVersion")),
        hostnames=hostnames_of([props.get("hostName")]),
    )
