"""The remediation plan of KeyVault-006, as pure functions: findings in, changes out, no I/O.

The plan comes from a scan (a fresh one, or the latest stored one): every KeyVault-006 ``non_compliant``
certificate. Those whose issuer Key Vault can renew (``Self`` or an issuer object such as DigiCert) are
planned; those with issuer ``Unknown`` (or none) are listed as skipped with the reason, so a person sees
why they stay. Disabled, exempt and unreadable certificates are never ``non_compliant`` under this rule, so
they never enter the plan.

Just before a change, :func:`judge_live` decides again on the certificate as Key Vault holds it then (the
scan may be old), in the rule's own order: disabled, exempt, already renewing, issuer ``Unknown``; then the
guards that make a change safe. A policy the app cannot fully explain (an action type Key Vault does not
define, a trigger that is neither days nor percentage) is never overwritten, and neither is a ``Self``
policy on a certificate that a CA issued: AutoRenew would replace it with a self-signed one. Names are
compared as :func:`shared.text.comparable` sees them, so ``Unknown`` with a zero-width space is still
``Unknown``.

Reading and patching live in :mod:`shared.remediation.apply`, the report in
:mod:`shared.remediation.report`, the two entry points (the command and the timer) in
:mod:`shared.remediation.command`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.models import (
    RULE_AUTORENEW,
    Finding,
    LifetimeAction,
    LifetimeActionType,
    ScanResult,
    ScanStatus,
    Status,
    isoformat,
)
from shared.rules import is_unknown_issuer, matching_exempt_tag
from shared.text import comparable

DEFAULT_LIFETIME_PERCENTAGE = 80
"""Key Vault's own default trigger for AutoRenew."""
DAYS_PER_VALIDITY_MONTH = 27
"""Key Vault's bound on ``days_before_expiry``: 1 to validity months × 27."""
CERTIFICATES_OFFICER = "Key Vault Certificates Officer"
CERTIFICATES_OFFICER_ROLE_ID = "a4417e6f-fecd-4de8-b567-7b0420556985"
UNKNOWN_ISSUER = "Key Vault cannot renew an Unknown-issuer certificate"
UNCHANGED = "unchanged"
KNOWN_ACTION_TYPES = {comparable(t.value): t.value for t in LifetimeActionType}
KNOWN_TRIGGERS = ("days_before_expiry", "lifetime_percentage")


class TriggerError(ValueError):
    """The requested trigger is not one Key Vault accepts. ``str()`` is the one line to show."""


class RemediationTargetError(ValueError):
    """The caller named a certificate, vault or subscription that the scan does not hold."""


class State(StrEnum):
    """Where one certificate of the plan stands."""

    PLANNED = "planned"  # a dry run would change it
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"  # Key Vault cannot renew it, or the trigger does not fit it: it stays non-compliant
    REFUSED = "refused"  # changing it could break it, or its policy holds what the app cannot explain
    NOT_NEEDED = "not_needed"  # since the scan it renews itself, or was disabled or exempted: left alone
    NOT_ATTEMPTED = "not_attempted"  # stopped: a limit of the run, or the store refused an earlier record

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")

    @property
    def stays_non_compliant(self) -> bool:
        return self in (State.PLANNED, State.FAILED, State.SKIPPED, State.REFUSED, State.NOT_ATTEMPTED)


# --- the trigger ------------------------------------------------------------------------------------------


def renewal_action(*, days_before_expiry: int | None = None, lifetime_percentage: int | None = None) -> LifetimeAction:
    """The AutoRenew action to set. With no trigger given, Key Vault's default: at 80% of the lifetime."""
    if days_before_expiry is not None and lifetime_percentage is not None:
        raise TriggerError("choose one trigger: --days-before-expiry or --lifetime-percentage, not both")
    if lifetime_percentage is not None and not 1 <= lifetime_percentage <= 99:
        raise TriggerError(f"the lifetime percentage must be a whole number from 1 to 99, got {lifetime_percentage}")
    if days_before_expiry is not None and days_before_expiry < 1:
        raise TriggerError(f"the days before expiry must be a whole number of at least 1, got {days_before_expiry}")
    if days_before_expiry is None and lifetime_percentage is None:
        lifetime_percentage = DEFAULT_LIFETIME_PERCENTAGE
    return LifetimeAction(
        action=LifetimeActionType.AUTO_RENEW.value,
        days_before_expiry=days_before_expiry,
        lifetime_percentage=lifetime_percentage,
    )


