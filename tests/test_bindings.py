"""CertificateBinding end to end: services found through the real management pipeline and versions read
through the real Key Vault pipeline, both against the HTTPS fakes (tests/fakeazure/services.py for the
Resource Manager shapes, taken from the azure-rest-api-specs examples named there).

Every row of SPEC §2's CertificateBinding table, and the bad input of issue 12: a missing field, a
malformed secret id, a vault in another tenant, a 403 on one service type in one subscription.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.api import get_findings
from shared.azure.keyvault import origin
from shared.azure.services import parse_secret_uri
from shared.cli import main
from shared.models import Binding, CertificateVersion, ScanResult, Vault
from shared.rules import BindingTarget, check_binding, x5t_to_hex
from tests.fakeazure import cert, estate, fault, firewall_fault, subscription, vault
from tests.fakeazure.services import (
    api_management,
    apim_hostname,
    app_service_certificate,
    front_door,
    front_door_secret,
    gateway,
    ssl_certificate,
)

AUTO_80 = [("AutoRenew", {"lifetime_percentage": 80})]
EMAIL_3D = [("EmailContacts", {"days_before_expiry": 3})]
KV = "payments-prod-kv"


def with_versions(spec: dict[str, Any], *older: dict[str, Any]) -> dict[str, Any]:
    """A certificate spec with older versions (created N days ago, expiring in M days)."""
    return {**spec, "older_versions": list(older)}


def run_scan(*argv: str) -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["scan", "--no-store", *argv], stdout=out, stderr=err)
    text = out.getvalue()
    return code, (json.loads(text) if "--format" in argv else {}), text + err.getvalue()


def binding_findings(document: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {f["binding"]: f for f in document["findings"] if f["rule_id"] == "CertificateBinding"}


def table_estate() -> dict[str, Any]:
    """One reference for every row of the CertificateBinding table, over two subscriptions."""
    expired_old = {"created_days_ago": 400, "expires_in_days": -35}
    valid_old = {"created_days_ago": 300, "expires_in_days": 65}
    production = subscription(
        "Production",
        vault(
            KV,
            with_versions(cert("gw-pinned-expired", "Self", AUTO_80), expired_old),
            with_versions(cert("gw-pinned-valid", "Self", AUTO_80), valid_old),
            cert("gw-latest", "Self", AUTO_80),
            cert("gw-current", "Self", AUTO_80),
            cert("fd-latest", "Self", AUTO_80),
            cert("fd-pinned", "Self", AUTO_80),
            cert("apim-current", "Self", AUTO_80),
            cert("app-synced", "DigiCert", AUTO_80),
            with_versions(cert("app-stale", "DigiCert", AUTO_80, not_before_days_ago=10), valid_old),
            with_versions(cert("app-fresh", "DigiCert", AUTO_80, not_before_days_ago=0.5), valid_old),
            cert("app-broken", "DigiCert", AUTO_80),
            cert("disabled-but-served", "Self", AUTO_80, enabled=False),
            cert("not-served", "Self", AUTO_80),
        ),
        vault("legacy-intranet-kv", cert("intranet", "Self", AUTO_80), fault={"any": firewall_fault()}),
    )
    production["services"] = [
        gateway(
            "appgw-payments",
            ssl_certificate("pinned-expired", KV, "gw-pinned-expired", version="previous"),
            ssl_certificate("pinned-valid", KV, "gw-pinned-valid", version="previous"),
            ssl_certificate("latest", KV, "gw-latest"),
            ssl_certificate("current", KV, "gw-current", version="current"),
            ssl_certificate("deleted", KV, "gone-certificate"),
            ssl_certificate("deleted-version", KV, "gw-latest", version="0123456789abcdef0123456789abcdef"),
            ssl_certificate("other-tenant", secret_id="https://partner-kv.vault.azure.net/secrets/partner-tls"),
            ssl_certificate("malformed", secret_id="https://payments-prod-kv.vault.azure.net/keys/gw-latest"),
            ssl_certificate("firewalled", "legacy-intranet-kv", "intranet"),
            ssl_certificate("disabled", KV, "disabled-but-served"),
        ),
        front_door(
            "fd-web",
            front_door_secret("fd-latest", KV, "fd-latest"),
            front_door_secret("fd-pinned", KV, "fd-pinned", use_latest=False, version="current"),
            front_door_secret("fd-no-version", KV, "fd-pinned", use_latest=False, omit=["secretVersion"]),
        ),
        front_door("cdn-classic", front_door_secret("classic-secret", KV, "fd-latest"), sku="Standard_Microsoft"),
        api_management(
            "apim-payments",
            apim_hostname("api.contoso.com", KV, "apim-current", version="current"),
            apim_hostname("old-api.contoso.com", KV, "gw-pinned-valid", version="previous"),
        ),
        app_service_certificate("app-synced", KV, "app-synced"),
        app_service_certificate("app-stale", KV, "app-stale", thumbprint="previous"),
        app_service_certificate("app-fresh", KV, "app-fresh", thumbprint="previous"),
        app_service_certificate("app-broken", KV, "app-broken", status="AzureServiceUnauthorizedToAccessKeyVault"),
        app_service_certificate("app-missing-name", KV, "app-synced", omit=["keyVaultSecretName"]),
        app_service_certificate(
            "app-other-tenant",
            certificate="partner-tls",
            thumbprint="AB" * 20,
            secret_id="/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-partner"
            "/providers/Microsoft.KeyVault/vaults/partner-kv",
        ),
    ]
    production["service_page_size"] = 1
    data = subscription("Data", vault("data-kv", cert("data-tls", "Self", AUTO_80)))
    data["services"] = [
        gateway("appgw-data", ssl_certificate("data-latest", "data-kv", "data-tls")),
        api_management("apim-data", apim_hostname("data.contoso.com", "data-kv", "data-tls")),
    ]
    data["fault"] = {"apiManagement": fault(403, "AuthorizationFailed")}
    return estate(production, data)


EXPECTED = {
    "pinned-expired": ("non_compliant", "critical"),
    "pinned-valid": ("non_compliant", "high"),
    "latest": ("compliant", "medium"),
    "current": ("non_compliant", "medium"),
    "deleted": ("non_compliant", "high"),
    "deleted-version": ("non_compliant", "high"),
    "other-tenant": ("not_assessed", "medium"),
    "malformed": ("not_assessed", "high"),
    "firewalled": ("not_assessed", "high"),
    "disabled": ("compliant", "medium"),
    "fd-latest": ("compliant", "medium"),
    "fd-pinned": ("non_compliant", "medium"),
    "fd-no-version": ("not_assessed", "high"),
    "api.contoso.com": ("non_compliant", "medium"),
    "old-api.contoso.com": ("non_compliant", "high"),
    "app-synced": ("compliant", "medium"),
    "app-stale": ("non_compliant", "high"),
    "app-fresh": ("compliant", "medium"),
    "app-broken": ("non_compliant", "high"),
    "app-missing-name": ("not_assessed", "high"),
    "app-other-tenant": ("not_assessed", "medium"),
    "data-latest": ("compliant", "medium"),
    None: ("not_assessed", "high"),  # the API Management list refused in the Data subscription
}


@pytest.fixture
def table_scan(fake_azure) -> tuple[Any, dict[str, Any]]:
    azure = fake_azure(table_estate())
    code, document, _ = run_scan("--format", "json")
    assert code == 1
    return azure, document


def test_every_row_of_the_certificate_binding_table_end_to_end(table_scan) -> None:
    _, document = table_scan
    found = binding_findings(document)
    assert {name: (f["status"], f["severity"]) for name, f in found.items()} == EXPECTED
    assert document["scan"]["status"] == "partial"


def test_a_gateway_pinned_to_an_expired_old_version_is_critical_and_says_what_it_serves(table_scan) -> None:
    azure, document = table_scan
    finding = binding_findings(document)["pinned-expired"]
    certificate = azure.certificate(KV, "gw-pinned-expired")
    old = certificate.older_versions[-1]
    assert finding["resource_type"] == "Microsoft.Network/applicationGateways"
    assert finding["resource_id"].endswith("/providers/Microsoft.Network/applicationGateways/appgw-payments")
    assert (finding["bound_version"], finding["current_version"]) == (old.version, certificate.version)
    reason = finding["reason"]
    assert "Application Gateway appgw-payments (SSL certificate pinned-expired)" in reason
    assert f"version {old.version} (expired {old.expires_on:%Y-%m-%d})" in reason
    assert (
        f"current version in vault {KV} is {certificate.version}, created {certificate.created_on:%Y-%m-%d}" in reason
    )
    assert "versionless secret id" in reason
    assert finding["expires_on"].startswith(f"{old.expires_on:%Y-%m-%d}")


def test_a_front_door_secret_pinned_to_the_current_version_is_told_to_turn_on_latest(table_scan) -> None:
    _, document = table_scan
    finding = binding_findings(document)["fd-pinned"]
    assert finding["resource_type"] == "Microsoft.Cdn/profiles/secrets"
    assert "next renewal will not reach it" in finding["reason"]
    assert f"current version {finding['current_version']} of fd-pinned" in finding["reason"]
    assert ", created " in finding["reason"]
    assert "useLatestVersion" in finding["reason"]
    assert binding_findings(document)["fd-latest"]["bound_version"] is None


def test_an_app_service_thumbprint_is_compared_with_the_vaults_x5t(table_scan) -> None:
    _azure, document = table_scan
    found = binding_findings(document)
    stale = found["app-stale"]
    assert "more than 48 hours" in stale["reason"]
    assert stale["bound_version"] is None
    assert "less than 48 hours ago" in found["app-fresh"]["reason"]
    broken = found["app-broken"]
    assert "AzureServiceUnauthorizedToAccessKeyVault" in broken["reason"]
    assert "Key Vault Secrets User role on the vault" in broken["reason"]


def test_bad_references_are_findings_with_a_clear_reason_never_a_crash(table_scan) -> None:
    _, document = table_scan
    found = binding_findings(document)
    assert "'https://payments-prod-kv.vault.azure.net/keys/gw-latest' is not https://" in found["malformed"]["reason"]
    assert "keyVaultSecretName" in found["app-missing-name"]["reason"]
    other = found["other-tenant"]
    assert "not one of the scanned vaults" in other["reason"]
    assert other["vault_uri"] == "https://partner-kv.vault.azure.net/"
    assert other["certificate_name"] == "partner-tls"
    assert "ForbiddenByFirewall" in found["firewalled"]["reason"]
    assert "neither follows the latest version" in found["fd-no-version"]["reason"]
    assert found["app-other-tenant"]["vault_name"] == "partner-kv"
    assert "classic-secret" not in found, "a classic CDN profile holds no Front Door secrets and is not asked"


def test_a_403_on_one_service_type_costs_only_that_type_in_that_subscription(table_scan) -> None:
    azure, document = table_scan
    data_id = azure.estate.subscriptions[1].subscription_id
    refused = [f for f in document["findings"] if f["rule_id"] == "CertificateBinding" and f["binding"] is None]
    assert len(refused) == 1
    assert refused[0]["subscription_id"] == data_id
    assert refused[0]["resource_type"] == "Microsoft.ApiManagement/service"
    assert refused[0]["certificate_name"] is None
    assert "AuthorizationFailed" in refused[0]["reason"]
    assert "Reader" in refused[0]["reason"]
    assert binding_findings(document)["data-latest"]["status"] == "compliant"


def test_versions_are_read_only_for_referenced_certificates(table_scan) -> None:
    azure, _ = table_scan
    # Every enabled certificate's bundle is read once for its policy (GET .../{name}/); pinned versions and
    # version lists only for the referenced ones.
    versioned = {
        r.certificate
        for r in azure.requests.where(service="keyvault")
        if r.operation == "list_versions" or (r.operation == "get_certificate" and r.path.strip("/").count("/") == 2)
    }
    assert {"gw-pinned-expired"} <= versioned
    unreferenced = azure.requests.where(service="keyvault", certificate="not-served")
    assert [(r.operation, r.path.rstrip("/").count("/")) for r in unreferenced] == [("get_certificate", 2)]
    pages = azure.requests.where(service="arm", operation="list_web_certificates")
    assert len(pages) > 1, "App Service certificates came in pages"
    assert all(r.status == 200 for r in pages)


def test_a_referenced_certificate_is_read_once_its_bundle_serving_the_policy_and_the_current_version(
    table_scan,
) -> None:
    azure, document = table_scan
    assert binding_findings(document)["data-latest"]["current_version"], "the current version was known"
    current_reads = [
        r
        for r in azure.requests.where(service="keyvault", certificate="data-tls")
        if r.operation == "get_certificate" and r.path.strip("/").count("/") == 1 and r.status == 200
    ]
    assert len(current_reads) == 1  # the policy read's bundle; the binding rule did not fetch it again


def test_get_findings_filters_the_binding_rule_and_its_csv_carries_the_service(table_scan) -> None:
    _, document = table_scan
    result = ScanResult.from_document(document)
    response = get_findings(lambda: result, {"rule_id": ["CertificateBinding"]})
    assert response.status == 200
    found = json.loads(response.body)["findings"]
    assert len(found) == len(EXPECTED)
    assert {f["rule_id"] for f in found} == {"CertificateBinding"}
    csv_response = get_findings(lambda: result, {"rule_id": ["CertificateBinding"], "format": ["csv"]})
    rows = list(csv.DictReader(io.StringIO(csv_response.body)))
    pinned = next(row for row in rows if row["binding"] == "pinned-valid")
    assert pinned["resource_type"] == "Microsoft.Network/applicationGateways"
    assert pinned["bound_version"]
    assert pinned["current_version"]
    assert pinned["bound_version"] != pinned["current_version"]


def test_the_table_names_the_service(table_scan, fake_azure) -> None:
    code, _, text = run_scan()
    assert code == 1
    assert "Application Gateway appgw-payments (SSL certificate pinned-expired)" in text


# --- the pure rule and parsers ------------------------------------------------------------------------------

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
VAULT = Vault(
    "sub",
    "kv",
    "https://kv.vault.azure.net/",
    "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
)


def test_an_app_service_hex_thumbprint_matches_the_base64url_x5t() -> None:
    assert x5t_to_hex("7Hd8wjMNV61gvzAY4LfCGxWwi_I") == "EC777CC2330D57AD60BF3018E0B7C21B15B08BF2"
    assert x5t_to_hex("not base64!") is None


def test_an_app_service_with_an_unknown_creation_time_and_another_thumbprint_is_stale() -> None:
    binding = Binding(
        "sub", "/id", "Microsoft.Web/certificates", "web", "web", certificate_name="c", thumbprint="00" * 20
    )
    current = CertificateVersion("v2", x5t="7Hd8wjMNV61gvzAY4LfCGxWwi_I", created_on=None)
    finding = check_binding(binding, BindingTarget(VAULT, current=current), now=NOW)
    assert (finding.status, finding.severity) == ("non_compliant", "high")


def test_a_pinned_version_whose_expiry_is_unknown_is_high_not_critical() -> None:
    binding = Binding(
        "sub", "/gw", "Microsoft.Network/applicationGateways", "gw", "tls", certificate_name="c", version="v1"
    )
    current = CertificateVersion("v2", created_on=NOW - timedelta(days=3), expires_on=NOW + timedelta(days=300))
    finding = check_binding(binding, BindingTarget(VAULT, current=current), now=NOW)
    assert (finding.status, finding.severity) == ("non_compliant", "high")
    assert finding.bound_version == "v1"
    assert finding.current_version == "v2"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://kv.vault.azure.net/secrets/tls", ("https://kv.vault.azure.net/", "tls", None)),
        ("https://KV.vault.azure.net/secrets/tls/", ("https://kv.vault.azure.net/", "tls", None)),
        ("https://kv.vault.azure.net:443/secrets/tls/abc", ("https://kv.vault.azure.net:443/", "tls", "abc")),
        ("http://kv.vault.azure.net/secrets/tls", None),
        ("https://kv.vault.azure.net/certificates/tls", None),
        ("https://kv.vault.azure.net/secrets/a/b/c", None),
        ("https://kv.vault.azure.net:99999/secrets/tls", None),
        (None, None),
    ],
)
def test_secret_ids_are_read_as_key_vault_defines_them(uri: Any, expected: Any) -> None:
    assert parse_secret_uri(uri) == expected


def test_a_vault_matches_by_scheme_host_and_port() -> None:
    assert origin("https://kv.vault.azure.net/") == origin("https://KV.vault.azure.net:443")
    assert origin("https://kv.vault.azure.net/") != origin("https://kv.vault.azure.net:8443/")


def test_the_fake_key_vault_serves_every_version_to_the_real_sdk(fake_azure) -> None:
    """The SDK's own version calls (not our parser) read the fake: GET .../{name}/{version} and the paged
    .../versions list, as recorded in azure-sdk-for-python's test_list_certificate_versions[7.3]."""
    from azure.identity import DefaultAzureCredential
    from azure.keyvault.certificates import CertificateClient

    older = [{"created_days_ago": 700, "expires_in_days": -335}, {"created_days_ago": 400, "expires_in_days": -35}]
    azure = fake_azure(
        estate(subscription("S", vault(KV, with_versions(cert("tls", "Self", AUTO_80), *older))), page_size=2)
    )
    model = azure.certificate(KV, "tls")
    client = CertificateClient(azure.vault_uri(KV), DefaultAzureCredential(), verify_challenge_resource=False)
    with client:
        versions = list(client.list_properties_of_certificate_versions("tls"))
        assert [v.version for v in versions] == [*(v.version for v in model.older_versions), model.version]
        previous = client.get_certificate_version("tls", model.older_versions[-1].version).properties
        current = client.get_certificate("tls").properties
        assert previous is not None
        assert current is not None
        assert previous.expires_on == model.older_versions[-1].expires_on
        assert previous.x509_thumbprint != current.x509_thumbprint
    assert len(azure.requests.where(operation="list_versions")) == 3, "3 versions, pages of 2, an empty last page"


