"""Realistic scan results built straight from ``shared.models``, for tests that need a whole scan.

``sample_result()`` is a partial scan of two subscriptions: three vaults whose certificates were read and
a fourth behind a firewall, every status, every severity a rule gives, and a webhook failure on the scan.
Reasons use the same words as ``shared.rules``, so a report rendered from it reads like a real one.

``hostile_result()`` carries markup and quotes in every field that comes from the estate; ``failed_result()``
and ``empty_result()`` are the two edge cases every report has to survive.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

from shared.models import (
    RULE_AUTORENEW,
    RULE_BINDING,
    RULE_EXPIRY,
    Finding,
    Scan,
    ScanResult,
    ScanStatus,
    Severity,
    Status,
    count_by_status,
)

SCAN_TIME = datetime(2025, 11, 27, 6, 0, tzinfo=UTC)
SUBSCRIPTION_PROD = "11111111-2222-3333-4444-555555555555"
SUBSCRIPTION_DEV = "66666666-7777-8888-9999-000000000000"

WEBHOOK_PROBLEM = "The alert webhook failed: HTTP 502 from the Teams workflow after 4 tries; the findings are stored."

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_ATTRIBUTE = '"><img src=x onerror=alert(1)>'


def vault_id(subscription_id: str, resource_group: str, vault_name: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.KeyVault/vaults/{vault_name}"
    )


def finding(
    rule_id: str,
    status: Status,
    severity: Severity,
    *,
    vault: str | None,
    certificate: str | None,
    reason: str,
    subscription_id: str = SUBSCRIPTION_PROD,
    resource_group: str = "rg-web-prod",
    issuer: str | None = None,
    action: str | None = None,
    days_before_expiry: int | None = None,
    lifetime_percentage: int | None = None,
    expires_in: timedelta | None = None,
    now: datetime = SCAN_TIME,
    error_code: str | None = None,
    with_vault_id: bool = True,
) -> Finding:
    """One finding as ``shared.rules`` would make it; ``expires_in`` is relative to ``now``."""
    uri = f"https://{vault}.vault.azure.net/" if vault else None
    return Finding(
        rule_id=rule_id,
        status=status,
        severity=severity,
        subscription_id=subscription_id,
        vault_name=vault,
        vault_uri=uri,
        certificate_name=certificate,
        certificate_id=f"{uri}certificates/{certificate}" if uri and certificate else None,
        issuer=issuer,
        lifetime_action=action,
        days_before_expiry=days_before_expiry,
        lifetime_percentage=lifetime_percentage,
        expires_on=now + expires_in if expires_in is not None else None,
        reason=reason,
        vault_id=vault_id(subscription_id, resource_group, vault) if vault and with_vault_id else None,
        error_code=error_code,
    )


def _when(now: datetime, delta: timedelta) -> str:
    return f"{now + delta:%Y-%m-%d %H:%M} UTC"


def sample_findings(now: datetime = SCAN_TIME) -> list[Finding]:
    """24 findings: 11 certificates in 3 readable vaults (two rules each) and one vault behind a firewall."""
    d = timedelta
    web = partial(finding, vault="kv-webapp-prod", resource_group="rg-web-prod", now=now)
    pay = partial(finding, vault="kv-payments-prod", resource_group="rg-payments", now=now)
    dev = partial(finding, vault="kv-shared-dev", resource_group="rg-dev", subscription_id=SUBSCRIPTION_DEV, now=now)
    fix = "set the lifetime action to AutoRenew."
    return [
        # kv-webapp-prod ---------------------------------------------------------------------------------
        web(
            RULE_AUTORENEW,
            Status.COMPLIANT,
            Severity.HIGH,
            certificate="www-contoso-com",
            issuer="DigiCert",
            action="AutoRenew",
            days_before_expiry=30,
            expires_in=d(days=212),
            reason="Key Vault renews it automatically 30 days before expiry (AutoRenew, issuer DigiCert).",
        ),
        web(
            RULE_EXPIRY,
            Status.COMPLIANT,
            Severity.MEDIUM,
            certificate="www-contoso-com",
            issuer="DigiCert",
            action="AutoRenew",
            days_before_expiry=30,
            expires_in=d(days=212),
            reason=f"The certificate expires on {_when(now, d(days=212))}, in 212 days.",
        ),
        web(
            RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            certificate="api-contoso-com",
            issuer="Self",
            action="EmailContacts",
            days_before_expiry=3,
            expires_in=d(days=12, hours=5),
            reason=f"Only EmailContacts is configured (3 days before expiry); {fix}",
        ),
        web(
            RULE_EXPIRY,
            Status.NON_COMPLIANT,
            Severity.MEDIUM,
            certificate="api-contoso-com",
            issuer="Self",
            action="EmailContacts",
            days_before_expiry=3,
            expires_in=d(days=12, hours=5),
            reason=f"The certificate expires on {_when(now, d(days=12, hours=5))}, in 12 days, inside the 30-day "
            "warning window; make sure it is renewed.",
        ),
        web(
            RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            certificate="legacy-portal-imported",
            issuer="Unknown",
            expires_in=-d(days=3, hours=2),
            reason="The issuer is Unknown (an imported certificate, or a CA Key Vault is not partnered with), so "
            "Key Vault cannot renew it. Reissue it from an integrated CA (DigiCert, GlobalSign) or as self-signed "
            "with an AutoRenew lifetime action, or renew it elsewhere and tag it autorenew-exempt=true so this rule "
            "stops flagging it.",
        ),
        web(
            RULE_EXPIRY,
            Status.NON_COMPLIANT,
            Severity.CRITICAL,
            certificate="legacy-portal-imported",
            issuer="Unknown",
            expires_in=-d(days=3, hours=2),
            reason=f"The certificate expired on {_when(now, -d(days=3, hours=2))} (3 days ago); replace it now.",
        ),
        web(
            RULE_AUTORENEW,
            Status.NOT_APPLICABLE,
            Severity.HIGH,
            certificate="old-intranet-2019",
            issuer="Self",
            action="EmailContacts",
            lifetime_percentage=80,
            expires_in=-d(days=400),
            reason="The certificate is disabled, so it is neither served nor renewed.",
        ),
        web(
            RULE_EXPIRY,
            Status.NOT_APPLICABLE,
            Severity.MEDIUM,
            certificate="old-intranet-2019",
            issuer="Self",
            action="EmailContacts",
            lifetime_percentage=80,
            expires_in=-d(days=400),
            reason="The certificate is disabled, so its expiry does not matter.",
        ),
        # kv-payments-prod -------------------------------------------------------------------------------
        pay(
            RULE_AUTORENEW,
            Status.COMPLIANT,
            Severity.HIGH,
            certificate="payments-gateway",
            issuer="GlobalSign",
            action="AutoRenew",
            lifetime_percentage=80,
            expires_in=d(days=4, hours=20),
            reason="Key Vault renews it automatically at 80% of its lifetime (AutoRenew, issuer GlobalSign).",
        ),
        pay(
            RULE_EXPIRY,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            certificate="payments-gateway",
            issuer="GlobalSign",
            action="AutoRenew",
            lifetime_percentage=80,
            expires_in=d(days=4, hours=20),
            reason=f"The certificate expires on {_when(now, d(days=4, hours=20))}, in 4 days, inside the 7-day "
            f"danger zone; renew it now. Renewal looks stuck: AutoRenew (at 80% of its lifetime) was due on "
            f"{now - d(days=68):%Y-%m-%d}, yet this is still the current version; check the certificate's pending "
            "operation and its issuer.",
        ),
        pay(
            RULE_AUTORENEW,
            Status.EXEMPT,
            Severity.HIGH,
            certificate="acme-wildcard-contoso-com",
            issuer="Unknown",
            expires_in=d(days=61),
            reason="The certificate is exempt from this rule by its tag Issuer=Acmebot; its expiry is still checked.",
        ),
        pay(
            RULE_EXPIRY,
            Status.COMPLIANT,
            Severity.MEDIUM,
            certificate="acme-wildcard-contoso-com",
            issuer="Unknown",
            expires_in=d(days=61),
            reason=f"The certificate expires on {_when(now, d(days=61))}, in 61 days.",
        ),
        pay(
            RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            certificate="partner-mtls-client",
            issuer="Self",
            expires_in=d(days=301),
            reason=f"No lifetime action is configured, so nothing renews it and nobody is reminded; {fix}",
        ),
        pay(
            RULE_EXPIRY,
            Status.COMPLIANT,
            Severity.MEDIUM,
            certificate="partner-mtls-client",
            issuer="Self",
            expires_in=d(days=301),
            reason=f"The certificate expires on {_when(now, d(days=301))}, in 301 days.",
        ),
        pay(
            RULE_AUTORENEW,
            Status.NOT_ASSESSED,
            Severity.HIGH,
            certificate="hsm-code-signing",
            expires_in=d(days=90),
            error_code="Forbidden",
            reason="Could not read the certificate or its policy (HTTP 403 Forbidden: The user, group or application "
            "does not have certificates get permission). Grant the scanning identity Key Vault Reader (RBAC vaults) "
            "or certificate list and get permissions (access-policy vaults).",
        ),
        pay(
            RULE_EXPIRY,
            Status.NOT_ASSESSED,
            Severity.MEDIUM,
            certificate="hsm-code-signing",
            expires_in=d(days=90),
            error_code="Forbidden",
            reason="Could not read the certificate or its policy (HTTP 403 Forbidden: The user, group or application "
            "does not have certificates get permission). Grant the scanning identity Key Vault Reader (RBAC vaults) "
            "or certificate list and get permissions (access-policy vaults).",
        ),
        # kv-shared-dev (second subscription) ------------------------------------------------------------
        dev(
            RULE_AUTORENEW,
            Status.COMPLIANT,
            Severity.HIGH,
            certificate="dev-selfsigned",
            issuer="Self",
            action="AutoRenew",
            lifetime_percentage=90,
            expires_in=d(days=150),
            reason="Key Vault renews it automatically at 90% of its lifetime (AutoRenew, issuer Self).",
        ),
        dev(
            RULE_EXPIRY,
            Status.COMPLIANT,
            Severity.MEDIUM,
            certificate="dev-selfsigned",
            issuer="Self",
            action="AutoRenew",
            lifetime_percentage=90,
            expires_in=d(days=150),
            reason=f"The certificate expires on {_when(now, d(days=150))}, in 150 days.",
        ),
        dev(
            RULE_AUTORENEW,
            Status.EXEMPT,
            Severity.HIGH,
            certificate="internal-tools",
            issuer="Unknown",
            expires_in=d(days=19, hours=3),
            reason="The certificate is exempt from this rule by its tag autorenew-exempt=true; its expiry is still "
            "checked.",
        ),
        dev(
            RULE_EXPIRY,
            Status.NON_COMPLIANT,
            Severity.MEDIUM,
            certificate="internal-tools",
            issuer="Unknown",
            expires_in=d(days=19, hours=3),
            reason=f"The certificate expires on {_when(now, d(days=19, hours=3))}, in 19 days, inside the 30-day "
            "warning window; make sure it is renewed.",
        ),
        dev(
            RULE_AUTORENEW,
            Status.COMPLIANT,
            Severity.HIGH,
            certificate="pending-issuance",
            issuer="DigiCert",
            action="AutoRenew",
            days_before_expiry=45,
            reason="Key Vault renews it automatically 45 days before expiry (AutoRenew, issuer DigiCert).",
        ),
        dev(
            RULE_EXPIRY,
            Status.NOT_APPLICABLE,
            Severity.MEDIUM,
            certificate="pending-issuance",
            issuer="DigiCert",
            action="AutoRenew",
            days_before_expiry=45,
            reason="The certificate has no expiry date (it may still be pending issuance).",
        ),
        # kv-locked-down: the firewall refused the scanner, so the whole vault is not assessed -------------
        *(
            finding(
                rule_id,
                Status.NOT_ASSESSED,
                Severity.HIGH,
                vault="kv-locked-down",
                certificate=None,
                subscription_id=SUBSCRIPTION_DEV,
                resource_group="rg-dev",
                now=now,
                error_code="ForbiddenByFirewall",
                reason="Could not list the vault's certificates (HTTP 403 ForbiddenByFirewall: Client address is not "
                "authorized and caller is not a trusted service). The vault's firewall refused the scanner; allow "
                "its network or trusted Azure services.",
            )
            for rule_id in (RULE_AUTORENEW, RULE_EXPIRY)
        ),
    ]


def sample_result(now: datetime = SCAN_TIME, *, problems: list[str] | None = None) -> ScanResult:
    """A partial scan (one vault behind a firewall, one unreadable certificate) whose webhook failed."""
    findings = sample_findings(now)
    scan = Scan(
        id=f"{now:%Y%m%dT%H%M%SZ}-5f3a9c1e",
        started_at=now,
        finished_at=now + timedelta(seconds=42),
        status=ScanStatus.PARTIAL,
        counts=count_by_status(findings),
        problems=[WEBHOOK_PROBLEM] if problems is None else problems,
        subscriptions=[SUBSCRIPTION_PROD, SUBSCRIPTION_DEV],
        vault_count=4,
        certificate_count=11,
    )
    return ScanResult(scan=scan, findings=findings)


def clean_result(now: datetime = SCAN_TIME) -> ScanResult:
    """A completed scan where everything renews itself: only compliant, exempt and not-applicable findings."""
    findings = [f for f in sample_findings(now) if not f.status.is_problem]
    scan = Scan(
        id=f"{now:%Y%m%dT%H%M%SZ}-0c1ea4a1",
        started_at=now,
        finished_at=now + timedelta(seconds=30),
        status=ScanStatus.COMPLETED,
        counts=count_by_status(findings),
        subscriptions=[SUBSCRIPTION_PROD, SUBSCRIPTION_DEV],
        vault_count=3,
        certificate_count=len({f.certificate_name for f in findings}),
    )
    return ScanResult(scan=scan, findings=findings)


def empty_result(now: datetime = SCAN_TIME) -> ScanResult:
    """A completed scan that found no certificate at all (a new subscription, or vaults without certificates)."""
    scan = Scan(
        id=f"{now:%Y%m%dT%H%M%SZ}-00000000",
        started_at=now,
        finished_at=now + timedelta(seconds=3),
        status=ScanStatus.COMPLETED,
        counts=count_by_status([]),
        subscriptions=[SUBSCRIPTION_PROD],
        vault_count=1,
        certificate_count=0,
    )
    return ScanResult(scan=scan, findings=[])


def failed_result(now: datetime = SCAN_TIME) -> ScanResult:
    """A scan that could read nothing: the identity could not even list subscriptions."""
    scan = Scan(
        id=f"{now:%Y%m%dT%H%M%SZ}-dead0001",
        started_at=now,
        finished_at=now + timedelta(seconds=2),
        status=ScanStatus.FAILED,
        counts=count_by_status([]),
        problems=["Could not list subscriptions (HTTP 401 InvalidAuthenticationToken: The access token is invalid)."],
    )
    return ScanResult(scan=scan, findings=[])


def hostile_result(now: datetime = SCAN_TIME) -> ScanResult:
    """Markup and quotes in every field that comes from the estate, including the scan's own problems."""
    findings = [
        finding(
            RULE_AUTORENEW,
            Status.NON_COMPLIANT,
            Severity.HIGH,
            vault=f"kv{HOSTILE_ATTRIBUTE}",
            certificate=HOSTILE_SCRIPT,
            issuer=HOSTILE_ATTRIBUTE,
            action=f"Email{HOSTILE_SCRIPT}",
            days_before_expiry=3,
            expires_in=timedelta(days=2),
            now=now,
            resource_group=f'rg"{HOSTILE_ATTRIBUTE}',
            reason=f"Only EmailContacts is configured {HOSTILE_SCRIPT} {HOSTILE_ATTRIBUTE}; set AutoRenew.",
        ),
        finding(
            RULE_EXPIRY,
            Status.COMPLIANT,
            Severity.MEDIUM,
            vault=HOSTILE_SCRIPT,
            certificate=f"cert{HOSTILE_ATTRIBUTE}",
            issuer=HOSTILE_SCRIPT,
            expires_in=timedelta(days=90),
            now=now,
            reason=f"Expires in 90 days {HOSTILE_ATTRIBUTE}",
        ),
    ]
    scan = Scan(
        id=f"{now:%Y%m%dT%H%M%SZ}-{HOSTILE_SCRIPT}",
        started_at=now,
        finished_at=now + timedelta(seconds=5),
        status=ScanStatus.COMPLETED,
        counts=count_by_status(findings),
        problems=[f"The alert webhook failed: {HOSTILE_SCRIPT}{HOSTILE_ATTRIBUTE}"],
        subscriptions=[f"sub{HOSTILE_ATTRIBUTE}"],
        vault_count=2,
        certificate_count=2,
    )
    return ScanResult(scan=scan, findings=findings)


