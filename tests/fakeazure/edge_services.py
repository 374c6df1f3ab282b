"""The fake Resource Manager's newer service types (issue 17): App Service sites, Front Door classic,
classic CDN custom domains and Container Apps, plus what a service reports serving.

Shapes (Azure/azure-rest-api-specs; the definitions named where no list example carries the field):
- ``specification/web/resource-manager/Microsoft.Web/AppService/stable/2024-04-01/WebApps.json``,
  definitions ``Site`` and ``HostNameSslState`` (``name``, ``sslState``, ``thumbprint``, ``hostType``,
  ``virtualIP``, ``toUpdate``); ``az webapp show`` prints the same list with ``ipBasedSslState``.
- ``specification/frontdoor/resource-manager/Microsoft.Network/stable/2021-06-01/examples/
  FrontdoorListAll.json`` and ``FrontdoorFrontendEndpointList.json`` (``frontendEndpoints[]`` with
  ``hostName``), with the ``customHttpsConfiguration`` of ``FrontdoorEnableHttps.json``
  (``certificateSource`` ``AzureKeyVault``, ``keyVaultCertificateSourceParameters``).
- ``specification/cdn/resource-manager/Microsoft.Cdn/stable/2024-02-01/examples/
  Endpoints_ListByProfile.json`` and ``CustomDomains_ListByEndpoint.json`` (``hostName``,
  ``customHttpsProvisioningState``), with ``customHttpsParameters`` of
  ``CustomDomains_EnableCustomHttpsUsingBYOC.json`` (``certificateSourceParameters``: ``typeName``,
  ``subscriptionId``, ``resourceGroupName``, ``vaultName``, ``secretName``, ``secretVersion``,
  ``updateRule``, ``deleteRule``).
- ``specification/app/resource-manager/Microsoft.App/stable/2025-01-01/examples/
  Certificates_ListByManagedEnvironment.json`` (``thumbprint``, ``expirationDate``, ``subjectName``,
  ``issuer``, ``valid``) with ``certificateKeyVaultProperties`` of
  ``Certificate_CreateOrUpdate_FromKeyVault.json``, and ``ContainerApps_ListBySubscription.json``
  (``configuration.ingress.customDomains[]``: ``name``, ``bindingType``, ``certificateId``).

A served thumbprint token is ``"current"`` (the vault's current version), ``"previous"`` (the newest older
version, with its expiry) or literal hex.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .estate import Json, Subscription
from .wire import thumbprint, version_thumbprint

if TYPE_CHECKING:
    from .server import FakeAzure


# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------


def app_service_site(name: str, *bindings: Mapping[str, Any], resource_group: str = "rg-web", **extra: Any) -> Json:
    """A site; each binding from :func:`site_binding`."""
    return {
        "type": "appServiceSite",
        "name": name,
        "resource_group": resource_group,
        "bindings": [dict(b) for b in bindings],
        **extra,
    }


def site_binding(
    host: str, vault: str | None = None, certificate: str | None = None, *, thumbprint: str = "current", **extra: Any
) -> Json:
    """``ssl_state``: SniEnabled (default), IpBasedEnabled or Disabled."""
    return {"host": host, "vault": vault, "certificate": certificate, "thumbprint": thumbprint, **extra}


def front_door_classic(name: str, *endpoints: Mapping[str, Any], resource_group: str = "rg-edge", **extra: Any) -> Json:
    return {
        "type": "frontDoorClassic",
        "name": name,
        "resource_group": resource_group,
        "endpoints": [dict(e) for e in endpoints],
        **extra,
    }


def frontend_endpoint(
    name: str, host: str, vault: str | None = None, certificate: str | None = None, **extra: Any
) -> Json:
    """No vault: HTTPS with a Front Door managed certificate. ``version`` as for the other types."""
    return {"name": name, "host": host, "vault": vault, "certificate": certificate, **extra}


def cdn_classic(name: str, *endpoints: Mapping[str, Any], resource_group: str = "rg-cdn", **extra: Any) -> Json:
    return {
        "type": "cdnClassic",
        "name": name,
        "resource_group": resource_group,
        "endpoints": [dict(e) for e in endpoints],
        **extra,
    }


def cdn_endpoint(name: str, *domains: Mapping[str, Any]) -> Json:
    return {"name": name, "domains": [dict(d) for d in domains]}


def cdn_domain(name: str, host: str, vault: str | None = None, certificate: str | None = None, **extra: Any) -> Json:
    return {"name": name, "host": host, "vault": vault, "certificate": certificate, **extra}


def container_apps_environment(
    name: str, *certificates: Mapping[str, Any], resource_group: str = "rg-apps", **extra: Any
) -> Json:
    return {
        "type": "containerAppsEnvironment",
        "name": name,
        "resource_group": resource_group,
        "certificates": [dict(c) for c in certificates],
        **extra,
    }


def environment_certificate(
    name: str, vault: str | None = None, certificate: str | None = None, *, served: str = "current", **extra: Any
) -> Json:
    """``hostnames``: the custom domains of an app that use it; ``version`` pins the keyVaultUrl."""
    return {"name": name, "vault": vault, "certificate": certificate, "served": served, **extra}


# --------------------------------------------------------------------------------------------------
# What a service reports serving
# --------------------------------------------------------------------------------------------------


def served(
    azure: FakeAzure,
    ref: Mapping[str, Any],
    token: Any = "current",  # noqa: S107 - a spec token, not a password
) -> tuple[str | None, dt.datetime | None]:
    """(hex thumbprint, expiry) of what a service holds for a reference: its ``served`` token."""
    from .services import _certificate

    certificate = _certificate(azure, ref)
    if certificate is None:
        return (str(token).upper() if token not in ("current", "previous") else None), None
    if token == "current":
        return thumbprint(certificate).hex().upper(), certificate.expires_on
    if token == "previous" and certificate.older_versions:
        older = certificate.older_versions[-1]
        synthetic = azure.estate.synthetic_thumbprints
        return version_thumbprint(certificate, older, synthetic).hex().upper(), older.expires_on
    return str(token).upper(), None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


def site(azure: FakeAzure, sub: Subscription, spec: Mapping[str, Any]) -> Json:
    from .services import _resource_id

    name = spec["name"]
    states: list[Json] = [
        {
            "name": f"{name}.azurewebsites.net",
            "sslState": "Disabled",
            "ipBasedSslState": "NotConfigured",
            "virtualIP": None,
            "thumbprint": None,
            "toUpdate": None,
            "hostType": "Standard",
        },
        {
            "name": f"{name}.scm.azurewebsites.net",
            "sslState": "Disabled",
            "ipBasedSslState": "NotConfigured",
            "virtualIP": None,
            "thumbprint": None,
            "toUpdate": None,
            "hostType": "Repository",
        },
    ]
    for ref in spec.get("bindings", []):
        held, _ = served(azure, ref, ref.get("thumbprint", "current"))
        states.append(
            {
                "name": ref["host"],
                "sslState": ref.get("ssl_state", "SniEnabled"),
                "ipBasedSslState": "NotConfigured",
                "virtualIP": None,
                "thumbprint": held,
                "toUpdate": None,
                "hostType": "Standard",
            }
        )
    return {
        "id": _resource_id(sub, spec, "Microsoft.Web/sites"),
        "name": name,
        "type": "Microsoft.Web/sites",
        "kind": "app",
        "location": spec.get("location", "West Europe"),
        "properties": {
            "state": "Running",
            "hostNames": [s["name"] for s in states if s["hostType"] == "Standard"],
            "enabled": True,
            "enabledHostNames": [s["name"] for s in states],
            "hostNameSslStates": states,
            "defaultHostName": f"{name}.azurewebsites.net",
            "httpsOnly": True,
        },
    }


def front_door(azure: FakeAzure, sub: Subscription, spec: Mapping[str, Any]) -> Json:
    from .services import _omit, _resource_id, _vault_resource_id, _version

    resource_id = _resource_id(sub, spec, "Microsoft.Network/frontDoors")
    endpoints = []
    for ref in spec.get("endpoints", []):
        properties: Json = {
            "hostName": ref["host"],
            "sessionAffinityEnabledState": "Disabled",
            "resourceState": "Enabled",
            "customHttpsProvisioningState": "Enabled",
            "customHttpsProvisioningSubstate": "CertificateDeployed",
        }
        if ref.get("vault") or "vault_id" in ref:
            source: Json = {
                "vault": {"id": ref["vault_id"] if "vault_id" in ref else _vault_resource_id(azure, ref)},
                "secretName": ref.get("certificate"),
                "secretVersion": _version(azure, ref),
            }
            properties["customHttpsConfiguration"] = {
                "certificateSource": "AzureKeyVault",
                "protocolType": "ServerNameIndication",
                "minimumTlsVersion": "1.2",
                "keyVaultCertificateSourceParameters": _omit(source, ref),
            }
        else:
            properties["customHttpsConfiguration"] = {
                "certificateSource": "FrontDoor",
                "protocolType": "ServerNameIndication",
                "minimumTlsVersion": "1.2",
                "frontDoorCertificateSourceParameters": {"certificateType": "Dedicated"},
            }
        endpoints.append(
            {
                "id": f"{resource_id}/frontendEndpoints/{ref['name']}",
                "name": ref["name"],
                "type": "Microsoft.Network/frontDoors/frontendEndpoints",
                "properties": properties,
            }
        )
    return {
        "id": resource_id,
        "name": spec["name"],
        "type": "Microsoft.Network/frontDoors",
        "location": "global",
        "properties": {
            "provisioningState": "Succeeded",
            "resourceState": "Enabled",
            "enabledState": "Enabled",
            "frontendEndpoints": endpoints,
            "cname": f"{spec['name']}.azurefd.net",
        },
    }


def cdn_profile(sub: Subscription, spec: Mapping[str, Any]) -> Json:
    from .services import _resource_id

    return {
        "name": spec["name"],
        "id": _resource_id(sub, spec, "Microsoft.Cdn/profiles"),
        "type": "Microsoft.Cdn/profiles",
        "location": "Global",
        "kind": "cdn",
        "sku": {"name": spec.get("sku", "Standard_Microsoft")},
        "properties": {"provisioningState": "Succeeded", "resourceState": "Active"},
    }


def cdn_endpoints(sub: Subscription, spec: Mapping[str, Any]) -> list[Json]:
    from .services import _resource_id

    profile_id = _resource_id(sub, spec, "Microsoft.Cdn/profiles")
    return [
        {
            "name": endpoint["name"],
            "id": f"{profile_id}/endpoints/{endpoint['name']}",
            "type": "Microsoft.Cdn/profiles/endpoints",
            "location": "Global",
            "properties": {
                "hostName": f"{endpoint['name']}.azureedge.net",
                "originHostHeader": "www.contoso.com",
                "provisioningState": "Succeeded",
                "resourceState": "Running",
                "isHttpAllowed": True,
                "isHttpsAllowed": True,
            },
        }
        for endpoint in spec.get("endpoints", [])
    ]


def cdn_domains(azure: FakeAzure, sub: Subscription, spec: Mapping[str, Any], endpoint_name: str) -> list[Json] | None:
    from .services import _omit, _resource_id, _version

    endpoint = next((e for e in spec.get("endpoints", []) if e["name"].lower() == endpoint_name), None)
    if endpoint is None:
        return None
    endpoint_id = f"{_resource_id(sub, spec, 'Microsoft.Cdn/profiles')}/endpoints/{endpoint['name']}"
    items = []
    for ref in endpoint.get("domains", []):
        properties: Json = {
            "hostName": ref["host"],
            "resourceState": "Active",
            "provisioningState": "Succeeded",
            "customHttpsProvisioningState": "Enabled",
            "customHttpsProvisioningSubstate": "CertificateDeployed",
            "validationData": None,
        }
        if ref.get("vault"):
            vault = azure.estate.vault(ref["vault"])
            parameters: Json = {
                "typeName": "KeyVaultCertificateSourceParameters",
                "subscriptionId": vault.subscription_id,
                "resourceGroupName": vault.resource_group,
                "vaultName": vault.name,
                "secretName": ref.get("certificate"),
                "secretVersion": _version(azure, ref),
                "updateRule": "NoAction",
                "deleteRule": "NoAction",
            }
            properties["customHttpsParameters"] = {
                "certificateSource": "AzureKeyVault",
                "protocolType": "ServerNameIndication",
                "minimumTlsVersion": "TLS12",
                "certificateSourceParameters": _omit(parameters, ref),
            }
        items.append(
            {
                "name": ref["name"],
                "id": f"{endpoint_id}/customdomains/{ref['name']}",
                "type": "Microsoft.Cdn/profiles/endpoints/customdomains",
                "properties": properties,
            }
        )
    return items


def managed_environment(sub: Subscription, spec: Mapping[str, Any]) -> Json:
    from .services import _resource_id

    return {
        "id": _resource_id(sub, spec, "Microsoft.App/managedEnvironments"),
        "name": spec["name"],
        "type": "Microsoft.App/managedEnvironments",
        "location": spec.get("location", "West Europe"),
        "properties": {
            "provisioningState": "Succeeded",
            "defaultDomain": f"{spec['name']}.westeurope.azurecontainerapps.io",
        },
    }


def environment_certificates(azure: FakeAzure, sub: Subscription, spec: Mapping[str, Any]) -> list[Json]:
    from .services import _certificate, _omit, _resource_id, _secret_uri

    environment_id = _resource_id(sub, spec, "Microsoft.App/managedEnvironments")
    items = []
    for ref in spec.get("certificates", []):
        held, expires = served(azure, ref, ref.get("served", "current"))
        certificate = _certificate(azure, ref)
        properties: Json = {
            "provisioningState": "Succeeded",
            "subjectName": certificate.subject.removeprefix("CN=") if certificate else ref["name"],
            "subjectAlternativeNames": [],
            "issuer": "Contoso",
            "issueDate": _iso(certificate.created_on) if certificate else None,
            "expirationDate": _iso(expires),
            "thumbprint": held,
            "valid": True,
        }
        if ref.get("vault") or "secret_id" in ref:
            properties["certificateKeyVaultProperties"] = {"identity": "system", "keyVaultUrl": _secret_uri(azure, ref)}
        items.append(
            {
                "id": f"{environment_id}/certificates/{ref['name']}",
                "name": ref["name"],
                "type": "Microsoft.App/managedEnvironments/certificates",
                "location": "West Europe",
                "properties": _omit(properties, ref),
            }
        )
    return items


def container_apps(sub: Subscription, specs: Sequence[Mapping[str, Any]]) -> list[Json]:
    """One app per environment, whose ingress serves each certificate's ``hostnames``."""
    from .services import _resource_id

    apps = []
    for spec in specs:
        environment_id = _resource_id(sub, spec, "Microsoft.App/managedEnvironments")
        domains = [
            {"name": host, "bindingType": "SniEnabled", "certificateId": f"{environment_id}/certificates/{ref['name']}"}
            for ref in spec.get("certificates", [])
            for host in ref.get("hostnames") or []
        ]
        name = f"{spec['name']}-app"
        app_spec = {"name": name, "resource_group": spec.get("resource_group")}
        apps.append(
            {
                "id": _resource_id(sub, app_spec, "Microsoft.App/containerApps"),
                "name": name,
                "type": "Microsoft.App/containerApps",
                "location": "West Europe",
                "properties": {
                    "provisioningState": "Succeeded",
                    "managedEnvironmentId": environment_id,
                    "environmentId": environment_id,
                    "configuration": {
                        "activeRevisionsMode": "Single",
                        "ingress": {
                            "external": True,
                            "targetPort": 8080,
                            "transport": "auto",
                            "customDomains": domains,
                        },
                    },
                },
            }
        )
    return apps
