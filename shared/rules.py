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
from typing import Any

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
from shared.text import comparable

ISSUER_SELF = "self"
ISSUER_UNKNOWN = "unknown"
# Key Vault's lifetime action types (compared case-insensitively); anything else is not understood.
KNOWN_ACTION_TYPES = frozenset({"autorenew", "emailcontacts"})
# The finding's error_code when the policy holds something the app does not understand.
UNSUPPORTED_POLICY = "UnsupportedPolicy"


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
    if certificate.policy_error is not None:
        return _finding(
            certificate,
            RULE_AUTORENEW,
            Status.NOT_ASSESSED,
            Severity.HIGH,
            _unreadable_policy_reason(certificate.policy_error),
            error=certificate.policy_error,
        )
    unexplained = unexplained_policy(certificate)
    if unexplained is not None:
        # Malformed data is the first row too: the app never claims a failure it cannot explain.
        return _finding(
            certificate,
            RULE_AUTORENEW,
            Status.NOT_ASSESSED,
            Severity.HIGH,
            f"The issuance policy holds {unexplained}, which this app does not understand: Key Vault's lifetime "
            "actions are AutoRenew and EmailContacts, triggered a number of days before expiry or at a "
            "percentage of the lifetime. Check the policy in the portal and set an AutoRenew action; until "
            "then this certificate is not assessed and remediation leaves it alone.",
            error_code=UNSUPPORTED_POLICY,
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
    if is_unknown_issuer(issuer):
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
            f"Key Vault renews it automatically {auto_renew.describe_trigger()} (AutoRenew, issuer {issuer})."
            + _self_over_ca_warning(certificate),
            action=auto_renew,
        )

    return _finding(
        certificate,
        RULE_AUTORENEW,
        Status.NON_COMPLIANT,
        Severity.HIGH,
        _missing_auto_renew_reason(certificate.lifetime_actions, fix=_self_over_ca_fix(certificate)),
    )


def _self_over_ca_warning(certificate: Certificate) -> str:
    """For a policy that already renews: a ``Self`` policy over a certificate a CA issued means the next
    version will be self-signed (SPEC §4, remediation's guard). Known only when the current version was read
    for a service (its ``cer`` came with it); otherwise nothing is claimed."""
    ca = _ca_under_self(certificate)
    if ca is None:
        return ""
    return (
        f" Careful: its current version was issued by {ca}, so the next renewal under this Self policy will "
        f"replace it with a self-signed certificate; set the policy's issuer to {ca} before then."
    )


def _self_over_ca_fix(certificate: Certificate) -> str:
    """The fix for a policy without AutoRenew: plain AutoRenew, unless a CA issued what a Self policy holds."""
    ca = _ca_under_self(certificate)
    if ca is None:
        return "set the lifetime action to AutoRenew."
    return (
        f"its current version was issued by {ca}, and AutoRenew under this Self policy would issue a self-signed "
        f"replacement: set the policy's issuer to {ca} first, then the lifetime action to AutoRenew "
        "(remediation refuses until then)."
    )


def _ca_under_self(certificate: Certificate) -> str | None:
    if certificate.issued_by_ca is None or comparable(certificate.issuer) != ISSUER_SELF:
        return None
    return certificate.issued_by_ca


def is_unknown_issuer(issuer: str | None) -> bool:
    """``Unknown`` (or no issuer at all), compared as a guard must: a trailing space, a zero-width character
    or full-width letters do not make it a renewable issuer."""
    return comparable(issuer) in ("", ISSUER_UNKNOWN)


def unexplained_policy(certificate: Certificate) -> str | None:
    """What in the certificate's lifetime actions this app does not understand, with the raw values
    (e.g. ``the action type "Renew"``), or None when every action is understood.

    KeyVault-006 is ``not_assessed`` for such a policy, and remediation must refuse to overwrite it: the
    app never replaces what it cannot explain (SPEC §2)."""
    return unexplained_actions(certificate.lifetime_actions)


def unexplained_actions(actions: Sequence[LifetimeAction]) -> str | None:
    """:func:`unexplained_policy` for a policy's actions alone (remediation reads them without a
    :class:`Certificate`). Every action is looked at, not only the first."""
    problems: list[str] = []
    for action in actions:
        if action.unexplained is not None:
            problems.append(action.unexplained)
        elif action.action.lower() not in KNOWN_ACTION_TYPES:
            problems.append(f"the action type {_quoted(action.action)}")
        elif not _has_trigger(action):
            problems.append(f"{action.action} with a trigger that is neither days before expiry nor a percentage")
    return "; ".join(dict.fromkeys(problems)) or None


