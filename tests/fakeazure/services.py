"""The fake Resource Manager's services that serve Key Vault certificates (CertificateBinding, SPEC §2).

Four list-by-subscription calls and Front Door secrets under their profile, paged with ``nextLink``,
with subscription faults (``applicationGateways``, ``cdnProfiles``, ``cdnSecrets``, ``apiManagement``,
``webCertificates``) that answer like Resource Manager does (403 ``AuthorizationFailed``).

Wire shapes are those of the azure-rest-api-specs examples (Azure/azure-rest-api-specs):
- ``specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/examples/
  ApplicationGatewayListAll.json`` (a gateway and its ``sslCertificates[]`` with ``properties``;
  ``keyVaultSecretId`` is the property of ApplicationGatewaySslCertificatePropertiesFormat);
- ``specification/cdn/Cdn.Management/examples/2025-06-01/Secrets_ListByProfile.json`` (a
  ``CustomerCertificate`` secret: ``secretSource.id``, ``secretVersion``, ``useLatestVersion``,
  ``thumbprint``, ``subject``, ``expirationDate``) and ``.../Profiles_List.json`` (``sku.name``, ``kind``);
- ``specification/apimanagement/ApiManagement.Management/examples/2024-10-01-preview/
  ApiManagementListServiceBySubscription.json`` (``hostnameConfigurations[]`` with ``type``,
  ``hostName``, ``keyVaultId``, ``certificateSource``, ``certificate``, ``defaultSslBinding``);
- ``specification/web/AppService.Management/tsp-output/examples/2021-02-01/Certificates_List.json``
  (``expirationDate``, ``hostNames``, ``issuer``, ``subjectName``, ``thumbprint``) plus the
  CertificateProperties fields ``keyVaultId``, ``keyVaultSecretName`` and ``keyVaultSecretStatus``
  (its values, e.g. ``AzureServiceUnauthorizedToAccessKeyVault``, from the same spec's enum).

A service spec names its references by vault and certificate name; ids and URIs are made when a request
comes (vault ports exist only then). ``version`` is ``null`` (versionless), ``"current"``,
``"previous"`` (the newest older version), ``"oldest"`` or a literal version id; an App Service
``thumbprint`` is ``"current"``, ``"previous"`` or literal hex. ``secret_id`` replaces the rendered
reference as it is (malformed ids, other tenants), and ``omit`` lists fields left out.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import edge_services
from .estate import Certificate, Json, Subscription
from .http import Request, Response
from .wire import arm_error, b64url, thumbprint, version_thumbprint

if TYPE_CHECKING:
    from .server import FakeAzure, _Outcome

# operation name -> (path under /subscriptions/{id}, fault op, service spec type)
_ROUTES: dict[tuple[str, ...], tuple[str, str, str]] = {
    ("providers", "microsoft.network", "applicationgateways"): (
        "list_application_gateways",
        "applicationGateways",
        "applicationGateway",
    ),
    ("providers", "microsoft.cdn", "profiles"): ("list_cdn_profiles", "cdnProfiles", "frontDoor"),
    ("providers", "microsoft.apimanagement", "service"): ("list_api_management", "apiManagement", "apiManagement"),
    ("providers", "microsoft.web", "certificates"): (
        "list_web_certificates",
        "webCertificates",
        "appServiceCertificate",
    ),
    ("providers", "microsoft.web", "sites"): ("list_web_sites", "webSites", "appServiceSite"),
    ("providers", "microsoft.network", "frontdoors"): ("list_front_doors", "frontDoors", "frontDoorClassic"),
    ("providers", "microsoft.app", "managedenvironments"): (
        "list_managed_environments",
        "managedEnvironments",
        "containerAppsEnvironment",
    ),
    ("providers", "microsoft.app", "containerapps"): (
        "list_container_apps",
        "containerApps",
        "containerAppsEnvironment",
    ),
}
# Lists under one parent resource: operation -> (fault op, the parent's spec types)
_CHILDREN: dict[str, tuple[str, tuple[str, ...]]] = {
    "list_cdn_secrets": ("cdnSecrets", ("frontDoor",)),
    "list_cdn_custom_domains": ("cdnCustomDomains", ("frontDoor",)),
    "list_cdn_endpoints": ("cdnEndpoints", ("frontDoor", "cdnClassic")),
    "list_cdn_endpoint_domains": ("cdnEndpointDomains", ("cdnClassic",)),
    "list_container_apps_certificates": ("containerAppsCertificates", ("containerAppsEnvironment",)),
}
OPERATIONS = frozenset({route[0] for route in _ROUTES.values()} | set(_CHILDREN))
_ACTIONS = {
    "applicationGateways": "Microsoft.Network/applicationGateways/read",
    "cdnProfiles": "Microsoft.Cdn/profiles/read",
    "cdnSecrets": "Microsoft.Cdn/profiles/secrets/read",
    "cdnCustomDomains": "Microsoft.Cdn/profiles/customdomains/read",
    "apiManagement": "Microsoft.ApiManagement/service/read",
    "webCertificates": "Microsoft.Web/certificates/read",
    "webSites": "Microsoft.Web/sites/read",
    "frontDoors": "Microsoft.Network/frontDoors/read",
    "cdnEndpoints": "Microsoft.Cdn/profiles/endpoints/read",
    "cdnEndpointDomains": "Microsoft.Cdn/profiles/endpoints/customdomains/read",
    "managedEnvironments": "Microsoft.App/managedEnvironments/read",
    "containerApps": "Microsoft.App/containerApps/read",
    "containerAppsCertificates": "Microsoft.App/managedEnvironments/certificates/read",
}


# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------


def _reference(vault: str | None, certificate: str | None, **extra: Any) -> Json:
    spec: Json = {"vault": vault, "certificate": certificate}
    spec.update({key: value for key, value in extra.items() if value is not None})
    return spec


def gateway(name: str, *certificates: Mapping[str, Any], resource_group: str = "rg-network", **extra: Any) -> Json:
    """An Application Gateway; each certificate from :func:`ssl_certificate`."""
    return {"type": "applicationGateway", "name": name, "resource_group": resource_group,
            "sslCertificates": [dict(c) for c in certificates], **extra}  # fmt: skip


def ssl_certificate(name: str, vault: str | None = None, certificate: str | None = None, **extra: Any) -> Json:
    """``version``: None (versionless), "current", "previous", "oldest" or an id; ``secret_id`` literal."""
    return {"name": name, **_reference(vault, certificate, **extra)}


def front_door(name: str, *secrets_: Mapping[str, Any], resource_group: str = "rg-edge", **extra: Any) -> Json:
    return {"type": "frontDoor", "name": name, "resource_group": resource_group,
            "secrets": [dict(s) for s in secrets_], **extra}  # fmt: skip


def front_door_secret(
    name: str, vault: str | None = None, certificate: str | None = None, *, use_latest: bool = True, **extra: Any
) -> Json:
    return {"name": name, "use_latest": use_latest, **_reference(vault, certificate, **extra)}


def api_management(name: str, *hostnames: Mapping[str, Any], resource_group: str = "rg-api", **extra: Any) -> Json:
    return {"type": "apiManagement", "name": name, "resource_group": resource_group,
            "hostnames": [dict(h) for h in hostnames], **extra}  # fmt: skip


def apim_hostname(host: str, vault: str | None = None, certificate: str | None = None, **extra: Any) -> Json:
    return {"host": host, **_reference(vault, certificate, **extra)}


def app_service_certificate(
    name: str,
    vault: str | None = None,
    certificate: str | None = None,
    *,
    thumbprint: str = "current",
    status: str = "Succeeded",
    resource_group: str = "rg-web",
    **extra: Any,
) -> Json:
    return {"type": "appServiceCertificate", "name": name, "resource_group": resource_group,
            "thumbprint": thumbprint, "status": status, **_reference(vault, certificate, **extra)}  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Routing and answers
# --------------------------------------------------------------------------------------------------


def arm_operation(rest: Sequence[str]) -> str | None:
    """The operation of a path under ``/subscriptions/{id}`` (lower-cased segments), if it is ours."""
    route = _ROUTES.get(tuple(rest))
    if route is not None:
        return route[0]
    if len(rest) < 7 or rest[0] != "resourcegroups" or rest[2] != "providers":
        return None
    if rest[3:5] == ["microsoft.cdn", "profiles"]:
        if len(rest) == 7:
            return {"secrets": "list_cdn_secrets", "customdomains": "list_cdn_custom_domains",
                    "endpoints": "list_cdn_endpoints"}.get(rest[6])  # fmt: skip
        if len(rest) == 9 and rest[6] == "endpoints" and rest[8] == "customdomains":
            return "list_cdn_endpoint_domains"
    if rest[3:5] == ["microsoft.app", "managedenvironments"] and len(rest) == 7 and rest[6] == "certificates":
        return "list_container_apps_certificates"
    return None


def respond(azure: FakeAzure, sub: Subscription, rest: Sequence[str], request: Request, outcome: _Outcome) -> Response:
    """Answer one of the service lists (called by FakeAzure._arm under its lock)."""
    operation = outcome.operation
    kinds: tuple[str, ...]
    if operation in _CHILDREN:
        fault_op, kinds = _CHILDREN[operation]
    else:
        _, fault_op, kind = _ROUTES[tuple(rest)]
        kinds = ("frontDoor", "cdnClassic") if kind == "frontDoor" else (kind,)
    fault = sub.faults.get(fault_op)
    if azure._fire(fault, outcome):
        assert fault is not None
        scope = f"/subscriptions/{sub.subscription_id}"
        claims = outcome.claims or {}
        return azure._fault_response(fault, "arm", lambda status, code: _message(status, fault_op, scope, claims))
    specs = [s for s in sub.services if s.get("type") in kinds]
    if operation in _CHILDREN:
        parent = next((s for s in specs if s["name"].lower() == rest[5] and _group(s).lower() == rest[1]), None)
        found = None if parent is None else _children(azure, sub, operation, parent, rest)
        if found is None:
            provider = "/".join(rest[3 : 5 if parent is None else 8])
            message = f"The Resource '{provider}/{rest[5]}' under resource group '{rest[1]}' was not found."
            return Response.json(404, arm_error("ResourceNotFound", message))
        items = found
    elif operation == "list_container_apps":
        items = edge_services.container_apps(sub, specs)
    else:
        items = [_render(azure, sub, spec) for spec in specs]
    size = sub.service_page_size or azure.estate.vault_page_size
    return azure._arm_page(request, items, size, "$top")


def _render(azure: FakeAzure, sub: Subscription, spec: Mapping[str, Any]) -> Json:
    kind = spec["type"]
    if kind == "cdnClassic":
        return edge_services.cdn_profile(sub, spec)
    if kind == "containerAppsEnvironment":
        return edge_services.managed_environment(sub, spec)
    render = {
        "applicationGateway": _gateway,
        "frontDoor": _front_door_profile,
        "apiManagement": _api_management,
        "appServiceCertificate": _web_certificate,
        "appServiceSite": edge_services.site,
        "frontDoorClassic": edge_services.front_door,
    }[kind]
    return render(azure, sub, spec)


def _children(
    azure: FakeAzure, sub: Subscription, operation: str, parent: Mapping[str, Any], rest: Sequence[str]
) -> list[Json] | None:
    """A child list of one parent; None when the child's own parent (a CDN endpoint) does not exist."""
    if operation == "list_cdn_secrets":
        return [_front_door_secret(azure, sub, parent, secret) for secret in parent.get("secrets", [])]
    if operation == "list_cdn_custom_domains":
        return _front_door_custom_domains(sub, parent)
    if operation == "list_cdn_endpoints":
        return edge_services.cdn_endpoints(sub, parent)
    if operation == "list_cdn_endpoint_domains":
        return edge_services.cdn_domains(azure, sub, parent, rest[7])
    return edge_services.environment_certificates(azure, sub, parent)


