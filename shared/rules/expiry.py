"""CertificateExpiry: the expiry window, and why a renewal that should have happened did not (SPEC §2)."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.models import (
    RULE_EXPIRY,
    Certificate,
    Finding,
    LifetimeAction,
    Severity,
    Status,
)
from shared.rules.findings import RuleOptions, certificate_finding
from shared.rules.unassessed import unreadable_reason


def check_expiry(certificate: Certificate, *, now: datetime, options: RuleOptions) -> Finding:
    """CertificateExpiry. The expiry date comes from the certificate list, so only a certificate whose own
    list entry (or vault) could not be read is ``not_assessed``; an unreadable *policy* costs only the
    renewal-failing note (SPEC §2)."""
    if certificate.error is not None:
        return certificate_finding(
            certificate,
            RULE_EXPIRY,
            Status.NOT_ASSESSED,
            Severity.MEDIUM,
            unreadable_reason(certificate.error),
            error=certificate.error,
        )
    if certificate.enabled is False:
        return certificate_finding(
            certificate,
            RULE_EXPIRY,
            Status.NOT_APPLICABLE,
            Severity.MEDIUM,
            "The certificate is disabled, so its expiry does not matter.",
        )
    expires_on = certificate.expires_on
    if expires_on is None:
        return certificate_finding(
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
    return certificate_finding(
        certificate, RULE_EXPIRY, status, severity, reason, action=failing[0] if failing else None
    )


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