def _quoted(value: str) -> str:
    return '"' + (value if len(value) <= 100 else value[:99] + "…") + '"'


def primary_action(actions: Sequence[LifetimeAction]) -> LifetimeAction | None:
    """The action a finding reports: the renewing one when there is one, else the first."""
    return next((a for a in actions if a.is_auto_renew and _has_trigger(a)), actions[0] if actions else None)


def _has_trigger(action: LifetimeAction) -> bool:
    return action.days_before_expiry is not None or action.lifetime_percentage is not None


def _missing_auto_renew_reason(actions: Sequence[LifetimeAction], *, fix: str) -> str:
    """Only understood policies get here (unknown types and triggers are not assessed): no action at all,
    or EmailContacts only."""
    if not actions:
        return f"No lifetime action is configured, so nothing renews it and nobody is reminded; {fix}"
    triggers = ", ".join(a.describe_trigger() for a in actions)
    return f"Only EmailContacts is configured ({triggers}); {fix}"


def matching_exempt_tag(
    tags: Mapping[str, str] | None, exempt_tags: Sequence[tuple[str, str]]
) -> tuple[str, str] | None:
    """The certificate's own ``(key, value)`` that matches an exemption. Azure tag names are
    case-insensitive, and we compare values the same way so ``True`` and ``true`` agree; both are compared
    as people meant them (:func:`shared.text.comparable`), so a trailing space, a zero-width character or
    full-width letters in a tag someone typed still match."""
    if not tags:
        return None
    lowered = {(comparable(str(k)), comparable(str(v))): (k, v) for k, v in tags.items()}
    for key, value in exempt_tags:
        found = lowered.get((comparable(key), comparable(value)))
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
    """CertificateExpiry. The expiry date comes from the certificate list, so only a certificate whose own
    list entry (or vault) could not be read is ``not_assessed``; an unreadable *policy* costs only the
    renewal-failing note (SPEC §2)."""
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

    if failing is None and certificate.policy_error is not None and status == Status.NON_COMPLIANT:
        reason += (
            f" Its issuance policy could not be read ({certificate.policy_error.describe()}), so whether "
            "AutoRenew should already have renewed it is unknown."
        )
    if failing is not None:
        action, due = failing
        note, renewal_failed = _renewal_note(certificate, action, due)
        reason += f" {note}"
        if renewal_failed:
            # A renewal the issuer refused will not fix itself: a problem now, whatever the distance.
            status = Status.NON_COMPLIANT
            severity = min(severity, Severity.HIGH, key=lambda s: s.rank)
    if certificate.newest_version_disabled:
        reason += (
            " Its newest version is disabled, so the vault and the services that use it keep the older one; "
            "enable the newest version (or disable the certificate's old one only after it is served)."
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


def renewal_looks_stuck(certificate: Certificate, now: datetime) -> bool:
    """AutoRenew's renewal point has passed and the certificate is still the current version: the scan
    then reads its pending operation to say why (SPEC §2, CertificateExpiry)."""
    if certificate.error is not None or certificate.policy_error is not None or certificate.enabled is False:
        return False
    return _renewal_failing(certificate, now) is not None


def _renewal_note(certificate: Certificate, action: LifetimeAction, due: datetime) -> tuple[str, bool]:
    """The sentence about a renewal whose point has passed, from the pending operation when it was read,
    and whether the renewal failed (the issuer refused it, or the operation carries an error)."""
    when = f"AutoRenew ({action.describe_trigger()}) was due on {due:%Y-%m-%d}"
    issuer = (certificate.issuer or "").strip() or "its issuer"
    pending = certificate.pending
    if pending is None:
        return (
            f"Renewal looks stuck: {when}, yet this is still the current version; check the certificate's "
            "pending operation and its issuer.",
            False,
        )
    if pending.read_error is not None:
        return (
            f"Renewal looks stuck: {when}, yet this is still the current version, and its pending operation "
            f"could not be read ({pending.read_error.describe()}); check it and the issuer {issuer} in the vault.",
            False,
        )
    if not pending.exists:
        check = (
            "check the vault's activity log"
            if issuer.lower() == "self"
            else f"check that the issuer {issuer} is still set up in the vault"
        )
        return (
            f"Renewal looks stuck: {when}, yet this is still the current version and no renewal was even "
            f"attempted (Key Vault has no pending operation for it); {check}, or create a new version by hand.",
            False,
        )
    status = (pending.status or "").strip()
    if pending.failed:
        said = ": ".join(part.rstrip(". ") for part in (pending.error_code, pending.error_message) if part)
        said = said or pending.status_details or "no error message"
        return (
            f"Renewal failed: {when}, and the request to {issuer} failed ({said}). Fix the problem with "
            f"{issuer} (its account, organisation validation or order), then create a new version; until "
            "then this version keeps counting down.",
            True,
        )
    details = f" ({pending.status_details})" if pending.status_details else ""
    if status.lower() == "inprogress":
        return (
            f"Renewal is in progress at {issuer} since about {due:%Y-%m-%d}, when AutoRenew "
            f"({action.describe_trigger()}) was due{details}; if it stays in progress, check the order with "
            f"{issuer}.",
            False,
        )
    if status.lower() == "cancelled":
        return (
            f"Renewal looks stuck: {when}, and its last request to {issuer} was cancelled{details}; no renewal "
            "is in progress, so create a new version.",
            False,
        )
    if status.lower() == "completed":
        return (
            f"Renewal looks stuck: {when}, yet this is still the current version; its last operation completed "
            "before that, and no renewal has started since. Check the issuer and create a new version.",
            False,
        )
    return (
        f"Renewal looks stuck: {when}, yet this is still the current version; its pending operation is "
        f"{status or 'without a status'}{details}.",
        False,
    )


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
            f"any further certificates were not assessed. {error_hint(error)}"
        ).strip()
    else:
        reason = f"Could not list the vault's certificates ({error.describe()}). {error_hint(error)}".strip()
    return _not_assessed_place(vault.subscription_id, vault, reason, error)