def _message(status: int, fault_op: str, scope: str, caller: Mapping[str, Any]) -> str:
    oid = caller.get("oid", "")
    if status == 403:
        return (
            f"The client '{oid}' with object id '{oid}' does not have authorization to perform action "
            f"'{_ACTIONS[fault_op]}' over scope '{scope}' or the scope is invalid. If access was recently "
            "granted, please refresh your credentials."
        )
    if status == 429:
        return "Number of 'read' requests for subscription exceeded the limit of '12000' for time interval '01:00:00'."
    if status >= 500:
        return "The server encountered an internal error. Please retry the request."
    return f"The request failed with status {status}."


# --------------------------------------------------------------------------------------------------
# Rendering specs into the REST shapes
# --------------------------------------------------------------------------------------------------


def _group(spec: Mapping[str, Any]) -> str:
    return str(spec.get("resource_group") or "rg-services")


def _resource_id(sub: Subscription, spec: Mapping[str, Any], provider: str) -> str:
    return f"/subscriptions/{sub.subscription_id}/resourceGroups/{_group(spec)}/providers/{provider}/{spec['name']}"


def _certificate(azure: FakeAzure, ref: Mapping[str, Any]) -> Certificate | None:
    vault_name, name = ref.get("vault"), ref.get("certificate")
    if not vault_name or not name:
        return None
    try:
        return azure.estate.vault(vault_name).certificate(name)
    except KeyError:
        return None


