"""What every rule shares: the options they read and the one builder of a certificate's finding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.models import (
    Certificate,
    Finding,
    LifetimeAction,
    ReadError,
    Severity,
    Status,
)


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """What the rules need from the settings, and nothing else."""

    expiry_warning_days: int = 30
    exempt_tags: tuple[tuple[str, str], ...] = (("autorenew-exempt", "true"), ("Issuer", "Acmebot"))


def certificate_finding(
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


def primary_action(actions: Sequence[LifetimeAction]) -> LifetimeAction | None:
    """The action a finding reports: the renewing one when there is one, else the first."""
    return next((a for a in actions if a.is_auto_renew and has_trigger(a)), actions[0] if actions else None)


def has_trigger(action: LifetimeAction) -> bool:
    return action.days_before_expiry is not None or action.lifetime_percentage is not None