def test_a_renewal_in_the_fake_keeps_the_old_version_for_the_services_pinned_to_it(fake_azure) -> None:
    azure = fake_azure(table_estate())
    before = azure.certificate(KV, "gw-current").version
    with azure.lock:  # the gateway was pinned to what was current: that exact version id
        gateway_spec = azure.estate.subscriptions[0].services[0]
        next(c for c in gateway_spec["sslCertificates"] if c["name"] == "current")["version"] = before
    azure.update_certificate(KV, "gw-current", expires_in_days=365, not_before_days_ago=0)
    code, document, _ = run_scan("--format", "json")
    finding = binding_findings(document)["current"]
    assert finding["bound_version"] == before
    assert (finding["status"], finding["severity"]) == ("non_compliant", "high")
    assert finding["current_version"] == azure.certificate(KV, "gw-current").version != before
    assert code == 1


def small_estate(list_fault: dict[str, Any]) -> dict[str, Any]:
    sub = subscription("Only", vault("data-kv", cert("data-tls", "Self", AUTO_80)))
    sub["services"] = [
        gateway("appgw-data", ssl_certificate("data-latest", "data-kv", "data-tls")),
        app_service_certificate("app-data", "data-kv", "data-tls"),
    ]
    sub["fault"] = list_fault
    return estate(sub)