def _version(azure: FakeAzure, ref: Mapping[str, Any]) -> str | None:
    token = ref.get("version")
    if token is None:
        return None
    certificate = _certificate(azure, ref)
    if certificate is None:
        return str(token) if token not in ("current", "previous", "oldest") else "0" * 32
    if token == "current":
        return certificate.version
    if token in ("previous", "oldest"):
        if not certificate.older_versions:
            raise ValueError(f"{certificate.name} has no older version for {token!r}")
        return certificate.older_versions[-1 if token == "previous" else 0].version
    return str(token)


def _secret_uri(azure: FakeAzure, ref: Mapping[str, Any]) -> str:
    if "secret_id" in ref:
        return str(ref["secret_id"])
    base = azure.vault_uri(ref["vault"])
    uri = f"{base}secrets/{ref['certificate']}"
    version = _version(azure, ref)
    return f"{uri}/{version}" if version else uri


def _vault_resource_id(azure: FakeAzure, ref: Mapping[str, Any]) -> str:
    return azure.estate.vault(ref["vault"]).resource_id


def _omit(data: Json, ref: Mapping[str, Any]) -> Json:
    for name in ref.get("omit") or ():
        data.pop(name, None)
    return data


def _gateway(azure: FakeAzure, sub: Subscription, spec: Mapping[str, Any]) -> Json:
    resource_id = _resource_id(sub, spec, "Microsoft.Network/applicationGateways")
    certificates = []
    for ref in spec.get("sslCertificates", []):
        properties: Json = {"provisioningState": "Succeeded", "publicCertData": "*****"}
        properties["keyVaultSecretId"] = _secret_uri(azure, ref)
        certificates.append(
            {
                "name": ref["name"],
                "id": f"{resource_id}/sslCertificates/{ref['name']}",
                "properties": _omit(properties, ref),
            }
        )
    return {
        "name": spec["name"],
        "id": resource_id,
        "type": "Microsoft.Network/applicationGateways",
        "location": spec.get("location", "westeurope"),
        "properties": {
            "provisioningState": "Succeeded",
            "sku": {"name": "WAF_v2", "tier": "WAF_v2", "capacity": 2},
            "operationalState": "Running",
            "sslCertificates": certificates,
            "authenticationCertificates": [],
            "httpListeners": _gateway_listeners(resource_id, spec),
        },
    }