def trigger_problem(action: LifetimeAction, validity_months: int | None) -> str | None:
    """Why ``action`` does not fit a policy of ``validity_months``, or None when it does (or cannot be told)."""
    days = action.days_before_expiry
    if days is None or validity_months is None:
        return None
    limit = validity_months * DAYS_PER_VALIDITY_MONTH
    if days <= limit:
        return None
    return (
        f"{days} days before expiry is more than its {validity_months}-month validity allows "
        f"(at most {limit} days: validity months × {DAYS_PER_VALIDITY_MONTH}); choose fewer days or a "
        "lifetime percentage"
    )


def describe_action(action: LifetimeAction) -> str:
    """``AutoRenew at 80% of its lifetime``, ``EmailContacts 3 days before expiry``."""
    return f"{action.action} {action.describe_trigger()}"


def describe_actions(actions: Sequence[LifetimeAction]) -> str:
    return ", ".join(describe_action(a) for a in actions) if actions else "no lifetime action"


def renews(action: LifetimeAction) -> bool:
    """An AutoRenew action with a trigger: Key Vault will renew by itself."""
    return comparable(action.action) == comparable(LifetimeActionType.AUTO_RENEW.value) and (
        action.days_before_expiry is not None or action.lifetime_percentage is not None
    )


def renewable_issuer(issuer: str | None) -> bool:
    """Self or a named CA; never ``Unknown`` (however it is spelled: trailing space, zero-width
    characters, full-width letters) and never a missing issuer: the scan's own test, so the two agree."""
    return not is_unknown_issuer(issuer)


def issuer_reason(issuer: str | None) -> str:
    if comparable(issuer):
        return (
            f"{UNKNOWN_ISSUER}; reissue it from an integrated CA or as self-signed, or renew it elsewhere "
            "and tag it exempt"
        )
    return "the policy names no issuer, so Key Vault cannot renew it"


# --- the plan ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Remediation:
    """One certificate of the plan: what it has, what it gets, and what happened."""

    subscription_id: str | None
    vault_name: str
    vault_uri: str
    certificate_name: str
    issuer: str | None
    before: str
    after: str
    state: State
    detail: str = ""
    error_code: str | None = None
    when: datetime | None = None

    @property
    def outcome(self) -> str:
        """``applied``, ``planned``, ``failed: HTTP 403 Forbidden (ForbiddenByRbac): ...``, ``skipped: ...``."""
        return f"{self.state.label}: {self.detail}" if self.detail else self.state.label

    def to_dict(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "vault_name": self.vault_name,
            "vault_uri": self.vault_uri,
            "certificate_name": self.certificate_name,
            "issuer": self.issuer,
            "before": self.before,
            "after": self.after,
            "status": self.state.value,
            "outcome": self.outcome,
            "error_code": self.error_code,
            "when": isoformat(self.when),
        }

    def digest_entry(self) -> dict[str, Any]:
        """What ``alerts.notify(remediations=...)`` takes."""
        return {
            "vault_name": self.vault_name,
            "certificate_name": self.certificate_name,
            "before": self.before,
            "after": self.after,
            "outcome": self.outcome,
            "status": self.state.value,
            "subscription_id": self.subscription_id,
        }


@dataclass(slots=True)
class Plan:
    scan_id: str
    action: LifetimeAction
    items: list[Remediation]
    not_assessed: list[Finding] = field(default_factory=list)
    scan_status: ScanStatus = ScanStatus.COMPLETED


def plan_remediation(
    result: ScanResult,
    action: LifetimeAction,
    *,
    subscription_ids: Iterable[str] = (),
    vault_names: Iterable[str] = (),
    certificate_names: Iterable[str] = (),
) -> Plan:
    """The plan for ``result``'s KeyVault-006 findings in scope.

    Raises :class:`RemediationTargetError` when a certificate name matches no certificate in scope.
    """
    subscriptions = {s.lower() for s in subscription_ids}
    vaults = {v.lower() for v in vault_names}
    certificates = {c.lower() for c in certificate_names}

    def in_place(f: Finding) -> bool:
        if subscriptions and (f.subscription_id or "").lower() not in subscriptions:
            return False
        return not vaults or (f.vault_name or "").lower() in vaults

    placed = [f for f in result.findings if f.rule_id == RULE_AUTORENEW and in_place(f)]
    if certificates:
        missing = certificates - {(f.certificate_name or "").lower() for f in placed if f.certificate_name}
        if missing:
            raise RemediationTargetError(
                f"No certificate named {', '.join(sorted(missing))} in the selected vaults of scan {result.scan.id}."
            )
        placed = [f for f in placed if (f.certificate_name or "").lower() in certificates]

    after = describe_action(action)
    items: list[Remediation] = []
    for f in sorted(placed, key=lambda f: ((f.vault_name or "").lower(), (f.certificate_name or "").lower())):
        if f.status != Status.NON_COMPLIANT or not (f.certificate_name and f.vault_name and f.vault_uri):
            continue
        renewable = renewable_issuer(f.issuer)
        items.append(
            Remediation(
                subscription_id=f.subscription_id,
                vault_name=f.vault_name,
                vault_uri=f.vault_uri,
                certificate_name=f.certificate_name,
                issuer=f.issuer,
                before=_finding_before(f),
                after=after if renewable else UNCHANGED,
                state=State.PLANNED if renewable else State.SKIPPED,
                detail="" if renewable else issuer_reason(f.issuer),
            )
        )
    return Plan(
        scan_id=result.scan.id,
        action=action,
        items=items,
        not_assessed=[f for f in placed if f.status == Status.NOT_ASSESSED],
        scan_status=result.scan.status,
    )


