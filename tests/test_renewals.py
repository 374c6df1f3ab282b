"""Failed renewals, end to end: when AutoRenew's point has passed and the certificate is still the current
version, the scan reads its pending operation from Key Vault (through the real SDK client, against the
fake) and the CertificateExpiry reason says why renewal is not happening.

The pending operations the fake serves are shaped after recorded live traffic and Microsoft's docs (see
``tests/fakeazure/wire.py``, ``pending_operation``): ``inProgress`` with ``status_details``, ``failed``
with an ``error`` {code, message}, ``completed`` with ``target``, and 404 ``PendingCertificateNotFound``.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.cli import main
from shared.models import Certificate, LifetimeAction, PendingOperation, Status, Vault
from shared.rules import RuleOptions, check_expiry
from tests.fakeazure import cert, estate, rbac_fault, subscription, vault

RENEW_30D = [("AutoRenew", {"days_before_expiry": 30})]
RENEW_90D = [("AutoRenew", {"days_before_expiry": 90})]
# Microsoft's docs name the error codes of a failed pending operation: "Certificate issuer error" (the CA
# refused) or "Request rejected" (the caller's request was wrong).
DIGICERT_FAILURE = {
    "status": "failed",
    "status_details": "",
    "error": {
        "code": "Certificate issuer error",
        "message": "DigiCert: the organization's validation has expired; renew it in CertCentral.",
    },
}


def renewals_estate() -> dict[str, Any]:
    return estate(
        subscription(
            "Prod",
            vault(
                "renew-kv",
                # Due 30 days before expiry, expires in 20: renewal was due 10 days ago.
                cert("digicert-failed", "DigiCert", RENEW_30D, expires_in_days=20, pending=DIGICERT_FAILURE),
                # Due 90 days before expiry, expires in 60: outside the warning window, but its renewal failed.
                cert("failed-far-out", "DigiCert", RENEW_90D, expires_in_days=60, pending=DIGICERT_FAILURE),
                cert(
                    "globalsign-waiting",
                    "GlobalSign",
                    RENEW_30D,
                    expires_in_days=20,
                    pending={"status": "inProgress"},
                ),
                cert("never-tried", "Self", RENEW_30D, expires_in_days=20),
                cert("done-long-ago", "Self", RENEW_30D, expires_in_days=20, pending={"status": "completed"}),
                cert(
                    "pending-forbidden",
                    "Self",
                    RENEW_30D,
                    expires_in_days=20,
                    fault={"pending": rbac_fault()},
                ),
                cert("healthy", "Self", RENEW_30D, expires_in_days=200, pending=DIGICERT_FAILURE),
                cert("healthy-percentage", "Self", [("AutoRenew", {"lifetime_percentage": 80})]),
            ),
        )
    )


def scan_document() -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["scan", "--format", "json", "--no-store"], stdout=out, stderr=err)
    assert out.getvalue().strip(), err.getvalue()
    return code, json.loads(out.getvalue())


def expiry(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["certificate_name"]: f for f in document["findings"] if f["rule_id"] == "CertificateExpiry"}


def test_a_failed_digicert_renewal_names_the_issuers_error_and_is_at_least_high(fake_azure) -> None:
    fake_azure(renewals_estate())

    code, document = scan_document()

    assert code == 1
    finding = expiry(document)["digicert-failed"]
    assert finding["status"] == "non_compliant"
    assert finding["severity"] == "high"  # 20 days out would be medium; a refused renewal is not
    reason = finding["reason"]
    assert "Renewal failed: AutoRenew (30 days before expiry) was due on " in reason
    assert (
        "the request to DigiCert failed (Certificate issuer error: DigiCert: the organization's validation "
        "has expired; renew it in CertCentral)"
    ) in reason
    assert "Fix the problem with DigiCert" in reason


def test_a_failed_renewal_is_a_problem_even_outside_the_warning_window(fake_azure) -> None:
    fake_azure(renewals_estate())

    _, document = scan_document()

    finding = expiry(document)["failed-far-out"]
    assert finding["status"] == "non_compliant"
    assert finding["severity"] == "high"
    assert "Renewal failed" in finding["reason"]
    keyvault_006 = next(
        f for f in document["findings"] if f["certificate_name"] == "failed-far-out" and f["rule_id"] == "KeyVault-006"
    )
    assert keyvault_006["status"] == "compliant"  # it is configured to renew; the renewal itself failed


def test_a_renewal_in_progress_says_so_with_the_services_details(fake_azure) -> None:
    fake_azure(renewals_estate())

    _, document = scan_document()

    finding = expiry(document)["globalsign-waiting"]
    assert finding["status"] == "non_compliant"  # inside the 30-day window
    assert finding["severity"] == "medium"
    assert "Renewal is in progress at GlobalSign since about " in finding["reason"]
    assert "(Pending certificate created. Certificate request is in progress." in finding["reason"]


def test_no_pending_operation_means_no_renewal_was_even_attempted(fake_azure) -> None:
    fake_azure(renewals_estate())

    _, document = scan_document()

    assert "no renewal was even attempted" in expiry(document)["never-tried"]["reason"]
    assert "its last operation completed before that" in expiry(document)["done-long-ago"]["reason"]


def test_a_pending_operation_that_cannot_be_read_is_said_and_changes_nothing_else(fake_azure) -> None:
    fake_azure(renewals_estate())

    _, document = scan_document()

    finding = expiry(document)["pending-forbidden"]
    assert finding["status"] == "non_compliant"
    assert finding["severity"] == "medium"
    assert "its pending operation could not be read (HTTP 403 Forbidden (ForbiddenByRbac):" in finding["reason"]
    assert document["scan"]["status"] == "completed"  # the certificate itself was read


def test_only_certificates_whose_renewal_looks_stuck_cost_a_pending_read(fake_azure) -> None:
    azure = fake_azure(renewals_estate())

    _, document = scan_document()

    read = sorted(r.certificate or "" for r in azure.requests.where(operation="get_pending"))
    # Each once, except the refused one (403 is not retried).
    assert read == sorted(
        ["digicert-failed", "failed-far-out", "globalsign-waiting", "never-tried", "done-long-ago", "pending-forbidden"]
    )
    assert "Renewal" not in expiry(document)["healthy"]["reason"]  # its failed operation was never read
    assert expiry(document)["healthy"]["status"] == "compliant"


def test_issuer_text_in_a_pending_error_is_cleaned_before_it_reaches_the_report(fake_azure) -> None:
    hostile = {
        "status": "failed",
        "error": {"code": "Request rejected", "message": "Order\u202e 42 refused\nsee https://ca.example/x?sig=SECRET"},
    }
    fake_azure(
        estate(subscription("Prod", vault("kv", cert("a", "DigiCert", RENEW_30D, expires_in_days=20, pending=hostile))))
    )

    _, document = scan_document()

    reason = expiry(document)["a"]["reason"]
    assert "Request rejected: Order 42 refused see https://ca.example)" in reason
    assert "\u202e" not in reason
    assert "\n" not in reason
    assert "SECRET" not in reason


# --- the rule on its own (no I/O) ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
VAULT = Vault(subscription_id="s", name="kv", uri="https://kv.vault.azure.net/")


def stuck(**changes: Any) -> Certificate:
    fields: dict[str, Any] = {
        "issuer": "DigiCert",
        "expires_on": NOW + timedelta(days=20),
        "not_before": NOW - timedelta(days=345),
        "lifetime_actions": (LifetimeAction("AutoRenew", days_before_expiry=30),),
    }
    return Certificate(vault=VAULT, name="c", id="https://kv.vault.azure.net/certificates/c", **{**fields, **changes})


def test_a_disabled_newest_version_is_called_out() -> None:
    finding = check_expiry(stuck(newest_version_disabled=True), now=NOW, options=RuleOptions())
    assert "Its newest version is disabled" in finding.reason


def test_an_operation_with_an_error_counts_as_failed_whatever_its_status() -> None:
    pending = PendingOperation(exists=True, status="inProgress", error_code="Request rejected", error_message="No.")
    finding = check_expiry(stuck(pending=pending), now=NOW, options=RuleOptions())
    assert finding.status == Status.NON_COMPLIANT
    assert finding.severity.value == "high"
    assert "Renewal failed" in finding.reason
    assert "(Request rejected: No)" in finding.reason


def test_an_expired_certificate_whose_renewal_failed_stays_critical() -> None:
    pending = PendingOperation(exists=True, status="failed", error_code="Certificate issuer error")
    certificate = stuck(pending=pending, expires_on=NOW - timedelta(days=1))
    finding = check_expiry(certificate, now=NOW, options=RuleOptions())
    assert finding.severity.value == "critical"
    assert "Renewal failed" in finding.reason


def test_the_demo_estate_shows_its_failed_digicert_renewal(fake_azure_demo) -> None:
    _, document = scan_document()

    finding = expiry(document)["payments-api-digicert"]
    assert (finding["status"], finding["severity"]) == ("non_compliant", "high")
    assert "Renewal failed" in finding["reason"]
    assert "Certificate issuer error: DigiCert: the organization's validation has expired" in finding["reason"]
