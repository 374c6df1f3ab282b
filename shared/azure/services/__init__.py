"""Services that serve Key Vault certificates, from Resource Manager, mapped into :class:`Binding` records
(SPEC §2, CertificateBinding): one module per service family, one list loop (``common.list_items``).

Offers :func:`read_services` (every reference of one subscription, never raises), :class:`ServiceRead`,
:class:`ServiceListError`, :data:`SERVICE_TYPES`, :func:`parse_secret_uri` and :func:`hostnames_of`.

Reads go through the Key Vault management client's own pipeline (``send_request``): the same credential,
transport, ``ARM_ENDPOINT``, token scope and retries as the vault discovery, without adding eight
management SDKs whose models we would only read a few fields from.

Why Resource Manager lists and not Resource Graph: most references live in child resources (Front Door
secrets and custom domains, classic CDN endpoints' custom domains, Container Apps environment
certificates) that Resource Graph's ``resources`` table does not carry, so Resource Graph would replace
only the top-level lists (gateways, API Management, Front Door classic, App Service) and the children
would still be one Resource Manager list per parent. docs/SERVICES.md has the figures and the choice.

A type that cannot be listed in a subscription is reported as a :class:`ServiceListError` (one
``not_assessed`` finding for that subscription and type); one malformed item becomes a binding with a
``problem``, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from shared.azure.clients import AzureClients
from shared.azure.keyvault import read_error
from shared.models import Binding

from . import web
from .apim import API_MANAGEMENT, api_management_bindings
from .cdn import CDN_CUSTOM_DOMAIN, FRONT_DOOR_CUSTOM_DOMAIN, FRONT_DOOR_SECRET, cdn_bindings
from .common import MAX_HOSTNAMES, ServiceListError, ServiceRead, hostnames_of, parse_secret_uri
from .containerapps import CONTAINER_APP, CONTAINER_APPS_CERTIFICATE, container_apps_bindings
from .network import APPLICATION_GATEWAY, FRONT_DOOR_CLASSIC, front_door_classic_bindings, gateway_bindings
from .web import APP_SERVICE_CERTIFICATE, APP_SERVICE_SITE

SERVICE_TYPES: tuple[str, ...] = (
    APPLICATION_GATEWAY,
    FRONT_DOOR_SECRET,
    API_MANAGEMENT,
    APP_SERVICE_CERTIFICATE,
    APP_SERVICE_SITE,
    FRONT_DOOR_CLASSIC,
    CDN_CUSTOM_DOMAIN,
    CONTAINER_APPS_CERTIFICATE,
)

__all__ = [
    "API_MANAGEMENT",
    "APPLICATION_GATEWAY",
    "APP_SERVICE_CERTIFICATE",
    "APP_SERVICE_SITE",
    "CDN_CUSTOM_DOMAIN",
    "CONTAINER_APP",
    "CONTAINER_APPS_CERTIFICATE",
    "FRONT_DOOR_CLASSIC",
    "FRONT_DOOR_CUSTOM_DOMAIN",
    "FRONT_DOOR_SECRET",
    "MAX_HOSTNAMES",
    "SERVICE_TYPES",
    "ServiceListError",
    "ServiceRead",
    "hostnames_of",
    "parse_secret_uri",
    "read_services",
]

_Simple = Callable[[Any, str, str], list[Binding]]
_SIMPLE: tuple[tuple[str, _Simple], ...] = (
    (APPLICATION_GATEWAY, gateway_bindings),
    (API_MANAGEMENT, api_management_bindings),
    (FRONT_DOOR_CLASSIC, front_door_classic_bindings),
)


def read_services(clients: AzureClients, subscription_id: str) -> ServiceRead:
    """Every Key Vault reference of the service types in one subscription. Never raises."""
    result = ServiceRead(subscription_id)
    try:
        client = clients.resource_manager(subscription_id)
    except Exception as exc:  # noqa: BLE001 - e.g. a credential that cannot be built: every type fails alike
        error = read_error(exc)
        result.failures.extend(ServiceListError(subscription_id, kind, error) for kind in SERVICE_TYPES)
        return result
    base = f"/subscriptions/{quote(subscription_id, safe='')}/providers"
    for kind, reader in _SIMPLE:
        try:
            result.bindings.extend(reader(client, subscription_id, base))
        except Exception as exc:  # noqa: BLE001 - one type failing costs only that type in this subscription
            result.fail(kind, exc)
    _app_service(client, subscription_id, base, result)
    cdn_bindings(client, subscription_id, base, result)
    container_apps_bindings(client, subscription_id, base, result)
    return result


def _app_service(client: Any, subscription_id: str, base: str, result: ServiceRead) -> None:
    """Certificates first: a site's binding is judged against the certificate resource it names."""
    try:
        certificates = web.certificate_items(client, base)
    except Exception as exc:  # noqa: BLE001 - without the certificates no site binding can be placed either
        result.fail(web.APP_SERVICE_CERTIFICATE, exc)
        result.fail(web.APP_SERVICE_SITE, exc)
        return
    result.bindings.extend(web.certificate_bindings(subscription_id, certificates))
    try:
        result.bindings.extend(web.site_bindings(client, subscription_id, base, certificates))
    except Exception as exc:  # noqa: BLE001 - as above
        result.fail(web.APP_SERVICE_SITE, exc)
