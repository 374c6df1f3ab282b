"""API Management services (``Microsoft.ApiManagement/service``, 2024-05-01;
ApiManagementListServiceBySubscription.json): ``properties.hostnameConfigurations[]`` with a
``keyVaultId`` secret URI (versionless when it follows the latest version), the ``hostName`` it serves
clients on, and what the service reports holding, ``certificate.thumbprint`` / ``certificate.expiry``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.models import Binding

from .common import (
    broken,
    from_secret_uri,
    hostnames_of,
    list_items,
    mapping,
    properties,
    service,
    text,
    thumbprint,
    when,
)

API_MANAGEMENT = "Microsoft.ApiManagement/service"
API_VERSION = "2024-05-01"


def api_management_bindings(client: Any, subscription_id: str, base: str) -> list[Binding]:
    url = f"{base}/{API_MANAGEMENT}?api-version={API_VERSION}"
    return [binding for item in list_items(client, url) for binding in _service(subscription_id, item)]


def _service(subscription_id: str, item: Mapping[str, Any]) -> list[Binding]:
    where = service(subscription_id, item, API_MANAGEMENT)
    configurations = properties(item).get("hostnameConfigurations") or []
    if not isinstance(configurations, list):
        return [broken(where, None, "hostnameConfigurations is not a list")]
    found = []
    for entry in configurations:
        if not isinstance(entry, Mapping) or entry.get("keyVaultId") is None:
            continue  # built-in or uploaded certificates
        held = mapping(entry.get("certificate"))
        found.append(
            from_secret_uri(
                where,
                text(entry.get("hostName")),
                entry.get("keyVaultId"),
                thumbprint=thumbprint(held.get("thumbprint")),
                served_expires_on=when(held.get("expiry")),
                hostnames=hostnames_of([entry.get("hostName")]),
            )
        )
    return found