def _gateway_listeners(resource_id: str, spec: Mapping[str, Any]) -> list[Json]:
    """One HTTPS listener per sslCertificate that lists ``hostnames`` (``hostName`` for one, the v2
    ``hostNames[]`` for several), and a plain HTTP listener, as in ApplicationGatewayListAll.json
    (specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/examples)."""
    listeners: list[Json] = [
        {
            "name": "http-80",
            "id": f"{resource_id}/httpListeners/http-80",
            "properties": {
                "provisioningState": "Succeeded",
                "frontendIPConfiguration": {"id": f"{resource_id}/frontendIPConfigurations/appgwfip"},
                "frontendPort": {"id": f"{resource_id}/frontendPorts/appgwfp80"},
                "protocol": "Http",
            },
        }
    ]
    for ref in spec.get("sslCertificates", []):
        names = list(ref.get("hostnames") or [])
        if not names:
            continue
        properties: Json = {
            "provisioningState": "Succeeded",
            "frontendIPConfiguration": {"id": f"{resource_id}/frontendIPConfigurations/appgwfip"},
            "frontendPort": {"id": f"{resource_id}/frontendPorts/appgwfp"},
            "protocol": "Https",
            "sslCertificate": {"id": f"{resource_id}/sslCertificates/{ref['name']}"},
            "requireServerNameIndication": True,
        }
        if len(names) == 1:
            properties["hostName"] = names[0]
        else:
            properties["hostNames"] = names
        name = f"https-{ref['name']}"
        listeners.append({"name": name, "id": f"{resource_id}/httpListeners/{name}", "properties": properties})
    return listeners


