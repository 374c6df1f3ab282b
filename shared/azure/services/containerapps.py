"""Container Apps: Key Vault certificates of managed environments, and the apps' custom domains that
use them (2025-01-01).

- ``Microsoft.App/managedEnvironments/{e}/certificates`` (Certificates_ListByManagedEnvironment.json,
  Certificate_CreateOrUpdate_FromKeyVault.json): ``properties.certificateKeyVaultProperties``
  {``identity``, ``keyVaultUrl``}, a secret URI that follows the latest version when it has no version
  segment; what the environment holds is ``thumbprint`` and ``expirationDate``.
- ``Microsoft.App/containerApps`` (ContainerApps_ListBySubscription.json):
  ``properties.configuration.ingress.customDomains[]`` {``name``, ``bindingType``, ``certificateId``}
  give the hostnames each environment certificate serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shared.models import Binding

from .common import (
    ServiceRead,
    from_secret_uri,
    hostnames_of,
    list_children,
    list_items,
    mapping,
    properties,
    service,
    text,
    when,
)
from .common import thumbprint as hex_thumbprint

MANAGED_ENVIRONMENT = "Microsoft.App/managedEnvironments"
CONTAINER_APPS_CERTIFICATE = "Microsoft.App/managedEnvironments/certificates"
CONTAINER_APP = "Microsoft.App/containerApps"
API_VERSION = "2025-01-01"


def container_apps_bindings(client: Any, subscription_id: str, base: str, result: ServiceRead) -> None:
    """Every environment's Key Vault certificates, with the custom domains of the apps that use them.
    Apps that cannot be listed cost only the hostnames (a failure of ``Microsoft.App/containerApps``)."""
    try:
        found: list[Binding] = []
        for environment in list_items(client, f"{base}/{MANAGED_ENVIRONMENT}?api-version={API_VERSION}"):
            environment_id = text(environment.get("id"))
            if environment_id is None:
                continue
            certificates = list_children(client, environment_id, "certificates", API_VERSION)
            found.extend(b for item in certificates if (b := _certificate(subscription_id, item)))
    except Exception as exc:  # noqa: BLE001 - one type failing costs only that type in this subscription
        result.fail(CONTAINER_APPS_CERTIFICATE, exc)
        return
    hostnames: dict[str, list[Any]] = {}
    if found:
        try:
            for app in list_items(client, f"{base}/{CONTAINER_APP}?api-version={API_VERSION}"):
                ingress = mapping(mapping(properties(app).get("configuration")).get("ingress"))
                domains = ingress.get("customDomains")
                for domain in domains if isinstance(domains, list) else []:
                    certificate_id = text(mapping(domain).get("certificateId"))
                    if certificate_id and str(mapping(domain).get("bindingType") or "").lower() != "disabled":
                        hostnames.setdefault(certificate_id.rstrip("/").lower(), []).append(mapping(domain).get("name"))
        except Exception as exc:  # noqa: BLE001 - the certificates are still judged; only hostnames are missing
            result.fail(CONTAINER_APP, exc)
    result.bindings.extend(
        replace(b, hostnames=hostnames_of(hostnames.get(b.resource_id.lower(), []))) if b.problem is None else b
        for b in found
    )


def _certificate(subscription_id: str, item: Mapping[str, Any]) -> Binding | None:
    source = properties(item).get("certificateKeyVaultProperties")
    if not isinstance(source, Mapping):
        return None  # a certificate uploaded to the environment, not from Key Vault
    where = service(subscription_id, item, CONTAINER_APPS_CERTIFICATE)
    props = properties(item)
    return from_secret_uri(
        where,
        where.name,
        source.get("keyVaultUrl"),
        thumbprint=hex_thumbprint(props.get("thumbprint")),
        served_expires_on=when(props.get("expirationDate")),
    )