@pytest.mark.parametrize(
    ("list_fault", "code"),
    [
        ({"applicationGateways": fault(200, body='{"value": [], "nextLink": "https://attacker.example/next"}')}, None),
        ({"applicationGateways": fault(200, body="<html>gateway timeout</html>")}, "MalformedResponse"),
        ({"applicationGateways": fault(500, times=20)}, "InternalServerError"),
    ],
    ids=["next-link-to-another-host", "not-json", "keeps-failing"],
)
def test_a_service_list_that_misbehaves_costs_only_that_type(fake_azure, list_fault: dict[str, Any], code: Any) -> None:
    fake_azure(small_estate(list_fault))
    _, document, _ = run_scan("--format", "json")
    found = binding_findings(document)
    refused = found[None]
    assert refused["status"] == "not_assessed"
    assert refused["resource_type"] == "Microsoft.Network/applicationGateways"
    if code:
        assert refused["error_code"] == code
    else:
        assert "another host" in refused["reason"]
    assert found["app-data"]["status"] == "compliant", "the other types of the subscription are still judged"


def test_a_throttled_service_list_is_retried(fake_azure) -> None:
    azure = fake_azure(small_estate({"applicationGateways": fault(429, "TooManyRequests", times=1, retry_after=0)}))
    _, document, _ = run_scan("--format", "json")
    assert binding_findings(document)["data-latest"]["status"] == "compliant"
    statuses = [r.status for r in azure.requests.where(operation="list_application_gateways")]
    assert statuses == [429, 200]