# --- services that serve the certificates (CertificateBinding) ----------------------------------------------

VERSION_CURRENT = "4f8a1c2e9b7d4e6fa0c3b5d7e9f1a2b3"
VERSION_OLD = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
VERSION_EXPIRED = "9e8d7c6b5a4938271605f4e3d2c1b0a9"


def service_id(
    resource_type: str, name: str, *, subscription_id: str = SUBSCRIPTION_PROD, group: str = "rg-edge"
) -> str:
    """A service's resource id; ``name`` is ``profile/secret`` for a Front Door secret."""
    if resource_type.lower() == "microsoft.cdn/profiles/secrets":
        profile, secret = name.split("/", 1)
        path = f"Microsoft.Cdn/profiles/{profile}/secrets/{secret}"
    else:
        path = f"{resource_type}/{name}"
    return f"/subscriptions/{subscription_id}/resourceGroups/{group}/providers/{path}"


def binding_finding(
    status: Status,
    severity: Severity,
    *,
    resource_type: str,
    service: str | None,
    binding: str | None,
    vault: str | None,
    certificate: str | None,
    bound_version: str | None,
    current_version: str | None,
    reason: str,
    subscription_id: str = SUBSCRIPTION_PROD,
    expires_in: timedelta | None = None,
    now: datetime = SCAN_TIME,
) -> Finding:
    """A CertificateBinding finding as SPEC §2 describes it: the service, the reference inside it, the
    version it serves and the vault's current one. ``service`` None is a service type that could not be
    listed in the subscription (no resource, no certificate)."""
    base = finding(
        RULE_BINDING,
        status,
        severity,
        vault=vault,
        certificate=certificate,
        reason=reason,
        subscription_id=subscription_id,
        resource_group="rg-certs",
        expires_in=expires_in,
        now=now,
    )
    return replace(
        base,
        resource_id=service_id(resource_type, service, subscription_id=subscription_id) if service else None,
        resource_type=resource_type,
        binding=binding,
        bound_version=bound_version,
        current_version=current_version,
    )