def unreadable_subscription(subscription_id: str, error: ReadError) -> list[Finding]:
    """A subscription whose vaults could not be listed: one ``not_assessed`` finding per rule."""
    reason = f"Could not list the subscription's Key Vaults ({error.describe()}). {error_hint(error)}".strip()
    return _not_assessed_place(subscription_id, None, reason, error)


def _not_assessed_place(subscription_id: str, vault: Vault | None, reason: str, error: ReadError) -> list[Finding]:
    """One ``not_assessed`` finding per rule for a place with no certificate to name."""
    return [_unassessed(rule_id, subscription_id, vault, reason, error) for rule_id in CERTIFICATE_RULE_IDS]


def _unassessed(
    rule_id: str, subscription_id: str, vault: Vault | None, reason: str, error: ReadError, **extra: Any
) -> Finding:
    """A ``not_assessed`` finding about a place (a subscription, a vault, a service type) rather than a
    certificate: nothing but the place, the reason and the service's error code is known."""
    return Finding(
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
        **extra,
    )


def _unreadable_reason(error: ReadError) -> str:
    return f"Could not read the certificate ({error.describe()}). {error_hint(error)}".strip()


def _unreadable_policy_reason(error: ReadError) -> str:
    return f"Could not read the certificate's issuance policy ({error.describe()}). {error_hint(error)}".strip()


def error_hint(error: ReadError) -> str:
    """The one thing a person can do about a read error, as a sentence (empty when there is nothing to add)."""
    code = error.code.lower()
    if code in ("authenticationfailed", "nocredential"):
        return (
            "No Azure credential gave a token: sign in with `az login` when scanning from a terminal; in Azure, "
            "check the Function App's managed identity (AZURE_CLIENT_ID names a user-assigned one)."
        )
    if code == "untrustedvaulthost":
        return (
            "The scan sends tokens only to Key Vault hosts; check where this vault URI comes from "
            "(KEYVAULT_VERIFY_CHALLENGE_RESOURCE=false is meant for local emulators only)."
        )
    if code == "untrustednextlink":
        return (
            "The scan follows a vault's list only within that vault; if this persists, look for a proxy or DNS "
            "entry that rewrites the vault's answers."
        )
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
    return _unassessed(RULE_BINDING, subscription_id, None, reason, error, resource_type=resource_type)


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
    error_code: str | None = None,
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
        error_code=error.code if error else error_code,
    )
