"""KeyVault-006: does the certificate's issuance policy renew it (SPEC §2)?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.models import (
    RULE_AUTORENEW,
    Certificate,
    Finding,
    LifetimeAction,
    Severity,
    Status,
)
from shared.rules.findings import RuleOptions, certificate_finding, has_trigger
from shared.rules.unassessed import unreadable_policy_reason, unreadable_reason
from shared.text import comparable

ISSUER_SELF = "self"
ISSUER_UNKNOWN = "unknown"
# Key Vault's lifetime action types (compared case-insensitively); anything else is not understood.
KNOWN_ACTION_TYPES = frozenset({"autorenew", "emailcontacts"})
# The finding's error_code when the policy holds something the app does not understand.
UNSUPPORTED_POLICY = "UnsupportedPolicy"


def check_auto_renewal(certificate: Certificate, options: RuleOptions) -> Finding:
    """KeyVault-006: the first row of the SPEC §2 table that matches decides."""
    if certificate.error is not None:
        return certificate_finding(
            certificate,
            RULE_AUTORENEW,
            Status.NOT_ASSESSED,
            Severity.HIGH,
            unreadable_reason(certificate.error),
            error=certificate.error,
        )
    if certificate.policy_error is not None:
        return certificate_finding(
            certificate,
            RULE_AUTORENEW,
            Status.NOT_ASSESSED,
            Severity.HIGH,
            unreadable_policy_reason(certificate.policy_error),
            error=certificate.policy_error,
        )
    unexplained = unexplained_policy(certificate)
    if unexplained is not None:
        # Malformed data is the first row too: the app never claims a failure it cannot explain.
        return certificate_finding(
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
        return certificate_finding(
            certificate,
            RULE_AUTORENEW,
            Status.NOT_APPLICABLE,
            Severity.HIGH,
            "The certificate is disabled, so it is neither served nor renewed.",
        )
    exemption = matching_exempt_tag(certificate.tags, options.exempt_tags)
    if exemption is not None:
        key, value = exemption
        return certificate_finding(
            certificate,
            RULE_AUTORENEW,
            Status.EXEMPT,
            Severity.HIGH,
            f"The certificate is exempt from this rule by its tag {key}={value}; its expiry is still checked.",
        )

    issuer = (certificate.issuer or "").strip()
    if is_unknown_issuer(issuer):
        shown = issuer or "missing from the policy"
        return certificate_finding(
            certificate,
            RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            f"The issuer is {shown} (an imported certificate, or a CA Key Vault is not partnered with), "
            "so Key Vault cannot renew it. Reissue it from an integrated CA (DigiCert, GlobalSign) or as "
            "self-signed with an AutoRenew lifetime action, or renew it elsewhere and tag it "
            f"{_first_exempt_tag(options)} so this rule stops flagging it.",
        )

    auto_renew = next((a for a in certificate.lifetime_actions if a.is_auto_renew and has_trigger(a)), None)
    ca = _ca_under_self(certificate)
    if auto_renew is not None and ca is not None:
        # SPEC §2: the policy renews, but into a self-signed certificate in place of the CA's: a trap.
        return certificate_finding(
            certificate,
            RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            f"Its current version was issued by the CA {ca}, but the policy's issuer is Self with AutoRenew "
            f"{auto_renew.describe_trigger()}: the next renewal replaces the CA-issued certificate with a "
            f"self-signed one. Set the policy's issuer to the CA {ca} (an issuer object in Key Vault), or to "
            "Unknown and renew it elsewhere.",
            action=auto_renew,
        )
    if auto_renew is not None:
        return certificate_finding(
            certificate,
            RULE_AUTORENEW,
            Status.COMPLIANT,
            Severity.HIGH,
            f"Key Vault renews it automatically {auto_renew.describe_trigger()} (AutoRenew, issuer {issuer}).",
            action=auto_renew,
        )

    return certificate_finding(
        certificate,
        RULE_AUTORENEW,
        Status.NON_COMPLIANT,
        Severity.HIGH,
        _missing_auto_renew_reason(certificate.lifetime_actions, fix=_self_over_ca_fix(certificate)),
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
    """The CA that issued the current version of a certificate whose policy says ``Self`` (decided by its
    signature, :func:`shared.x509.ca_that_issued`, from the bundle the scan reads anyway), else None."""
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
        elif not has_trigger(action):
            problems.append(f"{action.action} with a trigger that is neither days before expiry nor a percentage")
    return "; ".join(dict.fromkeys(problems)) or None


def _quoted(value: str) -> str:
    return '"' + (value if len(value) <= 100 else value[:99] + "…") + '"'


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
