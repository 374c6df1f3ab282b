"""CertificateBinding for the service types of issue 17 and what services report serving, end to end:
the real scan against the fake Resource Manager (tests/fakeazure/services.py, edge_services.py) and
the fake Key Vault (tests/fakeazure/vault_secrets.py for plain secrets), every row of SPEC §2's table:

| row | reference |
|---|---|
| not_assessed high | a malformed Front Door (classic) or CDN reference; a secret list refused |
| not_applicable | a plain secret (an uploaded PFX, an App Service Certificate order's secret) |
| non_compliant high | neither a certificate nor a secret (deleted) |
| non_compliant high | each keyVaultSecretStatus value, with its own fix |
| non_compliant critical/high | pinned to an older version (Front Door classic, classic CDN) |
| non_compliant critical/high | follows the latest but reports another thumbprint after its window |
| non_compliant medium | pinned to the current version (classic CDN) |
| compliant | follows the latest; or reports an older thumbprint inside its window ("propagating") |
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from shared.cli import main
from shared.rules.secret_status import ADVICE
from tests.fakeazure import cert, estate, fault, plain_secret, subscription, vault
from tests.fakeazure.edge_services import (
    app_service_site,
    cdn_classic,
    cdn_domain,
    cdn_endpoint,
    container_apps_environment,
    environment_certificate,
    front_door_classic,
    frontend_endpoint,
    site_binding,
)
from tests.fakeazure.services import (
    api_management,
    apim_hostname,
    app_service_certificate,
    front_door,
    front_door_secret,
)

AUTO = [("AutoRenew", {"lifetime_percentage": 80})]
KV = "edge-kv"
EXPIRED_OLD = {"created_days_ago": 400, "expires_in_days": -3}
VALID_OLD = {"created_days_ago": 300, "expires_in_days": 65}


def renewed(name: str, *, hours_ago: float = 240, older: dict[str, Any] = VALID_OLD) -> dict[str, Any]:
    """A certificate renewed ``hours_ago`` (its current version's creation), with one older version."""
    return {**cert(name, "Self", AUTO, not_before_days_ago=hours_ago / 24), "older_versions": [dict(older)]}


def scan() -> dict[str, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    main(["scan", "--no-store", "--format", "json"], stdout=out, stderr=err)
    document = json.loads(out.getvalue())
    return {
        f"{f['resource_type']}|{f['binding']}": f for f in document["findings"] if f["rule_id"] == "CertificateBinding"
    }


def coverage_estate() -> dict[str, Any]:
    sub = subscription(
        "Edge",
        vault(
            KV,
            renewed("fdc-latest"),
            renewed("fdc-pinned", older=EXPIRED_OLD),
            renewed("cdn-pinned"),
            renewed("cdn-current"),
            renewed("apim-stale"),
            renewed("apim-fresh", hours_ago=2),
            renewed("fd-stale", older=EXPIRED_OLD),
            renewed("site-tls"),
            renewed("aca-stale"),
            renewed("aca-fresh", hours_ago=10),
            secrets=[
                plain_secret("uploaded-pfx"),
                plain_secret("order-secret", content_type=None, tags={"CertificateId": "/subscriptions/x/order"}),
            ],
        ),
    )
    sub["services"] = [
        front_door_classic(
            "fd-legacy",
            frontend_endpoint("latest", "www.contoso.com", KV, "fdc-latest"),
            frontend_endpoint("pinned", "old.contoso.com", KV, "fdc-pinned", version="previous"),
            frontend_endpoint("pfx", "pfx.contoso.com", KV, "uploaded-pfx"),
            frontend_endpoint("gone", "gone.contoso.com", KV, "deleted-everywhere"),
            frontend_endpoint("bad", "bad.contoso.com", KV, "x", vault_id="/subscriptions/s/resourceGroups/r/vaults/v"),
            frontend_endpoint("managed", "managed.contoso.com"),
        ),
        cdn_classic(
            "cdn-legacy",
            cdn_endpoint(
                "static",
                cdn_domain("static-pinned", "static.contoso.com", KV, "cdn-pinned", version="previous"),
                cdn_domain("img-current", "img.contoso.com", KV, "cdn-current", version="current"),
                cdn_domain("no-name", "x.contoso.com", KV, "cdn-current", omit=["vaultName"]),
            ),
        ),
        api_management(
            "apim-edge",
            apim_hostname("api.contoso.com", KV, "apim-stale", served="previous"),
            apim_hostname("new-api.contoso.com", KV, "apim-fresh", served="previous"),
        ),
        front_door("fd-std", front_door_secret("fd-stale", KV, "fd-stale", served="previous")),
        app_service_certificate("site-cert", KV, "site-tls", host_names=["*.contoso.com"]),
        app_service_certificate("order-cert", KV, "order-secret", thumbprint="AB" * 20),
        app_service_site(
            "shop",
            site_binding("shop.contoso.com", KV, "site-tls"),
            site_binding("legacy-shop.contoso.com", KV, "site-tls", thumbprint="previous"),
        ),
        container_apps_environment(
            "aca-env",
            environment_certificate("aca-stale", KV, "aca-stale", served="previous", hostnames=["app.contoso.com"]),
            environment_certificate("aca-fresh", KV, "aca-fresh", served="previous"),
        ),
    ]
    return estate(sub)


EXPECTED = {
    "Microsoft.Network/frontDoors|latest": ("compliant", "medium"),
    "Microsoft.Network/frontDoors|pinned": ("non_compliant", "critical"),
    "Microsoft.Network/frontDoors|pfx": ("not_applicable", "info"),
    "Microsoft.Network/frontDoors|gone": ("non_compliant", "high"),
    "Microsoft.Network/frontDoors|bad": ("not_assessed", "high"),
    "Microsoft.Cdn/profiles/endpoints/customDomains|static-pinned": ("non_compliant", "high"),
    "Microsoft.Cdn/profiles/endpoints/customDomains|img-current": ("non_compliant", "medium"),
    "Microsoft.Cdn/profiles/endpoints/customDomains|no-name": ("not_assessed", "high"),
    "Microsoft.ApiManagement/service|api.contoso.com": ("non_compliant", "high"),
    "Microsoft.ApiManagement/service|new-api.contoso.com": ("compliant", "medium"),
    "Microsoft.Cdn/profiles/secrets|fd-stale": ("non_compliant", "critical"),
    "Microsoft.Web/certificates|site-cert": ("compliant", "medium"),
    "Microsoft.Web/certificates|order-cert": ("not_applicable", "info"),
    "Microsoft.Web/sites|shop.contoso.com": ("compliant", "medium"),
    "Microsoft.Web/sites|legacy-shop.contoso.com": ("non_compliant", "high"),
    "Microsoft.App/managedEnvironments/certificates|aca-stale": ("non_compliant", "high"),
    "Microsoft.App/managedEnvironments/certificates|aca-fresh": ("compliant", "medium"),
}


@pytest.fixture
def coverage(fake_azure: Any) -> tuple[Any, dict[str, dict[str, Any]]]:
    azure = fake_azure(coverage_estate())
    return azure, scan()


def test_every_row_of_the_binding_table_for_every_service_type(coverage: Any) -> None:
    _, found = coverage
    assert {key: (f["status"], f["severity"]) for key, f in found.items()} == EXPECTED


def test_a_plain_secret_is_not_applicable_and_its_value_is_never_read(coverage: Any) -> None:
    azure, found = coverage
    pfx = found["Microsoft.Network/frontDoors|pfx"]
    assert "plain Key Vault secret (application/x-pkcs12)" in pfx["reason"]
    assert "ServedCertificate still checks" in pfx["reason"]
    assert "deleted" not in pfx["reason"]
    assert azure.requests.where(operation="get_secret") == []
    assert azure.requests.where(operation="list_secret_versions"), "the metadata was read"
    gone = found["Microsoft.Network/frontDoors|gone"]
    assert "neither a certificate nor a secret" in gone["reason"]


def test_a_service_that_reports_an_old_thumbprint_after_its_window_is_stale(coverage: Any) -> None:
    azure, found = coverage
    apim = found["Microsoft.ApiManagement/service|api.contoso.com"]
    old = azure.certificate(KV, "apim-stale").older_versions[-1]
    assert "still serves thumbprint" in apim["reason"]
    assert "more than 4 hours ago" in apim["reason"]
    assert apim["expires_on"].startswith(f"{old.expires_on:%Y-%m-%d}")
    assert apim["bound_version"] is None
    fresh = found["Microsoft.ApiManagement/service|new-api.contoso.com"]
    assert "propagating" in fresh["reason"]
    assert "less than 4 hours ago" in fresh["reason"]
    fd = found["Microsoft.Cdn/profiles/secrets|fd-stale"]
    assert "expired" in fd["reason"], "Front Door still serves the expired previous version: critical"
    assert "more than 24 hours ago" in fd["reason"]
    aca = found["Microsoft.App/managedEnvironments/certificates|aca-stale"]
    assert "re-save the certificate in the environment" in aca["reason"]
    assert "propagating" in found["Microsoft.App/managedEnvironments/certificates|aca-fresh"]["reason"]


def test_an_app_service_site_bound_to_an_old_thumbprint_is_found_by_its_hostname(coverage: Any) -> None:
    azure, found = coverage
    site = found["Microsoft.Web/sites|legacy-shop.contoso.com"]
    assert site["resource_id"].endswith("/providers/Microsoft.Web/sites/shop")
    assert site["certificate_name"] == "site-tls"
    assert "App Service site shop (hostname legacy-shop.contoso.com)" in site["reason"]
    assert "rebind the hostname" in site["reason"]
    assert "more than 48 hours ago" in site["reason"]
    assert azure.certificate(KV, "site-tls").version in site["reason"]


def test_classic_front_door_and_cdn_are_told_to_use_latest(coverage: Any) -> None:
    _, found = coverage
    pinned = found["Microsoft.Network/frontDoors|pinned"]
    assert pinned["bound_version"] is not None
    assert pinned["bound_version"] != pinned["current_version"]
    assert 'Set the certificate version to "Latest"' in pinned["reason"]
    assert "Front Door (classic) fd-legacy (frontend endpoint pinned)" in pinned["reason"]
    current = found["Microsoft.Cdn/profiles/endpoints/customDomains|img-current"]
    assert "next renewal will not reach it" in current["reason"]
    assert "CDN endpoint static (custom domain img-current)" in current["reason"]
    assert "vaultName" in found["Microsoft.Cdn/profiles/endpoints/customDomains|no-name"]["reason"]


@pytest.mark.parametrize("status", sorted(ADVICE))
def test_each_key_vault_secret_status_has_its_own_reason_and_fix(fake_azure: Any, status: str) -> None:
    value = next(
        name
        for name in (
            "WaitingOnCertificateOrder", "CertificateOrderFailed", "OperationNotPermittedOnKeyVault",
            "AzureServiceUnauthorizedToAccessKeyVault", "KeyVaultDoesNotExist", "KeyVaultSecretDoesNotExist",
            "UnknownError", "ExternalPrivateKey", "Unknown",
        )
        if name.lower() == status
    )  # fmt: skip
    sub = subscription("Web", vault(KV, cert("web-tls", "Self", AUTO)))
    sub["services"] = [app_service_certificate("web-cert", KV, "web-tls", status=value)]
    fake_azure(estate(sub))
    finding = scan()["Microsoft.Web/certificates|web-cert"]
    assert (finding["status"], finding["severity"], finding["error_code"]) == ("non_compliant", "high", value)
    assert ADVICE[status].meaning in finding["reason"]
    assert ADVICE[status].fix in finding["reason"]


def test_the_statuses_do_not_all_say_grant_access() -> None:
    fixes = {advice.fix for advice in ADVICE.values()}
    assert len(fixes) >= 7
    assert "Recover the vault" in ADVICE["keyvaultdoesnotexist"].fix
    assert "Finish the order" in ADVICE["waitingoncertificateorder"].fix


def test_initialized_is_healthy(fake_azure: Any) -> None:
    sub = subscription("Web", vault(KV, cert("web-tls", "Self", AUTO)))
    sub["services"] = [app_service_certificate("web-cert", KV, "web-tls", status="Initialized")]
    fake_azure(estate(sub))
    assert scan()["Microsoft.Web/certificates|web-cert"]["status"] == "compliant"


def test_a_refused_secret_metadata_read_is_not_assessed_not_deleted(fake_azure: Any) -> None:
    sub = subscription("Web", vault(KV, cert("web-tls", "Self", AUTO), fault={"secrets": fault(403, "Forbidden")}))
    sub["services"] = [front_door_classic("fd", frontend_endpoint("e", "e.contoso.com", KV, "maybe-a-secret"))]
    fake_azure(estate(sub))
    finding = scan()["Microsoft.Network/frontDoors|e"]
    assert (finding["status"], finding["severity"]) == ("not_assessed", "high")
    assert "deleted" not in finding["reason"]


def test_the_cli_table_names_each_kind_of_service(fake_azure: Any) -> None:
    fake_azure(coverage_estate())
    out, err = io.StringIO(), io.StringIO()
    main(["scan", "--no-store"], stdout=out, stderr=err)
    text = out.getvalue()
    assert f"Front Door (classic) fd-legacy (pinned) -> {KV} / fdc-pinned" in text
    assert f"App Service site shop (legacy-shop.contoso.com) -> {KV} / site-tls" in text
    assert f"Container Apps certificate aca-stale -> {KV} / aca-stale" in text
    assert f"CDN endpoint static (static-pinned) -> {KV} / cdn-pinned" in text
