"""Every row of the KeyVault-006 decision table and of the expiry rule (SPEC §2), on plain records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.models import (
    RULE_AUTORENEW,
    RULE_EXPIRY,
    Certificate,
    LifetimeAction,
    ReadError,
    Severity,
    Status,
    Vault,
)
from shared.rules import (
    RuleOptions,
    check_auto_renewal,
    check_expiry,
    evaluate,
    unexplained_policy,
    unreadable_subscription,
    unreadable_vault,
)

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
VAULT = Vault(
    subscription_id="00000000-0000-0000-0000-000000000000",
    name="cc-webapp-key-vault",
    uri="https://cc-webapp-key-vault.vault.azure.net/",
    resource_id="/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/cc-webapp-key-vault",
)
OPTIONS = RuleOptions()
AUTO_80 = LifetimeAction("AutoRenew", lifetime_percentage=80)
AUTO_30D = LifetimeAction("AutoRenew", days_before_expiry=30)
EMAIL_3D = LifetimeAction("EmailContacts", days_before_expiry=3)


def cert(**overrides: object) -> Certificate:
    values: dict[str, object] = {
        "vault": VAULT,
        "name": "cloudconformity",
        "id": "https://cc-webapp-key-vault.vault.azure.net/certificates/cloudconformity",
        "enabled": True,
        "tags": {},
        "not_before": NOW - timedelta(days=100),
        "expires_on": NOW + timedelta(days=265),
        "issuer": "Self",
        "lifetime_actions": (AUTO_80,),
    }
    values.update(overrides)
    return Certificate(**values)  # type: ignore[arg-type]


FORBIDDEN = ReadError("Forbidden (ForbiddenByFirewall)", "Client address is not authorized", 403)


@pytest.mark.parametrize(
    ("case", "certificate", "status", "reason_has"),
    [
        ("unreadable certificate", cert(error=FORBIDDEN), Status.NOT_ASSESSED, "ForbiddenByFirewall"),
        (
            "unreadable policy",
            cert(policy_error=FORBIDDEN, lifetime_actions=()),
            Status.NOT_ASSESSED,
            "Could not read the certificate's issuance policy (HTTP 403 Forbidden (ForbiddenByFirewall)",
        ),
        ("unreadable beats disabled", cert(error=FORBIDDEN, enabled=False), Status.NOT_ASSESSED, "HTTP 403"),
        ("disabled", cert(enabled=False, lifetime_actions=()), Status.NOT_APPLICABLE, "disabled"),
        (
            "disabled beats exempt",
            cert(enabled=False, tags={"autorenew-exempt": "true"}),
            Status.NOT_APPLICABLE,
            "disabled",
        ),
        (
            "exempt by tag",
            cert(tags={"autorenew-exempt": "true"}, lifetime_actions=()),
            Status.EXEMPT,
            "autorenew-exempt=true",
        ),
        ("exempt by Acmebot tag", cert(tags={"Issuer": "Acmebot"}, issuer="Unknown"), Status.EXEMPT, "Issuer=Acmebot"),
        (
            "exempt tag names ignore case",
            cert(tags={"AutoRenew-Exempt": "True"}),
            Status.EXEMPT,
            "AutoRenew-Exempt=True",
        ),
        (
            "exempt tag with another value",
            cert(tags={"autorenew-exempt": "false"}, lifetime_actions=()),
            Status.NON_COMPLIANT,
            "No lifetime action",
        ),
        ("issuer Unknown", cert(issuer="Unknown"), Status.NON_COMPLIANT, "Key Vault cannot renew it"),
        ("issuer missing", cert(issuer=None), Status.NON_COMPLIANT, "cannot renew"),
        ("Self, AutoRenew by percentage", cert(), Status.COMPLIANT, "80% of its lifetime"),
        ("Self, AutoRenew by days", cert(lifetime_actions=(AUTO_30D,)), Status.COMPLIANT, "30 days before expiry"),
        ("named CA, AutoRenew", cert(issuer="DigiCert"), Status.COMPLIANT, "issuer DigiCert"),
        (
            "AutoRenew is not first",
            cert(lifetime_actions=(EMAIL_3D, AUTO_30D)),
            Status.COMPLIANT,
            "30 days before expiry",
        ),
        (
            "EmailContacts only",
            cert(lifetime_actions=(EMAIL_3D,)),
            Status.NON_COMPLIANT,
            "Only EmailContacts is configured (3 days before expiry)",
        ),
        ("no lifetime action", cert(lifetime_actions=()), Status.NON_COMPLIANT, "No lifetime action"),
        (
            "AutoRenew without trigger",
            cert(lifetime_actions=(LifetimeAction("AutoRenew"),)),
            Status.NOT_ASSESSED,
            "AutoRenew with a trigger that is neither days before expiry nor a percentage",
        ),
        (
            "unknown action type",
            cert(lifetime_actions=(LifetimeAction("Renew", days_before_expiry=5),)),
            Status.NOT_ASSESSED,
            'the action type "Renew"',
        ),
        (
            "unknown action type after AutoRenew",
            cert(lifetime_actions=(AUTO_30D, LifetimeAction("Renew", days_before_expiry=5))),
            Status.NOT_ASSESSED,
            'the action type "Renew"',
        ),
        (
            "trigger in weeks",
            cert(lifetime_actions=(LifetimeAction("AutoRenew", unexplained='the trigger {"weeks_before_expiry":2}'),)),
            Status.NOT_ASSESSED,
            'the trigger {"weeks_before_expiry":2}',
        ),
        (
            "unknown action beats exempt and Unknown issuer",
            cert(
                issuer="Unknown",
                tags={"autorenew-exempt": "true"},
                lifetime_actions=(LifetimeAction("Renew", days_before_expiry=5),),
            ),
            Status.NOT_ASSESSED,
            "remediation leaves it alone",
        ),
        (
            "exempt tag key with a trailing space",
            cert(tags={"autorenew-exempt ": "true"}, lifetime_actions=()),
            Status.EXEMPT,
            "autorenew-exempt =true",
        ),
        (
            "exempt tag in full-width letters with a zero-width space",
            cert(tags={"\uff41utorenew-exempt": "tr\u200bue"}, lifetime_actions=()),
            Status.EXEMPT,
            "exempt from this rule",
        ),
        (
            "issuer Unknown with a trailing space",
            cert(issuer="Unknown "),
            Status.NON_COMPLIANT,
            "Key Vault cannot renew it",
        ),
        (
            "issuer Unknown with a zero-width space",
            cert(issuer="Unk\u200bnown"),
            Status.NON_COMPLIANT,
            "Key Vault cannot renew it",
        ),
        (
            "issuer Unknown in full-width letters",
            cert(issuer="\uff35nknown"),
            Status.NON_COMPLIANT,
            "Key Vault cannot renew it",
        ),
    ],
)
def test_keyvault_006_decision_table(case: str, certificate: Certificate, status: Status, reason_has: str) -> None:
    finding = check_auto_renewal(certificate, OPTIONS)
    assert finding.rule_id == RULE_AUTORENEW
    assert finding.status == status, case
    assert finding.severity == Severity.HIGH
    assert reason_has in finding.reason, finding.reason
    assert finding.reason.endswith("."), "a reason is a full sentence"


def test_emailcontacts_finding_matches_the_spec_example() -> None:
    finding = check_auto_renewal(cert(lifetime_actions=(EMAIL_3D,)), OPTIONS).to_dict()
    assert finding["status"] == "non_compliant"
    assert finding["lifetime_action"] == "EmailContacts"
    assert finding["days_before_expiry"] == 3
    assert finding["lifetime_percentage"] is None
    assert finding["issuer"] == "Self"
    assert finding["certificate_id"] == "https://cc-webapp-key-vault.vault.azure.net/certificates/cloudconformity"
    assert finding["reason"] == (
        "Only EmailContacts is configured (3 days before expiry); set the lifetime action to AutoRenew."
    )


def test_compliant_finding_reports_the_renewing_action_even_when_it_is_second() -> None:
    finding = check_auto_renewal(cert(lifetime_actions=(EMAIL_3D, AUTO_30D)), OPTIONS)
    assert (finding.lifetime_action, finding.days_before_expiry) == ("AutoRenew", 30)


def test_exemption_tags_are_configurable() -> None:
    options = RuleOptions(exempt_tags=(("owner", "team-x"),))
    assert check_auto_renewal(cert(tags={"owner": "team-x"}, lifetime_actions=()), options).status == Status.EXEMPT
    assert check_auto_renewal(cert(tags={"autorenew-exempt": "true"}, lifetime_actions=()), options).status == (
        Status.NON_COMPLIANT
    )


@pytest.mark.parametrize(
    ("case", "certificate", "status", "severity", "reason_has"),
    [
        ("unreadable", cert(error=FORBIDDEN), Status.NOT_ASSESSED, Severity.MEDIUM, "Could not read"),
        (
            "policy behind a 403, expiring in 3 days",
            cert(policy_error=FORBIDDEN, lifetime_actions=(), issuer=None, expires_on=NOW + timedelta(days=3)),
            Status.NON_COMPLIANT,
            Severity.HIGH,
            "renew it now",
        ),
        (
            "policy behind a 403, expiring next year",
            cert(policy_error=FORBIDDEN, lifetime_actions=(), issuer=None),
            Status.COMPLIANT,
            Severity.MEDIUM,
            "in 265 days",
        ),
        (
            "disabled",
            cert(enabled=False, expires_on=NOW - timedelta(days=3)),
            Status.NOT_APPLICABLE,
            Severity.MEDIUM,
            "disabled",
        ),
        ("no expiry date", cert(expires_on=None), Status.NOT_APPLICABLE, Severity.MEDIUM, "no expiry date"),
        (
            "expired",
            cert(expires_on=NOW - timedelta(days=2)),
            Status.NON_COMPLIANT,
            Severity.CRITICAL,
            "expired on 2026-11-25",
        ),
        (
            "expires within 7 days",
            cert(expires_on=NOW + timedelta(days=5)),
            Status.NON_COMPLIANT,
            Severity.HIGH,
            "in 5 days",
        ),
        (
            "expires within hours",
            cert(expires_on=NOW + timedelta(hours=3)),
            Status.NON_COMPLIANT,
            Severity.HIGH,
            "in 3 hours",
        ),
        (
            "expires within the window",
            cert(expires_on=NOW + timedelta(days=20)),
            Status.NON_COMPLIANT,
            Severity.MEDIUM,
            "30-day warning window",
        ),
        (
            "expires on the window's edge",
            cert(expires_on=NOW + timedelta(days=30)),
            Status.NON_COMPLIANT,
            Severity.MEDIUM,
            "in 30 days",
        ),
        (
            "expires after the window",
            cert(expires_on=NOW + timedelta(days=31)),
            Status.COMPLIANT,
            Severity.MEDIUM,
            "in 31 days",
        ),
        (
            "exempt still gets its expiry verdict",
            cert(tags={"autorenew-exempt": "true"}, expires_on=NOW + timedelta(days=3)),
            Status.NON_COMPLIANT,
            Severity.HIGH,
            "renew it now",
        ),
    ],
)
def test_expiry_rule(case: str, certificate: Certificate, status: Status, severity: Severity, reason_has: str) -> None:
    finding = check_expiry(certificate, now=NOW, options=OPTIONS)
    assert finding.rule_id == RULE_EXPIRY
    assert (finding.status, finding.severity) == (status, severity), case
    assert reason_has in finding.reason, finding.reason


def test_expiry_window_follows_the_setting() -> None:
    options = RuleOptions(expiry_warning_days=60)
    assert check_expiry(cert(expires_on=NOW + timedelta(days=45)), now=NOW, options=options).status == (
        Status.NON_COMPLIANT
    )


def test_autorenew_past_its_renewal_point_is_called_out_as_failing_renewal() -> None:
    stuck = cert(lifetime_actions=(AUTO_30D,), expires_on=NOW + timedelta(days=10))
    finding = check_expiry(stuck, now=NOW, options=OPTIONS)
    assert finding.status == Status.NON_COMPLIANT
    assert "Renewal looks stuck" in finding.reason
    assert "was due on 2026-11-07" in finding.reason


def test_lifetime_percentage_renewal_point_uses_the_span_from_not_before() -> None:
    # 100-day certificate renewing at 50%: due on day 50, we are on day 60, expiry in 40 days.
    stuck = cert(
        lifetime_actions=(LifetimeAction("AutoRenew", lifetime_percentage=50),),
        not_before=NOW - timedelta(days=60),
        expires_on=NOW + timedelta(days=40),
    )
    finding = check_expiry(stuck, now=NOW, options=OPTIONS)
    assert finding.status == Status.COMPLIANT  # outside the 30-day window...
    assert "Renewal looks stuck" in finding.reason  # ...but the reason still says renewal is failing
    healthy = cert(lifetime_actions=(AUTO_80,))
    assert "stuck" not in check_expiry(healthy, now=NOW, options=OPTIONS).reason


def test_every_certificate_gets_exactly_one_finding_per_rule() -> None:
    findings = evaluate(cert(error=FORBIDDEN), now=NOW, options=OPTIONS)
    assert [f.rule_id for f in findings] == [RULE_AUTORENEW, RULE_EXPIRY]
    assert {f.status for f in findings} == {Status.NOT_ASSESSED}
    assert all(f.error_code == "Forbidden (ForbiddenByFirewall)" for f in findings)


def test_unreadable_vault_and_subscription_yield_one_not_assessed_finding_per_rule() -> None:
    vault_findings = unreadable_vault(VAULT, FORBIDDEN)
    assert [(f.rule_id, f.status, f.certificate_name) for f in vault_findings] == [
        (RULE_AUTORENEW, Status.NOT_ASSESSED, None),
        (RULE_EXPIRY, Status.NOT_ASSESSED, None),
    ]
    assert "firewall" in vault_findings[0].reason
    subscription_findings = unreadable_subscription(VAULT.subscription_id, ReadError("AuthorizationFailed", "no", 403))
    assert [(f.vault_name, f.status) for f in subscription_findings] == [(None, Status.NOT_ASSESSED)] * 2
    assert "Key Vault Reader" in subscription_findings[0].reason


def test_a_certificate_expiring_in_3_days_behind_a_403_policy_is_high_and_says_the_policy_was_unreadable() -> None:
    findings = evaluate(
        cert(policy_error=FORBIDDEN, lifetime_actions=(), issuer=None, expires_on=NOW + timedelta(days=3)),
        now=NOW,
        options=OPTIONS,
    )
    autorenew, expiry = findings
    assert (autorenew.status, autorenew.error_code) == (Status.NOT_ASSESSED, "Forbidden (ForbiddenByFirewall)")
    assert (expiry.status, expiry.severity) == (Status.NON_COMPLIANT, Severity.HIGH)
    assert "Its issuance policy could not be read (HTTP 403" in expiry.reason
    assert expiry.error_code is None, "the expiry verdict itself was not hindered"


def test_an_unknown_action_type_is_not_assessed_and_names_the_raw_value_for_remediation() -> None:
    renew = cert(lifetime_actions=(EMAIL_3D, LifetimeAction("Renew", days_before_expiry=5)))
    assert unexplained_policy(renew) == 'the action type "Renew"'
    finding = check_auto_renewal(renew, OPTIONS)
    assert (finding.status, finding.error_code) == (Status.NOT_ASSESSED, "UnsupportedPolicy")
    assert finding.reason.startswith('The issuance policy holds the action type "Renew", which this app')
    assert unexplained_policy(cert(lifetime_actions=(EMAIL_3D, AUTO_30D))) is None
    assert unexplained_policy(cert(lifetime_actions=())) is None


def test_an_unknown_action_type_still_gets_its_expiry_verdict() -> None:
    renew = cert(lifetime_actions=(LifetimeAction("Renew", days_before_expiry=5),), expires_on=NOW + timedelta(days=2))
    finding = check_expiry(renew, now=NOW, options=OPTIONS)
    assert (finding.status, finding.severity) == (Status.NON_COMPLIANT, Severity.HIGH)


# --- a Self policy over a certificate a CA issued (SPEC §4; known when the current version was read) --------


def test_a_self_policy_over_a_ca_issued_certificate_is_not_told_to_simply_turn_on_autorenew() -> None:
    finding = check_auto_renewal(cert(lifetime_actions=(EMAIL_3D,), issued_by_ca="DigiCert G2 CA1"), OPTIONS)

    assert finding.status is Status.NON_COMPLIANT
    assert "issued by DigiCert G2 CA1" in finding.reason
    assert "would issue a self-signed replacement" in finding.reason
    assert "set the policy's issuer to DigiCert G2 CA1 first" in finding.reason
    assert not finding.reason.endswith("set the lifetime action to AutoRenew.")


def test_autorenew_on_a_self_policy_over_a_ca_issued_certificate_is_non_compliant() -> None:
    finding = check_auto_renewal(cert(issued_by_ca="DigiCert G2 CA1"), OPTIONS)

    # SPEC §2 "KeyVault-006 and a CA-issued certificate under a Self policy": the policy is a trap.
    assert (finding.status, finding.severity) == (Status.NON_COMPLIANT, Severity.HIGH)
    assert "the next renewal replaces the CA-issued certificate with a self-signed one" in finding.reason
    assert "Set the policy's issuer to the CA DigiCert G2 CA1" in finding.reason
    assert "Unknown and renew it elsewhere" in finding.reason
    assert finding.lifetime_action == "AutoRenew"


@pytest.mark.parametrize(
    ("issuer", "issued_by_ca"),
    [("Self", None), ("DigiCert", "DigiCert G2 CA1"), ("Unknown", "DigiCert G2 CA1")],
)
def test_no_self_signed_warning_where_it_does_not_apply(issuer: str, issued_by_ca: str | None) -> None:
    finding = check_auto_renewal(cert(issuer=issuer, lifetime_actions=(EMAIL_3D,), issued_by_ca=issued_by_ca), OPTIONS)

    assert "issued by" not in finding.reason
    assert "self-signed replacement" not in finding.reason