def _front_door_profile(azure: FakeAzure, sub: Subscription, spec: Mapping[str, Any]) -> Json:
    return {
        "name": spec["name"],
        # ``id`` in the spec: a hostile answer (an absolute URL, a path that climbs out).
        "id": spec.get("id") or _resource_id(sub, spec, "Microsoft.Cdn/profiles"),
        "type": "Microsoft.Cdn/profiles",
        "location": "Global",
        "kind": "frontdoor",
        "sku": {"name": spec.get("sku", "Premium_AzureFrontDoor")},
        "properties": {
            "frontDoorId": secrets.token_hex(4) + "-0000-0000-0000-000000000000",
            "originResponseTimeoutSeconds": 60,
            "provisioningState": "Succeeded",
            "resourceState": "Active",
        },
    }


def _front_door_secret(azure: FakeAzure, sub: Subscription, profile: Mapping[str, Any], ref: Mapping[str, Any]) -> Json:
    profile_id = _resource_id(sub, profile, "Microsoft.Cdn/profiles")
    certificate = _certificate(azure, ref)
    source = (
        ref["secret_id"] if "secret_id" in ref else f"{_vault_resource_id(azure, ref)}/secrets/{ref['certificate']}"
    )
    version = _version(azure, ref) if ref.get("version") is not None else (certificate.version if certificate else None)
    parameters: Json = {
        "type": "CustomerCertificate",
        "secretSource": {"id": source},
        "secretVersion": version,
        "useLatestVersion": bool(ref.get("use_latest", True)),
        "subject": certificate.subject.removeprefix("CN=") if certificate else "",
        "subjectAlternativeNames": [],
        "certificateAuthority": "Self",
    }
    if certificate is not None:
        held, expires = edge_services.served(azure, ref, ref.get("served", "current"))
        parameters["expirationDate"] = expires.isoformat() if expires else None
        parameters["thumbprint"] = held
    return {
        "name": ref["name"],
        "type": "Microsoft.Cdn/profiles/secrets",
        "id": f"{profile_id}/secrets/{ref['name']}",
        "properties": {
            "deploymentStatus": "NotStarted",
            "parameters": _omit(parameters, ref),
            "provisioningState": "Succeeded",
        },
    }


def _front_door_custom_domains(sub: Subscription, profile: Mapping[str, Any]) -> list[Json]:
    """A custom domain per hostname of each secret (``hostnames``), shaped as
    specification/cdn/Cdn.Management/examples/2025-06-01/AFDCustomDomains_ListByProfile.json, with
    ``tlsSettings`` of a customer certificate (``CustomerCertificate``, ``secret.id``); plus one domain
    on a managed certificate, which names no Key Vault secret."""
    profile_id = _resource_id(sub, profile, "Microsoft.Cdn/profiles")
    domains: list[tuple[str, str, str | None]] = [("managed", f"managed.{profile['name']}.example.net", None)]
    for ref in profile.get("secrets", []):
        for number, host in enumerate(ref.get("hostnames") or []):
            domains.append((f"{ref['name']}-{number}", host, f"{profile_id}/secrets/{ref['name']}"))
    items = []
    for name, host, secret_id in domains:
        tls: Json = {
            "certificateType": "CustomerCertificate" if secret_id else "ManagedCertificate",
            "minimumTlsVersion": "TLS12",
            "secret": {"id": secret_id or ""},
        }
        items.append(
            {
                "name": name,
                "type": "Microsoft.Cdn/profiles/customdomains",
                "id": f"{profile_id}/customdomains/{name}",
                "properties": {
                    "azureDnsZone": {"id": ""},
                    "deploymentStatus": "NotStarted",
                    "domainValidationState": "Approved",
                    "hostName": host,
                    "preValidatedCustomDomainResourceId": {"id": ""},
                    "profileName": profile["name"],
                    "provisioningState": "Succeeded",
                    "tlsSettings": tls,
                },
            }
        )
    return items


