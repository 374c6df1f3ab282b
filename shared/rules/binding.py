"""CertificateBinding: does each service that references a certificate pick up its renewals (SPEC §2)?"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.models import (
    RULE_BINDING,
    Binding,
    Certificate,
    CertificateVersion,
    Finding,
    ReadError,
    Severity,
    Status,
    Vault,
)
from shared.rules.unassessed import error_hint, unassessed_finding

# App Service syncs a Key Vault certificate within a day of a new version; after 48 h it is stuck (SPEC §2).
APP_SERVICE_SYNC_GRACE = timedelta(hours=48)
_APP_SERVICE_OK = ("succeeded", "initialized")
_SERVICE_LABEL = {
    "microsoft.network/applicationgateways": ("Application Gateway", "SSL certificate"),
    "microsoft.cdn/profiles/secrets": ("Front Door profile", "secret"),
    "microsoft.cdn/profiles/customdomains": ("Front Door custom domain", None),
    "microsoft.apimanagement/service": ("API Management service", "hostname"),
    "microsoft.web/certificates": ("App Service certificate", None),
}


@dataclass(frozen=True, slots=True)
class BindingTarget:
    """What the scan learned about the certificate a binding references, from the vault it names.

    ``certificate`` is its list entry (when listed); ``current`` its current version and ``pinned`` the
    version the service is pinned to (when that is not the current one). ``certificate_missing`` and
    ``version_missing`` are the vault's 404s; ``error`` anything else that kept it from being read."""

    vault: Vault
    certificate: Certificate | None = None
    current: CertificateVersion | None = None
    pinned: CertificateVersion | None = None
    certificate_missing: bool = False
    version_missing: bool = False
    error: ReadError | None = None


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
    if target.certificate_missing or target.current is None:
        return _binding_finding(
            binding,
            target,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            f"{service} serves {binding.certificate_name}, which no longer exists in vault {target.vault.name} "
            "(deleted); restore it, or point the service at a certificate that exists.",
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
    if binding.is_app_service and status and status.lower() not in _APP_SERVICE_OK:
        return _binding_finding(
            binding,
            target,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            f"{service} cannot read {binding.certificate_name} from vault {target.vault.name} (its Key Vault "
            f"status is {status}), so it keeps serving thumbprint {binding.thumbprint}; {vault_has}. Grant the "
            "service's identity (App Service's Microsoft.Azure.WebSites resource provider) access to the "
            "vault's secrets.",
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
            served=served,
        )
    if binding.is_app_service:
        current_hex = x5t_to_hex(current.x5t)
        served_hex = (binding.thumbprint or "").upper()
        if current_hex is not None and served_hex != current_hex:
            age = now - current.created_on if current.created_on else None
            if age is None or age > APP_SERVICE_SYNC_GRACE:
                return _binding_finding(
                    binding,
                    target,
                    Status.NON_COMPLIANT,
                    Severity.HIGH,
                    f"{service} still serves thumbprint {served_hex}, not the current version of "
                    f"{binding.certificate_name} (thumbprint {current_hex}); {vault_has}, more than 48 hours "
                    "ago, and App Service syncs within a day. Check the certificate's Key Vault status and the "
                    "service's access to the vault, then sync the certificate in the App Service.",
                    served=None,
                )
            return _binding_finding(
                binding,
                target,
                Status.COMPLIANT,
                Severity.MEDIUM,
                f"{service} follows {binding.certificate_name} by name; {vault_has}, less than 48 hours ago, and "
                f"App Service has not synced it yet (it serves thumbprint {served_hex}).",
            )
        return _binding_finding(
            binding,
            target,
            Status.COMPLIANT,
            Severity.MEDIUM,
            f"{service} follows {binding.certificate_name} by name and serves its current version "
            f"{current.version}{_expiry(current.expires_on, now)}{_created(current)} in vault {target.vault.name}.",
            served=current,
        )
    if pinned is not None:
        return _binding_finding(
            binding,
            target,
            Status.NON_COMPLIANT,
            Severity.MEDIUM,
            f"{service} is pinned to the current version {current.version} of {binding.certificate_name}"
            f"{_expiry(current.expires_on, now)}{_created(current)} in vault {target.vault.name}, so the next "
            "renewal will not reach it. "
            f"{_follow_latest_fix(binding)}",
            served=current,
        )
    return _binding_finding(
        binding,
        target,
        Status.COMPLIANT,
        Severity.MEDIUM,
        f"{service} follows the latest version of {binding.certificate_name}; {vault_has}"
        f"{_expiry(current.expires_on, now)}.",
        served=current,
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
    if binding.resource_type.lower() == "microsoft.cdn/profiles/secrets":
        return 'Turn on "latest version" (useLatestVersion) for the Front Door secret so each renewal reaches it.'
    return "Use the versionless secret id (without the version segment) so each renewal reaches it."


def _binding_finding(
    binding: Binding,
    target: BindingTarget | None,
    status: Status,
    severity: Severity,
    reason: str,
    *,
    served: CertificateVersion | None = None,
    error_code: str | None = None,
) -> Finding:
    vault = target.vault if target else None
    certificate = target.certificate if target else None
    current = target.current if target else None
    certificate_id = certificate.id if certificate else None
    if certificate_id is None and vault is not None and binding.certificate_name:
        certificate_id = f"{vault.uri.rstrip('/')}/certificates/{binding.certificate_name}"
    # The expiry of what the service serves; unknown (None) when it serves a thumbprint we cannot place.
    expires_on = served.expires_on if served else None
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
