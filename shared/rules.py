"""The rules of SPEC §2 as pure functions: records in, findings out, no I/O and no SDK types.

Every certificate listed yields exactly one finding per rule, so nothing is silently dropped; a vault or
subscription that could not be listed yields one ``not_assessed`` finding per rule in its place.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.models import (
    CERTIFICATE_RULE_IDS,
    RULE_AUTORENEW,
    RULE_BINDING,
    RULE_EXPIRY,
    Binding,
    Certificate,
    CertificateVersion,
    Finding,
    LifetimeAction,
    ReadError,
    Severity,
    Status,
    Vault,
)

ISSUER_SELF = "self"
ISSUER_UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """What the rules need from the settings, and nothing else."""

    expiry_warning_days: int = 30
    exempt_tags: tuple[tuple[str, str], ...] = (("autorenew-exempt", "true"), ("Issuer", "Acmebot"))


def evaluate(certificate: Certificate, *, now: datetime, options: RuleOptions) -> list[Finding]:
    """Both rules on one certificate, in rule order."""
    return [check_auto_renewal(certificate, options), check_expiry(certificate, now=now, options=options)]


def evaluate_all(certificates: Iterable[Certificate], *, now: datetime, options: RuleOptions) -> Iterable[Finding]:
    for certificate in certificates:
        yield from evaluate(certificate, now=now, options=options)


# --- KeyVault-006 -----------------------------------------------------------------------------------------


def check_auto_renewal(certificate: Certificate, options: RuleOptions) -> Finding:
    """KeyVault-006: the first row of the SPEC §2 table that matches decides."""
    if certificate.error is not None:
        return _finding(
            certificate,
            RULE_AUTORENEW,
            Status.NOT_ASSESSED,
            Severity.HIGH,
            _unreadable_reason(certificate.error),
            error=certificate.error,
        )
    if certificate.enabled is False:
        return _finding(
            certificate,
            RULE_AUTORENEW,
            Status.NOT_APPLICABLE,
            Severity.HIGH,
            "The certificate is disabled, so it is neither served nor renewed.",
        )
    exemption = matching_exempt_tag(certificate.tags, options.exempt_tags)
    if exemption is not None:
        key, value = exemption
        return _finding(
            certificate,
            RULE_AUTORENEW,
            Status.EXEMPT,
            Severity.HIGH,
            f"The certificate is exempt from this rule by its tag {key}={value}; its expiry is still checked.",
        )

    issuer = (certificate.issuer or "").strip()
    if issuer.lower() in ("", ISSUER_UNKNOWN):
        shown = issuer or "missing from the policy"
        return _finding(
            certificate,
            RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            f"The issuer is {shown} (an imported certificate, or a CA Key Vault is not partnered with), "
            "so Key Vault cannot renew it. Reissue it from an integrated CA (DigiCert, GlobalSign) or as "
            "self-signed with an AutoRenew lifetime action, or renew it elsewhere and tag it "
            f"{_first_exempt_tag(options)} so this rule stops flagging it.",
        )

    auto_renew = next((a for a in certificate.lifetime_actions if a.is_auto_renew and _has_trigger(a)), None)
    if auto_renew is not None:
        return _finding(
            certificate,
            RULE_AUTORENEW,
            Status.COMPLIANT,
            Severity.HIGH,
            f"Key Vault renews it automatically {auto_renew.describe_trigger()} (AutoRenew, issuer {issuer}).",
            action=auto_renew,
        )

    return _finding(
        certificate,
        RULE_AUTORENEW,
        Status.NON_COMPLIANT,
        Severity.HIGH,
        _missing_auto_renew_reason(certificate.lifetime_actions),
    )


def primary_action(actions: Sequence[LifetimeAction]) -> LifetimeAction | None:
    """The action a finding reports: the renewing one when there is one, else the first."""
    return next((a for a in actions if a.is_auto_renew and _has_trigger(a)), actions[0] if actions else None)


def _has_trigger(action: LifetimeAction) -> bool:
    return action.days_before_expiry is not None or action.lifetime_percentage is not None


def _missing_auto_renew_reason(actions: Sequence[LifetimeAction]) -> str:
    fix = "set the lifetime action to AutoRenew."
    if not actions:
        return f"No lifetime action is configured, so nothing renews it and nobody is reminded; {fix}"
    if all(a.action.lower() == "emailcontacts" for a in actions):
        triggers = ", ".join(a.describe_trigger() for a in actions)
        return f"Only EmailContacts is configured ({triggers}); {fix}"
    if any(a.is_auto_renew for a in actions):
        return f"AutoRenew is configured without a trigger, so it never fires; {fix}"
    described = ", ".join(f"{a.action} ({a.describe_trigger()})" for a in actions)
    return f"The lifetime actions are {described}, none of which renews it; {fix}"


def matching_exempt_tag(
    tags: Mapping[str, str] | None, exempt_tags: Sequence[tuple[str, str]]
) -> tuple[str, str] | None:
    """The certificate's own ``(key, value)`` that matches an exemption; Azure tag names are
    case-insensitive, and we compare values the same way so ``True`` and ``true`` agree."""
    if not tags:
        return None
    lowered = {(str(k).lower(), str(v).strip().lower()): (k, v) for k, v in tags.items()}
    for key, value in exempt_tags:
        found = lowered.get((key.lower(), value.lower()))
        if found is not None:
            return str(found[0]), str(found[1])
    return None


def _first_exempt_tag(options: RuleOptions) -> str:
    if options.exempt_tags:
        key, value = options.exempt_tags[0]
        return f"{key}={value}"
    return "with an exemption tag (EXEMPT_TAGS)"


# --- CertificateExpiry ------------------------------------------------------------------------------------


def check_expiry(certificate: Certificate, *, now: datetime, options: RuleOptions) -> Finding:
    if certificate.error is not None:
        return _finding(
            certificate,
            RULE_EXPIRY,
            Status.NOT_ASSESSED,
            Severity.MEDIUM,
            _unreadable_reason(certificate.error),
            error=certificate.error,
        )
    if certificate.enabled is False:
        return _finding(
            certificate,
            RULE_EXPIRY,
            Status.NOT_APPLICABLE,
            Severity.MEDIUM,
            "The certificate is disabled, so its expiry does not matter.",
        )
    expires_on = certificate.expires_on
    if expires_on is None:
        return _finding(
            certificate,
            RULE_EXPIRY,
            Status.NOT_APPLICABLE,
            Severity.MEDIUM,
            "The certificate has no expiry date (it may still be pending issuance).",
        )

    remaining = expires_on - now
    days_left = remaining.total_seconds() / 86400
    when = f"{expires_on:%Y-%m-%d %H:%M} UTC"
    failing = _renewal_failing(certificate, now)

    if remaining.total_seconds() <= 0:
        ago = _days(-days_left)
        reason = f"The certificate expired on {when} ({ago} ago); replace it now."
        status, severity = Status.NON_COMPLIANT, Severity.CRITICAL
    elif days_left <= options.expiry_warning_days:
        left = _days(days_left)
        reason = f"The certificate expires on {when}, in {left}"
        reason += (
            ", inside the 7-day danger zone; renew it now."
            if days_left <= 7
            else f", inside the {options.expiry_warning_days}-day warning window; make sure it is renewed."
        )
        status = Status.NON_COMPLIANT
        severity = Severity.HIGH if days_left <= 7 else Severity.MEDIUM
    else:
        reason = f"The certificate expires on {when}, in {_days(days_left)}."
        status, severity = Status.COMPLIANT, Severity.MEDIUM

    if failing is not None:
        action, due = failing
        reason += (
            f" Renewal looks stuck: AutoRenew ({action.describe_trigger()}) was due on {due:%Y-%m-%d}, "
            "yet this is still the current version; check the certificate's pending operation and its issuer."
        )
    return _finding(certificate, RULE_EXPIRY, status, severity, reason, action=failing[0] if failing else None)


def renewal_point(action: LifetimeAction, certificate: Certificate) -> datetime | None:
    """When Key Vault should renew: ``daysBeforeExpiry`` before expiry, or ``lifetimePercentage`` of the
    span from not-before to expiry."""
    expires_on = certificate.expires_on
    if expires_on is None:
        return None
    if action.days_before_expiry is not None:
        return expires_on - timedelta(days=action.days_before_expiry)
    if action.lifetime_percentage is not None and certificate.not_before is not None:
        span = expires_on - certificate.not_before
        return certificate.not_before + span * (action.lifetime_percentage / 100)
    return None


def _renewal_failing(certificate: Certificate, now: datetime) -> tuple[LifetimeAction, datetime] | None:
    for action in certificate.lifetime_actions:
        if not action.is_auto_renew:
            continue
        due = renewal_point(action, certificate)
        if due is not None and due <= now:
            return action, due
    return None


def _days(value: float) -> str:
    if value < 1:
        hours = max(1, round(value * 24))
        return f"{hours} hour{'s' if hours != 1 else ''}"
    days = int(value)
    return f"{days} day{'s' if days != 1 else ''}"


# --- vaults and subscriptions that could not be read ------------------------------------------------------


def unreadable_vault(vault: Vault, error: ReadError, *, listed: int = 0) -> list[Finding]:
    """A vault whose certificates could not be (all) listed: one ``not_assessed`` finding per rule.
    ``listed`` certificates came before the listing broke; they have findings of their own."""
    if listed:
        reason = (
            f"Listing the vault's certificates stopped after {listed} ({error.describe()}); "
            f"any further certificates were not assessed. {_hint(error)}"
        ).strip()
    else:
        reason = f"Could not list the vault's certificates ({error.describe()}). {_hint(error)}".strip()
    return _not_assessed_place(vault.subscription_id, vault, reason, error)


def unreadable_subscription(subscription_id: str, error: ReadError) -> list[Finding]:
    """A subscription whose vaults could not be listed: one ``not_assessed`` finding per rule."""
    reason = f"Could not list the subscription's Key Vaults ({error.describe()}). {_hint(error)}".strip()
    return _not_assessed_place(subscription_id, None, reason, error)


def _not_assessed_place(subscription_id: str, vault: Vault | None, reason: str, error: ReadError) -> list[Finding]:
    """One ``not_assessed`` finding per rule for a place with no certificate to name."""
    return [
        Finding(
            rule_id=rule_id,
            status=Status.NOT_ASSESSED,
            severity=Severity.HIGH,
            subscription_id=subscription_id,
            vault_name=vault.name if vault else None,
            vault_uri=vault.uri if vault else None,
            certificate_name=None,
            certificate_id=None,
            issuer=None,
            lifetime_action=None,
            days_before_expiry=None,
            lifetime_percentage=None,
            expires_on=None,
            reason=reason,
            vault_id=vault.resource_id if vault else None,
            error_code=error.code,
        )
        for rule_id in CERTIFICATE_RULE_IDS
    ]


def _unreadable_reason(error: ReadError) -> str:
    return f"Could not read the certificate's issuance policy ({error.describe()}). {_hint(error)}".strip()


def _hint(error: ReadError) -> str:
    code = error.code.lower()
    if "firewall" in code or "ipnotallowed" in code or "networkacl" in code:
        return "The vault's firewall refused the scanner; allow its network or trusted Azure services."
    if error.status_code == 403 or "forbidden" in code or "authorizationfailed" in code:
        return (
            "Grant the scanning identity Key Vault Reader (RBAC vaults) or certificate list and get "
            "permissions (access-policy vaults)."
        )
    if error.status_code == 404:
        return "It was deleted or moved while the scan ran."
    if error.status_code == 429:
        return "Key Vault kept throttling the scanner; the next scan will try again."
    if error.status_code and error.status_code >= 500:
        return "The service kept failing; the next scan will try again."
    return ""


# --- CertificateBinding -----------------------------------------------------------------------------------

# App Service syncs a Key Vault certificate within a day of a new version; after 48 h it is stuck (SPEC §2).
APP_SERVICE_SYNC_GRACE = timedelta(hours=48)
_APP_SERVICE_OK = ("succeeded", "initialized")
_SERVICE_LABEL = {
    "microsoft.network/applicationgateways": ("Application Gateway", "SSL certificate"),
    "microsoft.cdn/profiles/secrets": ("Front Door profile", "secret"),
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
            f"could not be read there ({target.error.describe()}). {_hint(target.error)}".strip(),
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
    hint = _hint(error)
    if error.status_code == 403 or "authorizationfailed" in error.code.lower():
        hint = "Grant the scanning identity Reader on the subscription."
    return Finding(
        rule_id=RULE_BINDING,
        status=Status.NOT_ASSESSED,
        severity=Severity.HIGH,
        subscription_id=subscription_id,
        vault_name=None,
        vault_uri=None,
        certificate_name=None,
        certificate_id=None,
        issuer=None,
        lifetime_action=None,
        days_before_expiry=None,
        lifetime_percentage=None,
        expires_on=None,
        reason=(
            f"Could not list the subscription's {label} resources ({resource_type}: {error.describe()}), so the "
            f"certificates they serve were not checked. {hint}"
        ).strip(),
        error_code=error.code,
        resource_type=resource_type,
    )


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


# --- building findings ------------------------------------------------------------------------------------


def _finding(
    certificate: Certificate,
    rule_id: str,
    status: Status,
    severity: Severity,
    reason: str,
    *,
    action: LifetimeAction | None = None,
    error: ReadError | None = None,
) -> Finding:
    vault = certificate.vault
    if action is None:
        action = primary_action(certificate.lifetime_actions)
    return Finding(
        rule_id=rule_id,
        status=status,
        severity=severity,
        subscription_id=vault.subscription_id,
        vault_name=vault.name,
        vault_uri=vault.uri,
        certificate_name=certificate.name,
        certificate_id=certificate.id,
        issuer=certificate.issuer,
        lifetime_action=action.action if action else None,
        days_before_expiry=action.days_before_expiry if action else None,
        lifetime_percentage=action.lifetime_percentage if action else None,
        expires_on=certificate.expires_on,
        reason=reason,
        vault_id=vault.resource_id,
        error_code=error.code if error else None,
    )
