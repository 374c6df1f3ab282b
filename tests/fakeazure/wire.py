"""The REST wire shapes the fake speaks: Key Vault, Resource Manager, managed-identity tokens.

Checked against the SDK models (``azure.keyvault.certificates._generated.models``,
``azure.mgmt.keyvault.models``, ``azure.mgmt.resource.subscriptions.models``): Key Vault attributes are
unix seconds, policies are snake_case (``lifetime_actions``, ``x509_props``, ``issuer``), ``x5t`` is
base64url without padding, ``cer`` standard base64; ARM resources are camelCase.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .estate import Certificate, CertificateVersion, Estate, Json, Subscription, Vault

KEYVAULT_RESOURCE = "https://vault.azure.net"
PUBLIC_ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
TOKEN_LIFETIME_SECONDS = 24 * 3600


def unix(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --------------------------------------------------------------------------------------------------
# X.509: real DER certificates, built on demand and cached on the model
# --------------------------------------------------------------------------------------------------

_signing_key: ec.EllipticCurvePrivateKey | None = None
_signing_key_lock = threading.Lock()


def _key() -> ec.EllipticCurvePrivateKey:
    global _signing_key
    with _signing_key_lock:
        if _signing_key is None:
            _signing_key = ec.generate_private_key(ec.SECP256R1())
        return _signing_key


def _subject_name(subject: str) -> x509.Name:
    try:
        return x509.Name.from_rfc4514_string(subject)
    except ValueError:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject[:64] or "certificate")])


_ca_keys: dict[str, ec.EllipticCurvePrivateKey] = {}


def _ca_key(name: str) -> ec.EllipticCurvePrivateKey:
    """One signing key per CA name, so every certificate a CA issues chains to the same key."""
    with _signing_key_lock:
        if name not in _ca_keys:
            _ca_keys[name] = ec.generate_private_key(ec.SECP256R1())
        return _ca_keys[name]


def certificate_der(certificate: Certificate) -> bytes:
    """A DER certificate with the certificate's subject and validity (cached): self-signed (issuer = subject,
    what Key Vault's ``Self`` issuer makes), or issued by the CA named in ``issued_by`` (its X.509 issuer
    is that CA's name and the CA's key signs it, as a public CA's certificate imported into a vault)."""
    if certificate.der is None:
        key = _key()
        name = _subject_name(certificate.subject)
        issuer, signer = name, key
        if certificate.issued_by and certificate.forged_issuer_name:
            signer = _ca_key(certificate.issued_by)  # the name says self-signed; the CA's key signed it
        elif certificate.issued_by:
            issuer = x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, certificate.issued_by.split()[0] + " Inc"),
                    x509.NameAttribute(NameOID.COMMON_NAME, certificate.issued_by[:64]),
                ]
            )
            signer = _ca_key(certificate.issued_by)
        certificate.der = _der(
            name,
            issuer,
            key=key,
            signer=signer,
            version=certificate.version,
            not_before=certificate.not_before,
            not_after=certificate.expires_on,
        )
    return certificate.der


