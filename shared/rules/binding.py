"""CertificateBinding: does each service that references a certificate pick up its renewals (SPEC §2)?"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from shared.models import (
    RULE_BINDING,
    Binding,
    Certificate,
    CertificateVersion,
    Finding,
    PlainSecret,
    ReadError,
    Severity,
    Status,
    Vault,
)
from shared.rules.propagation import describe_window, propagation_window
from shared.rules.secret_status import HEALTHY, advice_for
from shared.rules.unassessed import error_hint, unassessed_finding

_SERVICE_LABEL = {
    "microsoft.network/applicationgateways": ("Application Gateway", "SSL certificate"),
    "microsoft.cdn/profiles/secrets": ("Front Door profile", "secret"),
    "microsoft.cdn/profiles/customdomains": ("Front Door custom domain", None),
    "microsoft.apimanagement/service": ("API Management service", "hostname"),
    "microsoft.web/certificates": ("App Service certificate", None),
    "microsoft.web/sites": ("App Service site", "hostname"),
    "microsoft.network/frontdoors": ("Front Door (classic)", "frontend endpoint"),
    "microsoft.cdn/profiles/endpoints/customdomains": ("CDN endpoint", "custom domain"),
    "microsoft.app/managedenvironments/certificates": ("Container Apps certificate", None),
    "microsoft.app/containerapps": ("Container Apps app", None),
}
# How to make a service that follows the latest version fetch it, when it still serves an older one.
_REFRESH_FIX = {
    "microsoft.web/certificates": "Check the certificate's Key Vault status and App Service's access to the vault, "
    "then sync the certificate in the App Service.",
    "microsoft.web/sites": "Sync the App Service certificate, then rebind the hostname to its current thumbprint "
    "(TLS/SSL bindings): a binding moves only when its certificate resource syncs.",
    "microsoft.apimanagement/service": "Check the API Management identity's access to the vault (Key Vault Secrets "
    "User), then refresh the certificate on the Custom domains blade.",
    "microsoft.cdn/profiles/secrets": "Check Front Door's access to the vault (the Microsoft.AzureFrontDoor-Cdn "
    "principal needs Get on secrets), then update the secret to its latest version.",
    "microsoft.app/managedenvironments/certificates": "Check the environment identity's access to the vault (Key "
    "Vault Secrets User), then re-save the certificate in the environment so it fetches the new version.",
}


@dataclass(frozen=True, slots=True)
class BindingTarget:
    """What the scan learned about the certificate a binding references, from the vault it names.

    ``certificate`` is its list entry (when listed); ``current`` its current version and ``pinned`` the
    version the service is pinned to (when that is not the current one). ``certificate_missing`` and
    ``version_missing`` are the vault's 404s; ``plain_secret`` the secret of that name when the name is
    no certificate's; ``error`` anything else that kept it from being read."""

    vault: Vault
    certificate: Certificate | None = None
    current: CertificateVersion | None = None
    pinned: CertificateVersion | None = None
    certificate_missing: bool = False
    version_missing: bool = False
    error: ReadError | None = None
    plain_secret: PlainSecret | None = None