def binding_findings(now: datetime = SCAN_TIME) -> list[Finding]:
    """Six service references, one per row of the SPEC's table that a person acts on, in no particular order."""
    gateway, front_door = "Microsoft.Network/applicationGateways", "Microsoft.Cdn/profiles/secrets"
    apim, web = "Microsoft.ApiManagement/service", "Microsoft.Web/certificates"
    created = f"{now - timedelta(days=41):%Y-%m-%d}"
    return [
        binding_finding(
            Status.COMPLIANT,
            Severity.INFO,
            resource_type=front_door,
            service="fd-contoso/www-contoso-com",
            binding="www-contoso-com",
            vault="kv-webapp-prod",
            certificate="www-contoso-com",
            bound_version=None,
            current_version=VERSION_CURRENT,
            reason="Front Door profile fd-contoso uses the latest version of www-contoso-com, so renewals reach it.",
        ),
        binding_finding(
            Status.NON_COMPLIANT,
            Severity.MEDIUM,
            resource_type=apim,
            service="apim-contoso",
            binding="api.contoso.com",
            vault="kv-webapp-prod",
            certificate="api-contoso-com",
            bound_version=VERSION_CURRENT,
            current_version=VERSION_CURRENT,
            reason="API Management apim-contoso serves api-contoso-com pinned to its current version "
            f"{VERSION_CURRENT[:8]}, so the next renewal will not reach it; use the versionless secret id.",
        ),
        binding_finding(
            Status.NON_COMPLIANT,
            Severity.HIGH,
            resource_type=gateway,
            service="agw-payments",
            binding="payments-listener-cert",
            vault="kv-payments-prod",
            certificate="payments-gateway",
            bound_version=VERSION_OLD,
            current_version=VERSION_CURRENT,
            expires_in=timedelta(days=4, hours=20),
            reason=f"Application Gateway agw-payments serves payments-gateway version {VERSION_OLD[:8]} (expires "
            f"{now + timedelta(days=4, hours=20):%Y-%m-%d}), but the vault's current version is "
            f"{VERSION_CURRENT[:8]}, created {created}; point the listener certificate at the versionless secret id.",
        ),
        binding_finding(
            Status.NON_COMPLIANT,
            Severity.CRITICAL,
            resource_type=gateway,
            service="agw-legacy",
            binding="portal-cert",
            vault="kv-webapp-prod",
            certificate="legacy-portal-imported",
            bound_version=VERSION_EXPIRED,
            current_version=VERSION_CURRENT,
            expires_in=-timedelta(days=3),
            reason=f"Application Gateway agw-legacy serves legacy-portal-imported version {VERSION_EXPIRED[:8]}, "
            f"which expired on {now - timedelta(days=3):%Y-%m-%d}; the vault's current version is "
            f"{VERSION_CURRENT[:8]}. Point the listener certificate at the versionless secret id.",
        ),
        binding_finding(
            Status.NON_COMPLIANT,
            Severity.HIGH,
            resource_type=web,
            service="payments-api-cert",
            binding="payments-gateway",
            vault="kv-payments-prod",
            certificate="payments-gateway",
            bound_version=None,
            current_version=VERSION_CURRENT,
            reason="App Service certificate payments-api-cert cannot read the vault (keyVaultSecretStatus "
            "AzureServiceUnauthorizedToAccessKeyVault); grant the App Service resource provider get access to "
            "secrets in kv-payments-prod.",
        ),
        binding_finding(
            Status.NOT_ASSESSED,
            Severity.HIGH,
            resource_type=apim,
            service=None,
            binding=None,
            vault=None,
            certificate=None,
            bound_version=None,
            current_version=None,
            subscription_id=SUBSCRIPTION_DEV,
            reason="Could not list API Management services in the subscription (HTTP 403 AuthorizationFailed); "
            "grant the scanning identity Reader on the subscription.",
        ),
    ]