def _der(
    subject: x509.Name,
    issuer: x509.Name,
    *,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    version: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> bytes:
    """One X.509 certificate as DER; the serial is derived from the version id, so it is stable."""
    serial = int.from_bytes(hashlib.sha256(version.encode()).digest()[:15], "big") | 1
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(signer, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.DER)


def thumbprint(certificate: Certificate) -> bytes:
    """SHA-1 of the DER (Key Vault's ``x5t``), or the synthetic one of a benchmark estate."""
    if certificate.thumbprint is None:
        certificate.thumbprint = hashlib.sha1(certificate_der(certificate), usedforsecurity=False).digest()
    return certificate.thumbprint


# --------------------------------------------------------------------------------------------------
# Key Vault data plane
# --------------------------------------------------------------------------------------------------


def certificate_attributes(certificate: Certificate) -> Json:
    return {
        "enabled": certificate.enabled,
        "nbf": unix(certificate.not_before),
        "exp": unix(certificate.expires_on),
        "created": unix(certificate.created_on),
        "updated": unix(certificate.updated_on),
        "recoveryLevel": certificate.recovery_level,
        "recoverableDays": certificate.recoverable_days,
    }


def certificate_item(base_url: str, certificate: Certificate) -> Json:
    """One element of ``GET /certificates``: no policy; ``tags`` left out when empty, as Key Vault does.

    Shape of the real service's list items (azure-sdk-for-python, sdk/keyvault/azure-keyvault-certificates/
    tests/recordings/test_certificates_client.pyTestCertificateClienttest_list[7.3].json): ``id``, ``x5t``,
    ``attributes`` without ``recoveryLevel``/``recoverableDays``, and ``"subject": ""``."""
    item: Json = {
        "id": f"{base_url}certificates/{certificate.name}",
        "x5t": b64url(thumbprint(certificate)),
        "attributes": {**list_item_attributes(certificate), **certificate.list_attributes},
        "subject": "",
    }
    if certificate.tags:
        item["tags"] = dict(certificate.tags)
    return item


def list_item_attributes(certificate: Certificate) -> Json:
    """The attributes a list item carries (the recording's: no recovery level, unlike a GET)."""
    attributes = certificate_attributes(certificate)
    return {key: attributes[key] for key in ("enabled", "nbf", "exp", "created", "updated")}


def version_item(base_url: str, certificate: Certificate) -> Json:
    item = certificate_item(base_url, certificate)
    item["id"] = f"{base_url}certificates/{certificate.name}/{certificate.version}"
    return item


def policy_json(base_url: str, certificate: Certificate) -> Json | None:
    """The stored policy as-is, plus ``id`` and default ``attributes`` when the stored one lacks them."""
    stored = certificate.policy
    if stored is None:
        return None
    if not isinstance(stored, Mapping):  # an odd shape a test asked for: pass it through
        return stored
    result: Json = {"id": f"{base_url}certificates/{certificate.name}/policy", **stored}
    attributes = {
        "enabled": certificate.enabled,
        "created": unix(certificate.created_on),
        "updated": unix(certificate.policy_updated_on),
    }
    stored_attributes = stored.get("attributes")
    if isinstance(stored_attributes, Mapping):
        attributes.update(stored_attributes)
    result["attributes"] = attributes
    return result


def certificate_bundle(base_url: str, certificate: Certificate) -> Json:
    """``GET /certificates/{name}/``: the current version with its policy, ``cer``, ``kid``, ``sid``."""
    bundle: Json = {
        "id": f"{base_url}certificates/{certificate.name}/{certificate.version}",
        "kid": f"{base_url}keys/{certificate.name}/{certificate.version}",
        "sid": f"{base_url}secrets/{certificate.name}/{certificate.version}",
        "x5t": b64url(thumbprint(certificate)),
        "cer": base64.b64encode(certificate_der(certificate)).decode(),
        "contentType": certificate.content_type,
        "attributes": certificate_attributes(certificate),
    }
    rendered_policy = policy_json(base_url, certificate)
    if rendered_policy is not None:
        bundle["policy"] = rendered_policy
    if certificate.tags:
        bundle["tags"] = dict(certificate.tags)
    return bundle


def pending_operation(base_url: str, certificate: Certificate) -> Json | None:
    """``GET /certificates/{name}/pending``: the certificate's pending operation, or None (then 404
    ``PendingCertificateNotFound``).

    Shapes from sources we did not write: the recorded live traffic of Azure/azure-sdk-for-python
    (``sdk/keyvault/azure-keyvault-certificates/tests/recordings/test_certificates_client.pyTestCertificate
    Clienttest_async_request_cancellation_and_deletion[7.3].json``: ``id``, ``issuer``, ``csr``,
    ``cancellation_requested``, ``status`` ``inProgress``, ``status_details``, ``request_id``; and the 404
    ``{"error": {"code": "PendingCertificateNotFound", "message": "Pending certificate not found: <name>"}}``)
    and Microsoft's "Monitor and manage certificate creation" (MicrosoftDocs/azure-docs,
    ``articles/key-vault/create-certificate-scenarios.md``: ``completed`` with ``target``, ``failed`` with
    ``error`` {``code``, ``message``}, whose code is e.g. "Certificate issuer error")."""
    spec = certificate.pending
    if spec is None:
        return None
    issuer = "Self"
    if isinstance(certificate.policy, Mapping) and isinstance(certificate.policy.get("issuer"), Mapping):
        issuer = str(certificate.policy["issuer"].get("name") or "Self")
    request_id = spec.get("request_id") or hashlib.sha256(f"{certificate.name}/pending".encode()).hexdigest()[:32]
    body: Json = {
        "id": f"{base_url}certificates/{certificate.name}/pending",
        "issuer": {"name": issuer},
        "csr": base64.b64encode(_csr_der(certificate)).decode(),
        "cancellation_requested": bool(spec.get("cancellation_requested", False)),
        "status": spec.get("status", "inProgress"),
    }
    if "status_details" in spec:
        body["status_details"] = spec["status_details"]
    elif body["status"] == "inProgress":
        body["status_details"] = (
            "Pending certificate created. Certificate request is in progress. This may take some time based on "
            "the issuer provider. Please check again later."
        )
    body["request_id"] = request_id
    if spec.get("error") is not None:
        body["error"] = dict(spec["error"])
    if body["status"] == "completed":
        body["target"] = f"{base_url}certificates/{certificate.name}"
    return body


def _csr_der(certificate: Certificate) -> bytes:
    """A real certificate signing request for the certificate's subject (what ``csr`` carries)."""
    request = x509.CertificateSigningRequestBuilder().subject_name(_subject_name(certificate.subject))
    return request.sign(_key(), hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def pending_not_found(name: str) -> Json:
    return keyvault_error("PendingCertificateNotFound", f"Pending certificate not found: {name}")


def keyvault_error(code: str, message: str, inner_code: str | None = None) -> Json:
    error: Json = {"code": code, "message": message}
    if inner_code:
        error["innererror"] = {"code": inner_code}
    return {"error": error}


def keyvault_challenge(tenant_id: str) -> str:
    return f'Bearer authorization="https://login.microsoftonline.com/{tenant_id}", resource="{KEYVAULT_RESOURCE}"'


def default_keyvault_message(
    status: int, code: str | None, inner_code: str | None, vault: Vault, caller: Mapping[str, Any]
) -> str:
    """The real service's message for a refusal, by inner code. Shapes from Key Vault's answers quoted in
    public issues: ForbiddenByFirewall hashicorp/terraform-provider-azurerm#20742, ForbiddenByRbac
    hashicorp/terraform-provider-azurerm#27817 and piyushsachdeva/Terraform_AKS#2, AccessDenied (an
    access-policy vault) turbot/steampipe-plugin-azure#127, 429 Throttled vcsjones/AzureSignTool#219."""
    issuer = f"iss=https://sts.windows.net/{caller.get('tid', '')}/"
    who = f"appid={caller.get('appid', '')};oid={caller.get('oid', '')};{issuer}"
    where = f"Vault: {vault.name};location={vault.location}"
    if inner_code == "ForbiddenByFirewall":
        return (
            "Client address is not authorized and caller is not a trusted service.\r\n"
            f"Client address: 203.0.113.17\r\nCaller: {who}\r\n{where}"
        )
    if inner_code == "ForbiddenByRbac":
        return (
            "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments "
            "or role definitions were changed recently, please observe propagation time.\r\n"
            f"Caller: {who}\r\nAction: 'Microsoft.KeyVault/vaults/certificates/read'\r\n"
            f"Resource: '{vault.resource_id.lower()}'\r\nAssignment: (not found)\r\n"
            f"DenyAssignmentId: null\r\nDecisionReason: null \r\n{where}\r\n"
        )
    if inner_code in ("AccessDenied", "ForbiddenByPolicy") or (status == 403 and code == "Forbidden"):
        return (
            f"The user, group or application '{who}' does not have certificates list permission on key vault "
            f"'{vault.name};location={vault.location}'. For help resolving this issue, please see "
            "https://go.microsoft.com/fwlink/?linkid=2125287"
        )
    if status == 429:
        return KEYVAULT_THROTTLED_MESSAGE
    if status == 404:
        return "The requested resource was not found."
    if status >= 500:
        return "The service encountered an internal error. Please try again later."
    return f"The request failed with status {status}."


# Key Vault's answer to a request over its limits: 429, no Retry-After header (vcsjones/AzureSignTool#219).
KEYVAULT_THROTTLED_MESSAGE = (
    "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"
)


def keyvault_default_inner_code(vault: Vault) -> str:
    """What a 403 carries when a test names no inner code: an RBAC vault says ForbiddenByRbac, an
    access-policy vault (``enableRbacAuthorization: false``) says AccessDenied."""
    return "AccessDenied" if vault.properties.get("enableRbacAuthorization") is False else "ForbiddenByRbac"


def keyvault_skiptoken(offset: int) -> str:
    """An opaque ``$skiptoken`` shaped like the service's (base64url of a small JSON marker)."""
    marker = json.dumps({"NextMarker": f"2!{offset}!fake", "TargetLocation": 0}, separators=(",", ":"))
    return b64url(marker.encode())


def keyvault_skiptoken_offset(token: str) -> int | None:
    """The offset inside a token from ``keyvault_skiptoken``; ``None`` for anything else."""
    try:
        marker = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        parts = str(marker["NextMarker"]).split("!")
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
    except (ValueError, KeyError, TypeError, IndexError):
        return None


# --------------------------------------------------------------------------------------------------
# Resource Manager
# --------------------------------------------------------------------------------------------------


def subscription_json(subscription: Subscription) -> Json:
    return {
        "id": f"/subscriptions/{subscription.subscription_id}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": subscription.subscription_id,
        "tenantId": subscription.tenant_id,
        "displayName": subscription.display_name,
        "state": subscription.state,
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "EnterpriseAgreement_2014-09-01",
            "spendingLimit": "Off",
        },
    }


def _merge(base: Json, extra: Mapping[str, Any]) -> Json:
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def vault_resource(vault: Vault, vault_uri: str, tenant_id: str) -> Json:
    """A full ``Microsoft.KeyVault/vaults`` resource as ``vaults.list_by_subscription()`` returns it."""
    properties: Json = {
        "sku": {"family": "A", "name": "standard"},
        "tenantId": tenant_id,
        "accessPolicies": [],
        "enabledForDeployment": False,
        "enabledForDiskEncryption": False,
        "enabledForTemplateDeployment": False,
        "enableSoftDelete": True,
        "softDeleteRetentionInDays": 90,
        "enableRbacAuthorization": True,
        "vaultUri": vault_uri,
        "provisioningState": "Succeeded",
        "publicNetworkAccess": "Enabled",
    }
    if "any" in vault.faults or "list" in vault.faults:
        fault = vault.faults.get("any") or vault.faults["list"]
        if fault.inner_code == "ForbiddenByFirewall":
            properties["networkAcls"] = {
                "bypass": "AzureServices",
                "defaultAction": "Deny",
                "ipRules": [{"value": "198.51.100.0/24"}],
                "virtualNetworkRules": [],
            }
    return {
        "id": vault.resource_id,
        "name": vault.name,
        "type": "Microsoft.KeyVault/vaults",
        "location": vault.location,
        "tags": dict(vault.tags),
        "systemData": {
            "createdBy": "platform-team@contoso.com",
            "createdByType": "User",
            "createdAt": "2023-03-14T09:26:53.589Z",
        },
        "properties": _merge(properties, vault.properties),
    }


def generic_resource(vault: Vault) -> Json:
    """A vault as ``GET /subscriptions/{id}/resources`` lists it (no ``properties``, so no vaultUri)."""
    return {
        "id": vault.resource_id,
        "name": vault.name,
        "type": "Microsoft.KeyVault/vaults",
        "location": vault.location,
        "tags": dict(vault.tags),
    }


def arm_error(code: str, message: str, inner_code: str | None = None) -> Json:
    error: Json = {"code": code, "message": message}
    if inner_code:
        error["details"] = [{"code": inner_code, "message": message}]
    return {"error": error}


def default_arm_message(status: int, code: str | None, scope: str, caller: Mapping[str, Any]) -> str:
    oid = caller.get("oid", "")
    if status == 403:
        return (
            f"The client '{oid}' with object id '{oid}' does not have authorization to perform action "
            f"'Microsoft.KeyVault/vaults/read' over scope '{scope}' or the scope is invalid. If access was "
            "recently granted, please refresh your credentials."
        )
    if status == 404:
        return f"The resource '{scope}' could not be found."
    if status == 429:
        return "Number of 'read' requests for subscription exceeded the limit of '12000' for time interval '01:00:00'."
    if status >= 500:
        return "The server encountered an internal error. Please retry the request."
    return f"The request failed with status {status}."


# --------------------------------------------------------------------------------------------------
# Managed identity tokens: unsigned JWT-shaped strings with the claims code may want to read
# --------------------------------------------------------------------------------------------------


def mint_token(
    estate: Estate, resource: str, client_id: str | None = None, now: float | None = None
) -> tuple[str, int]:
    """An access token for ``resource`` (its ``aud``) and its expiry in unix seconds.

    The identity is the estate's (``identity.object_id``/``client_id``/``upn``); a request for another
    user-assigned ``client_id`` gets a token for that client with a derived object id.
    """
    issued = int(now if now is not None else dt.datetime.now(dt.UTC).timestamp())
    expires = issued + TOKEN_LIFETIME_SECONDS
    identity = estate.identity
    appid = identity["client_id"]
    oid = identity["object_id"]
    if client_id and client_id.lower() != str(appid).lower():
        appid = client_id
        oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fakeazure/{client_id}"))
    claims: Json = {
        "aud": resource,
        "iss": f"https://sts.windows.net/{estate.tenant_id}/",
        "iat": issued,
        "nbf": issued,
        "exp": expires,
        "appid": appid,
        "appidacr": "2",
        "idp": f"https://sts.windows.net/{estate.tenant_id}/",
        "idtyp": "app",
        "oid": oid,
        "sub": oid,
        "tid": estate.tenant_id,
        "uti": b64url(secrets.token_bytes(16)),
        "ver": "1.0",
    }
    if identity.get("name"):
        claims["xms_mirid"] = (
            f"/subscriptions/{estate.subscriptions[0].subscription_id if estate.subscriptions else ''}"
            f"/resourcegroups/rg-{identity['name']}/providers/Microsoft.ManagedIdentity"
            f"/userAssignedIdentities/{identity['name']}"
        )
    if identity.get("upn"):
        claims["upn"] = identity["upn"]
        claims["idtyp"] = "user"
    header = {"typ": "JWT", "alg": "RS256", "kid": "fakeazure"}
    token = ".".join(
        (
            b64url(json.dumps(header, separators=(",", ":")).encode()),
            b64url(json.dumps(claims, separators=(",", ":")).encode()),
            b64url(b"fakeazure-unsigned-" + secrets.token_bytes(16)),
        )
    )
    return token, expires


def decode_token(token: str) -> Json | None:
    """The claims of a token minted by ``mint_token`` (any instance); ``None`` when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("aud"), str):
        return None
    return claims


# --------------------------------------------------------------------------------------------------
# Key Vault: older versions of a certificate (CertificateBinding)
# Shapes: azure-sdk-for-python, sdk/keyvault/azure-keyvault-certificates/tests/recordings/
# test_certificates_client.pyTestCertificateClienttest_list_certificate_versions[7.3].json and
# ...test_get_certificate_version[7.3].json: a version's bundle has a versioned id/kid/sid, its own x5t,
# cer and attributes; a versions list item is {id (versioned), x5t, attributes}.
# --------------------------------------------------------------------------------------------------


def version_der(certificate: Certificate, version: CertificateVersion) -> bytes:
    """A self-signed DER for an older version: same subject, that version's validity (cached)."""
    if version.der is None:
        key = _key()
        name = _subject_name(certificate.subject)
        version.der = _der(
            name,
            name,
            key=key,
            signer=key,
            version=version.version,
            not_before=version.not_before,
            not_after=version.expires_on,
        )
    return version.der


def version_thumbprint(certificate: Certificate, version: CertificateVersion, synthetic: bool = False) -> bytes:
    """SHA-1 of the older version's DER (its ``x5t``); synthetic estates skip building the DER."""
    if version.thumbprint is None:
        if synthetic:
            version.thumbprint = hashlib.sha256(f"{certificate.name}/{version.version}".encode()).digest()[:20]
        else:
            version.thumbprint = hashlib.sha1(version_der(certificate, version), usedforsecurity=False).digest()
    return version.thumbprint


def _version_attributes(certificate: Certificate, version: CertificateVersion) -> Json:
    return {
        "enabled": version.enabled,
        "nbf": unix(version.not_before),
        "exp": unix(version.expires_on),
        "created": unix(version.created_on),
        "updated": unix(version.created_on),
        "recoveryLevel": certificate.recovery_level,
        "recoverableDays": certificate.recoverable_days,
    }


def older_version_item(base_url: str, certificate: Certificate, version: CertificateVersion, synthetic: bool) -> Json:
    item: Json = {
        "id": f"{base_url}certificates/{certificate.name}/{version.version}",
        "x5t": b64url(version_thumbprint(certificate, version, synthetic)),
        "attributes": _version_attributes(certificate, version),
    }
    if certificate.tags:
        item["tags"] = dict(certificate.tags)
    return item


def older_version_bundle(base_url: str, certificate: Certificate, version: CertificateVersion) -> Json:
    """``GET /certificates/{name}/{version}`` of an older version (policy is the certificate's, as Key Vault
    returns the current policy with every version)."""
    bundle: Json = {
        "id": f"{base_url}certificates/{certificate.name}/{version.version}",
        "kid": f"{base_url}keys/{certificate.name}/{version.version}",
        "sid": f"{base_url}secrets/{certificate.name}/{version.version}",
        "x5t": b64url(version_thumbprint(certificate, version)),
        "cer": base64.b64encode(version_der(certificate, version)).decode(),
        "contentType": certificate.content_type,
        "attributes": _version_attributes(certificate, version),
    }
    rendered_policy = policy_json(base_url, certificate)
    if rendered_policy is not None:
        bundle["policy"] = rendered_policy
    if certificate.tags:
        bundle["tags"] = dict(certificate.tags)
    return bundle