def _api_management(azure: FakeAzure, sub: Subscription, spec: Mapping[str, Any]) -> Json:
    name = spec["name"]
    hostnames: list[Json] = [
        {
            "type": "Proxy",
            "certificateSource": "BuiltIn",
            "defaultSslBinding": False,
            "hostName": f"{name}.azure-api.net",
            "negotiateClientCertificate": False,
        }
    ]
    for ref in spec.get("hostnames", []):
        certificate = _certificate(azure, ref)
        entry: Json = {
            "type": ref.get("kind", "Proxy"),
            "certificateSource": "KeyVault",
            "certificateStatus": "Completed",
            "defaultSslBinding": True,
            "hostName": ref["host"],
            "keyVaultId": _secret_uri(azure, ref),
            "negotiateClientCertificate": False,
        }
        if certificate is not None:
            held, expires = edge_services.served(azure, ref, ref.get("served", "current"))
            entry["certificate"] = {
                "expiry": expires.isoformat() if expires else None,
                "subject": certificate.subject,
                "thumbprint": held,
            }
        hostnames.append(_omit(entry, ref))
    return {
        "name": name,
        "type": "Microsoft.ApiManagement/service",
        "etag": "AAAAAAAWN/4=",
        "id": _resource_id(sub, spec, "Microsoft.ApiManagement/service"),
        "location": spec.get("location", "West Europe"),
        "identity": {"type": "SystemAssigned", "principalId": secrets.token_hex(4) + "-0000-0000-0000-000000000000"},
        "properties": {
            "gatewayUrl": f"https://{name}.azure-api.net",
            "hostnameConfigurations": hostnames,
            "provisioningState": "Succeeded",
            "publicNetworkAccess": "Enabled",
            "publisherEmail": "platform@contoso.com",
            "publisherName": "Contoso",
            "virtualNetworkType": "None",
        },
        "sku": {"name": "Premium", "capacity": 1},
    }


def _web_certificate(azure: FakeAzure, sub: Subscription, spec: Mapping[str, Any]) -> Json:
    certificate = _certificate(azure, spec)
    token = spec.get("thumbprint", "current")
    served = certificate.expires_on if certificate else None
    if certificate is not None and token == "current":
        hex_thumbprint = thumbprint(certificate).hex().upper()
    elif certificate is not None and token == "previous" and certificate.older_versions:
        older = certificate.older_versions[-1]
        synthetic = azure.estate.synthetic_thumbprints
        hex_thumbprint = version_thumbprint(certificate, older, synthetic).hex().upper()
        served = older.expires_on
    else:
        hex_thumbprint = str(token)
    properties: Json = {
        "expirationDate": served.isoformat() if served else None,
        "friendlyName": "",
        "hostNames": list(spec.get("host_names") or [f"{spec.get('certificate') or spec['name']}.contoso.com"]),
        "issuer": "Contoso",
        "subjectName": certificate.subject.removeprefix("CN=") if certificate else spec["name"],
        "thumbprint": hex_thumbprint,
        "keyVaultId": spec["secret_id"]
        if "secret_id" in spec
        else (_vault_resource_id(azure, spec) if spec.get("vault") else None),
        "keyVaultSecretName": spec.get("certificate"),
        "keyVaultSecretStatus": spec.get("status", "Succeeded"),
    }
    if not spec.get("vault") and "secret_id" not in spec:
        for name in ("keyVaultId", "keyVaultSecretName", "keyVaultSecretStatus"):
            properties.pop(name)
    return {
        "name": spec["name"],
        "type": "Microsoft.Web/certificates",
        "id": _resource_id(sub, spec, "Microsoft.Web/certificates"),
        "location": spec.get("location", "West Europe"),
        "properties": _omit(properties, spec),
    }


def x5t(certificate: Certificate) -> str:
    """The current version's x5t (for tests comparing with an App Service thumbprint)."""
    return b64url(thumbprint(certificate))