def binding_result(now: datetime = SCAN_TIME) -> ScanResult:
    """:func:`sample_result` with the services that serve its certificates."""
    result = sample_result(now)
    result.findings = [*result.findings, *binding_findings(now)]
    result.scan.counts = count_by_status(result.findings)
    return result


def scan_history(count: int, now: datetime = SCAN_TIME, *, every: timedelta = timedelta(days=1)) -> list[Scan]:
    """``count`` finished scans before ``now``, newest first as the store lists them, whose problems fall
    from ``count + 10`` towards 11; one in seven is partial with two vaults not assessed."""
    scans = []
    for age in range(count, 0, -1):
        started = now - every * age
        not_assessed = 2 if age % 7 == 0 else 0
        non_compliant = 9 + age // 2
        scans.append(
            Scan(
                id=f"{started:%Y%m%dT%H%M%SZ}-{age:08x}",
                started_at=started,
                finished_at=started + timedelta(seconds=40),
                status=ScanStatus.PARTIAL if not_assessed else ScanStatus.COMPLETED,
                counts={
                    Status.NON_COMPLIANT.value: non_compliant,
                    Status.NOT_ASSESSED.value: not_assessed,
                    Status.COMPLIANT.value: 9,
                    Status.EXEMPT.value: 2,
                    Status.NOT_APPLICABLE.value: 3,
                },
            )
        )
    return list(reversed(scans))