def check_binding(binding: Binding, target: BindingTarget | None, *, now: datetime) -> Finding:
    """CertificateBinding: the first row of the SPEC §2 table that matches decides. ``target`` is
    ``None`` when the referenced vault is not one of the scanned vaults."""
    service = describe_service(binding)
    if binding.problem is not None:
        return _binding_finding(
            binding,
            target,
            Status.NOT_ASSESSED,
            Severity.HIGH,
            f"{service} could not be read: {binding.problem}. Fix the reference in the service so it names a "
            "Key Vault certificate.",
            error_code="MalformedReference",
        )
    if target is None:
        where = binding.vault_uri or binding.vault_resource_id or "its vault"
        return _binding_finding(
            binding,
            None,
            Status.NOT_ASSESSED,
            Severity.MEDIUM,
            f"{service} serves {binding.certificate_name or 'a certificate'} from {where}, which is not one of "
            "the scanned vaults (another tenant, or not visible to the scanning identity); grant the scanner "
            "Reader and Key Vault Reader on that vault, or check it from its own tenant.",
            error_code="VaultNotScanned",
        )
    if target.error is not None:
        return _binding_finding(
            binding,
            target,
            Status.NOT_ASSESSED,
            Severity.HIGH,
            f"{service} serves {binding.certificate_name} from vault {target.vault.name}, but the certificate "
            f"could not be read there ({target.error.describe()}). {error_hint(target.error)}".strip(),
            error_code=target.error.code,
        )
    if target.certificate_missing and target.plain_secret is not None:
        return _plain_secret(binding, target, target.plain_secret, service, now)
    if target.certificate_missing or target.current is None:
        return _binding_finding(
            binding,
            target,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            f"{service} serves {binding.certificate_name}, which is neither a certificate nor a secret in vault "
            f"{target.vault.name} any more (deleted); recover it (soft delete keeps it for the vault's retention "
            "period), or point the service at a certificate that exists.",
        )
    current = target.current
    vault_has = _vault_has(current, target.vault)
    if target.version_missing:
        return _binding_finding(
            binding,
            target,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            f"{service} is pinned to version {binding.version} of {binding.certificate_name}, which no longer "
            f"exists; {vault_has}. {_follow_latest_fix(binding)}",
        )
    status = (binding.secret_status or "").strip()
    if binding.is_app_service and status and status.lower() not in HEALTHY:
        advice = advice_for(status)
        return _binding_finding(
            binding,
            target,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            f"{service} {advice.meaning} (keyVaultSecretStatus {status}), so it keeps serving thumbprint "
            f"{binding.thumbprint} instead of {binding.certificate_name} from vault {target.vault.name}; "
            f"{vault_has}. {advice.fix}",
            error_code=status,
        )
    pinned = binding.version
    if pinned is not None and pinned.lower() != current.version.lower():
        served = target.pinned
        expires = served.expires_on if served else None
        expired = expires is not None and expires <= now
        return _binding_finding(
            binding,
            target,
            Status.NON_COMPLIANT,
            Severity.CRITICAL if expired else Severity.HIGH,
            f"{service} is pinned to an older version of {binding.certificate_name}: it serves version "
            f"{pinned}{_expiry(expires, now)}, while {vault_has}. {_follow_latest_fix(binding)}",
            expires_on=expires,
        )
    if pinned is None:
        return _follower(binding, target, current, service, now)
    return _binding_finding(
        binding,
        target,
        Status.NON_COMPLIANT,
        Severity.MEDIUM,
        f"{service} is pinned to the current version {current.version} of {binding.certificate_name}"
        f"{_expiry(current.expires_on, now)}{_created(current)} in vault {target.vault.name}, so the next "
        "renewal will not reach it. "
        f"{_follow_latest_fix(binding)}",
        expires_on=current.expires_on,
    )


def _follower(
    binding: Binding, target: BindingTarget, current: CertificateVersion, service: str, now: datetime
) -> Finding:
    """A reference that follows the latest version: compare what the service reports serving (when it
    does) with the current version, after the service's propagation window."""
    vault_has = _vault_has(current, target.vault)
    current_hex = x5t_to_hex(current.x5t)
    served_hex = (binding.thumbprint or "").upper() or None
    if served_hex is None or current_hex is None or served_hex == current_hex:
        serves = f" and serves it (thumbprint {served_hex})" if served_hex else ""
        return _binding_finding(
            binding,
            target,
            Status.COMPLIANT,
            Severity.MEDIUM,
            f"{service} follows the latest version of {binding.certificate_name}{serves}; {vault_has}"
            f"{_expiry(current.expires_on, now)}.",
            expires_on=current.expires_on,
        )
    window = propagation_window(binding.resource_type)
    age = now - current.created_on if current.created_on else None
    served_expiry = binding.served_expires_on
    if age is not None and age <= window:
        return _binding_finding(
            binding,
            target,
            Status.COMPLIANT,
            Severity.MEDIUM,
            f"{service} follows the latest version of {binding.certificate_name}; {vault_has}, less than "
            f"{describe_window(window)} ago, so it is still propagating (the service serves thumbprint "
            f"{served_hex}{_expiry(served_expiry, now)} until it picks the new version up).",
            expires_on=served_expiry,
        )
    expired = served_expiry is not None and served_expiry <= now
    fix = _REFRESH_FIX.get(
        binding.resource_type.lower(), "Check the service's access to the vault, then make it fetch the new version."
    )
    return _binding_finding(
        binding,
        target,
        Status.NON_COMPLIANT,
        Severity.CRITICAL if expired else Severity.HIGH,
        f"{service} follows the latest version of {binding.certificate_name} but still serves thumbprint "
        f"{served_hex}{_expiry(served_expiry, now)}, not the current version (thumbprint {current_hex}); "
        f"{vault_has}, more than {describe_window(window)} ago, longer than the service takes to pick up a new "
        f"version. {fix}",
        expires_on=served_expiry,
    )


def _plain_secret(binding: Binding, target: BindingTarget, secret: PlainSecret, service: str, now: datetime) -> Finding:
    kind = f" ({secret.content_type})" if secret.content_type else ""
    created = f", its newest version created {secret.created_on:%Y-%m-%d}" if secret.created_on else ""
    return _binding_finding(
        binding,
        target,
        Status.NOT_APPLICABLE,
        Severity.INFO,
        f"{service} serves {secret.name} from vault {target.vault.name}, a plain Key Vault secret{kind}, not a "
        f"certificate{created}: an uploaded PFX or an App Service Certificate order's secret, which Key Vault "
        "cannot renew (KeyVault-006 does not apply); whoever uploads it renews it. ServedCertificate still checks "
        "what the service's hostnames serve.",
        expires_on=binding.served_expires_on or secret.expires_on,
    )