def test_a_binding_finding_shows_the_expiry_of_what_the_service_serves(table_scan) -> None:
    azure, document = table_scan
    found = binding_findings(document)
    latest = azure.certificate(KV, "gw-latest")
    assert found["latest"]["expires_on"].startswith(f"{latest.expires_on:%Y-%m-%d}")
    assert found["app-broken"]["expires_on"] is None, "an old thumbprint's expiry is not the current version's"


def test_a_ca_issued_certificate_under_a_self_policy_is_flagged_whether_a_service_references_it_or_not(
    fake_azure,
) -> None:
    # Every enabled certificate's bundle carries its cer (a real DigiCert-signed DER certificate in the fake):
    # the scan knows who issued each one without an extra request (SPEC §2).
    sub = subscription(
        "Only",
        vault(
            "web-kv",
            cert("served", "Self", EMAIL_3D, issued_by="DigiCert Global G2 TLS RSA SHA256 2020 CA1"),
            cert("unserved", "Self", EMAIL_3D, issued_by="DigiCert Global G2 TLS RSA SHA256 2020 CA1"),
            cert("self-signed", "Self", EMAIL_3D),
        ),
    )
    sub["services"] = [
        app_service_certificate("app-served", "web-kv", "served"),
        app_service_certificate("app-self-signed", "web-kv", "self-signed"),
    ]
    fake_azure(estate(sub))

    _, document, _ = run_scan("--format", "json")
    reasons = {f["certificate_name"]: f["reason"] for f in document["findings"] if f["rule_id"] == "KeyVault-006"}

    for name in ("served", "unserved"):
        assert "issued by DigiCert Global G2 TLS RSA SHA256 2020 CA1" in reasons[name]
        assert "would issue a self-signed replacement" in reasons[name]
    assert "issued by" not in reasons["self-signed"]