def _finding_before(finding: Finding) -> str:
    """What the scan saw (the finding keeps the renewing action, else the first); the live policy refines it."""
    if not finding.lifetime_action:
        return "no lifetime action"
    return describe_action(
        LifetimeAction(finding.lifetime_action, finding.days_before_expiry, finding.lifetime_percentage)
    )


@dataclass(frozen=True, slots=True)
class Identity:
    """The identity that makes the changes, from its Key Vault token's claims (for the record only)."""

    object_id: str | None = None
    app_id: str | None = None
    upn: str | None = None

    def describe(self) -> str:
        if self.upn:
            return f"{self.upn} (object id {self.object_id})" if self.object_id else self.upn
        if self.object_id:
            return f"object id {self.object_id}" + (f" (app id {self.app_id})" if self.app_id else "")
        return f"app id {self.app_id}" if self.app_id else "unknown"


# --- the decision just before a change --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveCertificate:
    """What remediation needs from a certificate as Key Vault holds it now.

    ``unexplained``: the parts of its lifetime actions the app cannot explain (:func:`unexplained_actions`).
    ``ca_issuer``: the CA named as the current version's X.509 issuer when its own key did not sign it
    (:func:`shared.x509.ca_that_issued`: a signature, never a name comparison); ``certificate_problem``:
    why the current version's X.509 certificate could not be read or parsed (the guard refuses then).
    """

    enabled: bool | None
    tags: Mapping[str, str]
    issuer: str | None
    actions: tuple[LifetimeAction, ...]
    validity_months: int | None
    unexplained: tuple[str, ...] = ()
    ca_issuer: str | None = None
    certificate_problem: str | None = None


def judge_live(
    live: LiveCertificate, action: LifetimeAction, exempt_tags: Sequence[tuple[str, str]]
) -> tuple[State, str] | None:
    """Whether a planned certificate may be changed now: ``None`` when it may, else the state it ends in
    and why. The rule's own order first (disabled, exempt, already renewing), then the guards: a policy
    it cannot explain, an issuer Key Vault cannot renew with, a CA-issued certificate under ``Self``, a
    trigger the policy's validity does not allow."""
    if live.enabled is False:
        return State.NOT_NEEDED, "it is disabled now"
    exemption = matching_exempt_tag(live.tags, exempt_tags)
    if exemption is not None:
        return State.NOT_NEEDED, f"it is exempt now by its tag {exemption[0]}={exemption[1]}"
    if renewable_issuer(live.issuer):
        renewing = next((a for a in live.actions if renews(a)), None)
        if renewing is not None:
            return State.NOT_NEEDED, f"it renews itself by now ({describe_action(renewing)})"
    if live.unexplained:
        return State.REFUSED, (
            f"its policy holds {'; '.join(live.unexplained)}, which Key Vault does not define; AutoRenew Guard "
            "never overwrites a policy it cannot fully explain: correct the lifetime action by hand"
        )
    if not renewable_issuer(live.issuer):
        return State.SKIPPED, issuer_reason(live.issuer) + " (its policy changed since the scan)"
    if comparable(live.issuer) == "self":
        if live.ca_issuer is not None:
            return State.REFUSED, (
                "AutoRenew would issue a self-signed replacement for a certificate that CA "
                f"{live.ca_issuer} issued; set the policy's issuer to that CA (an issuer object in Key Vault) "
                "or renew it with that CA, then tag it exempt"
            )
        if live.certificate_problem is not None:
            return State.REFUSED, (
                f"its current version could not be checked ({live.certificate_problem}), so AutoRenew Guard "
                "cannot tell whether a CA issued it and AutoRenew would replace it with a self-signed one"
            )
    problem = trigger_problem(action, live.validity_months)
    if problem is not None:
        return State.SKIPPED, problem
    return None