def unlistable_service_type(subscription_id: str, resource_type: str, error: ReadError) -> Finding:
    """A service type the identity cannot list in a subscription: one ``not_assessed`` finding, never a gap."""
    label = _SERVICE_LABEL.get(resource_type.lower(), (resource_type, None))[0]
    hint = error_hint(error)
    if error.status_code == 403 or "authorizationfailed" in error.code.lower():
        hint = "Grant the scanning identity Reader on the subscription."
    reason = (
        f"Could not list the subscription's {label} resources ({resource_type}: {error.describe()}), so the "
        f"certificates they serve were not checked. {hint}"
    ).strip()
    return unassessed_finding(RULE_BINDING, subscription_id, None, reason, error, resource_type=resource_type)


def service_label(resource_type: str | None) -> str:
    """'Front Door (classic)': how people call a service type (the resource type itself when unknown)."""
    if not resource_type:
        return "service"
    return _SERVICE_LABEL.get(resource_type.lower(), (resource_type, None))[0]


def describe_service(binding: Binding) -> str:
    """'Application Gateway appgw-prod (SSL certificate wildcard)': how every reason names the service."""
    kind, part = _SERVICE_LABEL.get(binding.resource_type.lower(), (binding.resource_type, "reference"))
    text = f"{kind} {binding.service_name}"
    if part and binding.binding:
        text += f" ({part} {binding.binding})"
    return text


def x5t_to_hex(x5t: str | None) -> str | None:
    """Key Vault's x5t (base64url SHA-1, no padding) as App Service shows thumbprints: upper-case hex."""
    if not x5t:
        return None
    try:
        raw = base64.urlsafe_b64decode(x5t + "=" * (-len(x5t) % 4))
    except (ValueError, binascii.Error):
        return None
    return raw.hex().upper() if len(raw) == 20 else None


def _vault_has(current: CertificateVersion, vault: Vault) -> str:
    return f"the current version in vault {vault.name} is {current.version}{_created(current)}"


def _created(version: CertificateVersion) -> str:
    return f", created {version.created_on:%Y-%m-%d %H:%M} UTC" if version.created_on else ""


def _expiry(expires_on: datetime | None, now: datetime) -> str:
    if expires_on is None:
        return ""
    verb = "expired" if expires_on <= now else "expires"
    return f" ({verb} {expires_on:%Y-%m-%d})"


def _follow_latest_fix(binding: Binding) -> str:
    kind = binding.resource_type.lower()
    if kind == "microsoft.cdn/profiles/secrets":
        return 'Turn on "latest version" (useLatestVersion) for the Front Door secret so each renewal reaches it.'
    if kind in ("microsoft.network/frontdoors", "microsoft.cdn/profiles/endpoints/customdomains"):
        return 'Set the certificate version to "Latest" (an empty secretVersion) so each renewal reaches it.'
    return "Use the versionless secret id (without the version segment) so each renewal reaches it."


def _binding_finding(
    binding: Binding,
    target: BindingTarget | None,
    status: Status,
    severity: Severity,
    reason: str,
    *,
    expires_on: datetime | None = None,
    error_code: str | None = None,
) -> Finding:
    vault = target.vault if target else None
    certificate = target.certificate if target else None
    current = target.current if target else None
    certificate_id = certificate.id if certificate else None
    if certificate_id is None and vault is not None and binding.certificate_name:
        certificate_id = f"{vault.uri.rstrip('/')}/certificates/{binding.certificate_name}"
    # expires_on is the expiry of what the service serves; None when unknown.
    return Finding(
        rule_id=RULE_BINDING,
        status=status,
        severity=severity,
        subscription_id=binding.subscription_id,
        vault_name=vault.name if vault else binding.vault_name,
        vault_uri=vault.uri if vault else binding.vault_uri,
        certificate_name=certificate.name if certificate else binding.certificate_name,
        certificate_id=certificate_id,
        issuer=certificate.issuer if certificate else None,
        lifetime_action=None,
        days_before_expiry=None,
        lifetime_percentage=None,
        expires_on=expires_on,
        reason=reason,
        vault_id=vault.resource_id if vault else binding.vault_resource_id,
        error_code=error_code,
        resource_id=binding.resource_id,
        resource_type=binding.resource_type,
        binding=binding.binding,
        bound_version=binding.version,
        current_version=current.version if current else None,
    )
