"""App Service: Key Vault certificates (``Microsoft.Web/certificates``) and the sites that bind them
(``Microsoft.Web/sites``), 2024-04-01.

- A certificate (Certificates_List.json and the CertificateProperties definition of Certificates.json)
  names its vault by resource id (``keyVaultId``) and its secret by name (``keyVaultSecretName``): it
  always follows the latest version, synced by App Service, and reports what it holds (``thumbprint``,
  hex; ``expirationDate``) and whether it can read the vault (``keyVaultSecretStatus``).
- A site (the Site and HostNameSslState definitions of WebApps.json; ``az webapp show`` prints the same
  ``hostNameSslStates[]``) binds each hostname whose ``sslState`` is ``SniEnabled`` or
  ``IpBasedEnabled`` to a ``thumbprint``. That binding belongs to the Key Vault certificate of the same
  thumbprint in the subscription; when no certificate has it any more (the certificate synced a new
  version and the binding kept the old one), to the Key Vault certificate whose ``hostNames`` cover
  the hostname. A binding to an uploaded or managed certificate names no vault and is left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from shared.models import Binding

from .common import VAULT_ID, hostnames_of, list_items, properties, service, shown, text, thumbprint, when

APP_SERVICE_CERTIFICATE = "Microsoft.Web/certificates"
APP_SERVICE_SITE = "Microsoft.Web/sites"
API_VERSION = "2024-04-01"
_BOUND = ("snienabled", "ipbasedenabled")


def certificate_items(client: Any, base: str) -> list[Mapping[str, Any]]:
    return list(list_items(client, f"{base}/{APP_SERVICE_CERTIFICATE}?api-version={API_VERSION}"))


def certificate_bindings(subscription_id: str, items: Sequence[Mapping[str, Any]]) -> list[Binding]:
    return [binding for item in items if (binding := _certificate(subscription_id, item)) is not None]


def _certificate(subscription_id: str, item: Mapping[str, Any]) -> Binding | None:
    where = service(subscription_id, item, APP_SERVICE_CERTIFICATE)
    props = properties(item)
    vault_id = props.get("keyVaultId")
    if vault_id is None:
        return None  # an uploaded or managed certificate, not from Key Vault
    secret_name = text(props.get("keyVaultSecretName"))
    held = thumbprint(props.get("thumbprint"))
    match = VAULT_ID.match(vault_id) if isinstance(vault_id, str) else None
    problem = None
    if match is None:
        problem = f"its keyVaultId {shown(vault_id)} is not a Key Vault resource id"
    elif secret_name is None:
        problem = "it has a keyVaultId but no keyVaultSecretName"
    elif held is None:
        problem = f"its thumbprint {shown(props.get('thumbprint'))} is not a SHA-1 thumbprint"
    return Binding(
        subscription_id=subscription_id,
        resource_id=where.resource_id,
        resource_type=APP_SERVICE_CERTIFICATE,
        service_name=where.name,
        binding=where.name,
        reference=text(vault_id),
        vault_resource_id=vault_id.rstrip("/") if match and isinstance(vault_id, str) else None,
        vault_name=match.group("name") if match else None,
        certificate_name=secret_name,
        version=None,
        thumbprint=held,
        secret_status=text(props.get("keyVaultSecretStatus")),
        served_expires_on=when(props.get("expirationDate")),
        problem=problem,
    )


def site_bindings(
    client: Any, subscription_id: str, base: str, certificates: Sequence[Mapping[str, Any]]
) -> list[Binding]:
    """Each TLS hostname of each site bound to a Key Vault certificate of the subscription."""
    from_vault = [
        (item, binding)
        for item in certificates
        if (binding := _certificate(subscription_id, item)) is not None and binding.problem is None
    ]
    by_thumbprint = {str(b.thumbprint): (item, b) for item, b in from_vault}
    other_thumbprints = {
        held
        for item in certificates
        if properties(item).get("keyVaultId") is None and (held := thumbprint(properties(item).get("thumbprint")))
    }
    found = []
    for site in list_items(client, f"{base}/{APP_SERVICE_SITE}?api-version={API_VERSION}"):
        where = service(subscription_id, site, APP_SERVICE_SITE)
        states = properties(site).get("hostNameSslStates")
        for state in states if isinstance(states, list) else []:
            if not isinstance(state, Mapping) or str(state.get("sslState") or "").lower() not in _BOUND:
                continue
            names = hostnames_of([state.get("name")])
            bound = thumbprint(state.get("thumbprint"))
            if not names or bound is None or bound in other_thumbprints:
                continue  # not a hostname, or bound to an uploaded or managed certificate
            owner = by_thumbprint.get(bound) or _covering(names[0], from_vault)
            if owner is None:
                continue  # no Key Vault certificate of this subscription has the thumbprint or the name
            _, certificate = owner
            found.append(
                Binding(
                    subscription_id=subscription_id,
                    resource_id=where.resource_id,
                    resource_type=APP_SERVICE_SITE,
                    service_name=where.name,
                    binding=names[0],
                    reference=certificate.resource_id,
                    vault_resource_id=certificate.vault_resource_id,
                    vault_name=certificate.vault_name,
                    certificate_name=certificate.certificate_name,
                    version=None,
                    thumbprint=bound,
                    served_expires_on=certificate.served_expires_on if bound == certificate.thumbprint else None,
                    hostnames=names,
                )
            )
    return found


def _covering(hostname: str, certificates: Sequence[tuple[Mapping[str, Any], Binding]]) -> tuple[Any, Binding] | None:
    """The Key Vault certificate whose ``hostNames`` cover a hostname (exactly, or by one wildcard label)."""
    for item, binding in certificates:
        listed = properties(item).get("hostNames")
        for pattern in hostnames_of(listed if isinstance(listed, list) else []):
            if pattern == hostname or (
                pattern.startswith("*.") and re.fullmatch(r"[^.]+" + re.escape(pattern[1:]), hostname)
            ):
                return item, binding
    return None
