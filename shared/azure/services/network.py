"""Application Gateways and Front Door (classic): ``Microsoft.Network`` services that serve Key Vault
certificates.

- ``Microsoft.Network/applicationGateways`` (2024-05-01, ApplicationGatewayListAll.json):
  ``properties.sslCertificates[].properties.keyVaultSecretId`` is a secret URI, versionless when it
  follows the latest version; the hostnames are those of the HTTPS ``httpListeners[]`` whose
  ``sslCertificate.id`` names it (``hostName``, or the v2 multi-site ``hostNames[]``). The gateway does
  not report which version it holds.
- ``Microsoft.Network/frontDoors`` (2021-06-01, FrontdoorListAll.json and the FrontendEndpoint
  definition of frontdoor.json): ``properties.frontendEndpoints[].properties`` ``hostName`` and
  ``customHttpsConfiguration`` with ``certificateSource`` ``AzureKeyVault`` and
  ``keyVaultCertificateSourceParameters`` {``vault.id``, ``secretName``, ``secretVersion``}; it follows
  the latest version when ``secretVersion`` is empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.models import Binding

from .common import (
    VAULT_ID,
    broken,
    by_vault_id,
    from_secret_uri,
    hostnames_of,
    last_segment,
    list_items,
    mapping,
    properties,
    service,
    shown,
    text,
)

APPLICATION_GATEWAY = "Microsoft.Network/applicationGateways"
FRONT_DOOR_CLASSIC = "Microsoft.Network/frontDoors"
API_VERSIONS = {APPLICATION_GATEWAY: "2024-05-01", FRONT_DOOR_CLASSIC: "2021-06-01"}


def gateway_bindings(client: Any, subscription_id: str, base: str) -> list[Binding]:
    url = f"{base}/{APPLICATION_GATEWAY}?api-version={API_VERSIONS[APPLICATION_GATEWAY]}"
    return [binding for item in list_items(client, url) for binding in _gateway(subscription_id, item)]


def _gateway(subscription_id: str, item: Mapping[str, Any]) -> list[Binding]:
    where = service(subscription_id, item, APPLICATION_GATEWAY)
    certificates = properties(item).get("sslCertificates") or []
    if not isinstance(certificates, list):
        return [broken(where, None, "sslCertificates is not a list")]
    hostnames = _listener_hostnames(properties(item).get("httpListeners"))
    found = []
    for entry in certificates:
        if not isinstance(entry, Mapping):
            continue
        binding = text(entry.get("name"))
        secret_id = properties(entry).get("keyVaultSecretId")
        if secret_id is None:
            continue  # a certificate uploaded to the gateway itself: no Key Vault to follow
        names = hostnames.get(last_segment(entry.get("id")) or (binding or "").lower(), ())
        found.append(from_secret_uri(where, binding, secret_id, hostnames=names))
    return found


def _listener_hostnames(listeners: Any) -> dict[str, tuple[str, ...]]:
    """sslCertificate name (lower-cased) -> the hostnames of the HTTPS listeners that present it. A
    listener with neither ``hostName`` nor ``hostNames`` answers on any name: nothing of its own to probe."""
    found: dict[str, list[Any]] = {}
    for listener in listeners if isinstance(listeners, list) else []:
        if not isinstance(listener, Mapping):
            continue
        props = properties(listener)
        if str(props.get("protocol") or "").lower() != "https":
            continue
        certificate = last_segment(mapping(props.get("sslCertificate")).get("id"))
        if certificate is None:
            continue
        many = props.get("hostNames")
        found.setdefault(certificate, []).extend([props.get("hostName"), *(many if isinstance(many, list) else [])])
    return {key: hostnames_of(values) for key, values in found.items()}


def front_door_classic_bindings(client: Any, subscription_id: str, base: str) -> list[Binding]:
    url = f"{base}/{FRONT_DOOR_CLASSIC}?api-version={API_VERSIONS[FRONT_DOOR_CLASSIC]}"
    return [binding for item in list_items(client, url) for binding in _front_door(subscription_id, item)]


def _front_door(subscription_id: str, item: Mapping[str, Any]) -> list[Binding]:
    where = service(subscription_id, item, FRONT_DOOR_CLASSIC)
    endpoints = properties(item).get("frontendEndpoints") or []
    if not isinstance(endpoints, list):
        return [broken(where, None, "frontendEndpoints is not a list")]
    found = []
    for endpoint in endpoints:
        props = properties(endpoint) if isinstance(endpoint, Mapping) else {}
        https = mapping(props.get("customHttpsConfiguration"))
        if str(https.get("certificateSource") or "").lower() != "azurekeyvault":
            continue  # HTTPS off, or a Front Door managed certificate
        binding = text(mapping(endpoint).get("name"))
        source = mapping(https.get("keyVaultCertificateSourceParameters"))
        vault_id = mapping(source.get("vault")).get("id")
        secret = text(source.get("secretName"))
        match = VAULT_ID.match(vault_id) if isinstance(vault_id, str) else None
        if match is None or secret is None:
            problem = (
                f"its vault id {shown(vault_id)} is not a Key Vault resource id"
                if match is None
                else "it names a vault but no secretName"
            )
            found.append(broken(where, binding, problem, reference=text(vault_id)))
            continue
        found.append(
            by_vault_id(
                where,
                binding,
                str(vault_id).rstrip("/"),
                match.group("name"),
                secret,
                version=text(source.get("secretVersion")),
                hostnames=hostnames_of([props.get("hostName")]),
            )
        )
    return found
