"""Tokens stay home (issue 19.2, SPEC §6): every Resource Manager request goes to the ARM_ENDPOINT host, and
ids and links read from answers are paths below it. A trap HTTPS server (trusted by the same test CA, on
another port of the same address) records whatever reaches it: it must never see a request, let alone one
carrying a token. A vault name is taken only from a Key Vault host, so a reference to another host matches
no vault and no alert route."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from shared.azure.arm import next_link, resource_path
from shared.azure.keyvault import UntrustedHostError, vault_name_from_host
from shared.cli import main
from tests.fakeazure import cert, estate, fault, subscription, vault
from tests.fakeazure.services import app_service_certificate, gateway, ssl_certificate

AUTO_80 = [("AutoRenew", {"lifetime_percentage": 80})]
SUB_ID = "/subscriptions/00000000-0000-0000-0000-000000000001"


def run_scan() -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["scan", "--no-store", "--format", "json"], stdout=out, stderr=err)
    assert out.getvalue(), err.getvalue()
    return code, json.loads(out.getvalue())


def assert_trap_untouched(trap: Any) -> None:
    carrying_tokens = [r for r in trap.requests if "authorization" in {k.lower() for k in r.headers}]
    assert carrying_tokens == [], "a Resource Manager token left ARM_ENDPOINT"
    assert trap.requests == [], "nothing at all is sent to a host the scan does not trust"


def trap_base(trap: Any) -> str:
    return f"https://127.0.0.1:{trap.port}"


def estate_with(sub_fault: dict[str, Any] | None = None, **estate_faults: Any) -> dict[str, Any]:
    sub = subscription("Only", vault("data-kv", cert("data-tls", "Self", AUTO_80)), fault=sub_fault)
    sub["services"] = [
        gateway("appgw-data", ssl_certificate("data-latest", "data-kv", "data-tls")),
        app_service_certificate("app-data", "data-kv", "data-tls"),
    ]
    scenario = estate(sub)
    for op, spec in estate_faults.items():
        scenario.setdefault("faults", {})[op] = spec
    return scenario


def test_a_front_door_profile_id_written_as_an_absolute_url_is_refused_without_a_request(
    fake_azure, webhook_receiver
) -> None:
    trap = webhook_receiver
    profile = {
        "id": f"{trap_base(trap)}{SUB_ID}/resourceGroups/rg/providers/Microsoft.Cdn/profiles/edge",
        "name": "edge",
        "type": "Microsoft.Cdn/profiles",
        "sku": {"name": "Standard_AzureFrontDoor"},
    }
    fake_azure(estate_with({"cdnProfiles": fault(200, body=json.dumps({"value": [profile]}))}))

    _, document = run_scan()

    assert_trap_untouched(trap)
    refused = [f for f in document["findings"] if f["rule_id"] == "CertificateBinding" and f["binding"] is None]
    assert [(f["status"], f["resource_type"], f["error_code"]) for f in refused] == [
        ("not_assessed", "Microsoft.Cdn/profiles/secrets", "UntrustedResourceId")
    ]
    assert "is not a Resource Manager path" in refused[0]["reason"]
    judged = {f["binding"]: f["status"] for f in document["findings"] if f["rule_id"] == "CertificateBinding"}
    assert judged["data-latest"] == "compliant", "the other service types are still judged"


def test_a_service_lists_next_link_to_another_port_is_not_followed(fake_azure, webhook_receiver) -> None:
    trap = webhook_receiver
    page = {"value": [], "nextLink": f"{trap_base(trap)}{SUB_ID}/providers/Microsoft.Network/applicationGateways?p=2"}
    fake_azure(estate_with({"applicationGateways": fault(200, body=json.dumps(page))}))

    _, document = run_scan()

    assert_trap_untouched(trap)
    refused = [f for f in document["findings"] if f["rule_id"] == "CertificateBinding" and f["binding"] is None]
    assert [(f["resource_type"], f["error_code"]) for f in refused] == [
        ("Microsoft.Network/applicationGateways", "UntrustedNextLink")
    ]


def test_a_vault_list_whose_next_link_leaves_arm_endpoint_is_refused_by_the_pipeline(
    fake_azure, webhook_receiver
) -> None:
    # The management SDK follows this nextLink itself: only the clients' ArmHostGuard stands in the way.
    trap = webhook_receiver
    page = {"value": [], "nextLink": f"{trap_base(trap)}{SUB_ID}/providers/Microsoft.KeyVault/vaults?page=2"}
    fake_azure(estate_with({"vaults": fault(200, body=json.dumps(page))}))

    code, document = run_scan()

    assert_trap_untouched(trap)
    unlisted = [f for f in document["findings"] if f["vault_name"] is None and f["rule_id"] == "KeyVault-006"]
    assert [(f["status"], f["error_code"]) for f in unlisted] == [("not_assessed", "UntrustedArmHost")]
    assert "it was not sent" in unlisted[0]["reason"]
    assert code == 3


def test_a_subscription_list_whose_next_link_leaves_arm_endpoint_is_refused(fake_azure, webhook_receiver) -> None:
    trap = webhook_receiver
    page = {"value": [], "nextLink": f"{trap_base(trap)}/subscriptions?api-version=2022-12-01&page=2"}
    fake_azure(estate_with(subscriptions=fault(200, body=json.dumps(page))))

    out, err = io.StringIO(), io.StringIO()
    main(["scan", "--no-store", "--format", "json"], stdout=out, stderr=err)

    assert_trap_untouched(trap)
    assert "UntrustedArmHost" in out.getvalue() + err.getvalue()


def test_a_reference_to_a_vault_name_on_another_host_matches_no_vault_and_no_route(fake_azure) -> None:
    sub = subscription(
        "Only",
        vault("pay-kv", cert("x", "Self", AUTO_80), tags={"alert-route": "payments"}),
    )
    sub["services"] = [
        gateway("appgw-evil", ssl_certificate("evil", secret_id="https://pay-kv.attacker.example/secrets/x")),
    ]
    azure = fake_azure(estate(sub))

    _, document = run_scan()

    [finding] = [f for f in document["findings"] if f["binding"] == "evil"]
    assert finding["status"] == "not_assessed"
    assert finding["vault_name"] is None, "the host is not a Key Vault host: it names no vault"
    assert finding["route"] is None, "and so no team's webhook"
    assert not azure.requests.where(service="keyvault", certificate="x", operation="list_versions")


# --- the helpers, on their own --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "https://collector.example/subscriptions/s/resourceGroups/rg",
        "//collector.example/subscriptions/s",
        "/subscriptions/s/../../x",
        "/subscriptions/s?x=1",
        "subscriptions/s",
        "",
        None,
    ],
)
def test_an_id_that_is_not_a_path_below_the_endpoint_is_refused(value: Any) -> None:
    with pytest.raises(UntrustedHostError) as raised:
        resource_path(value)
    assert raised.value.error.code == "UntrustedResourceId"


@pytest.mark.parametrize(
    ("link", "followed"),
    [
        ("https://management.azure.com/subscriptions?page=2", True),
        ("https://management.azure.com:443/subscriptions?page=2", True),
        ("/subscriptions?page=2", True),
        ("http://management.azure.com/subscriptions?page=2", False),
        ("https://management.azure.com:8443/subscriptions", False),
        ("https://management.azure.com.evil.example/subscriptions", False),
        ("https://user@management.azure.com/subscriptions", False),
        ("//evil.example/subscriptions", False),
    ],
)
def test_a_next_link_is_followed_only_on_the_endpoints_origin(link: str, followed: bool) -> None:
    if followed:
        assert next_link(link, "https://management.azure.com").startswith("https://management.azure.com")
    else:
        with pytest.raises(UntrustedHostError):
            next_link(link, "https://management.azure.com")


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("pay-kv.vault.azure.net", "pay-kv"),
        ("PAY-KV.vault.usgovcloudapi.net.", "pay-kv"),
        ("pay-kv.attacker.example", None),
        ("pay-kv.vault.azure.net.attacker.example", None),
        ("a.pay-kv.vault.azure.net", None),
        ("vault.azure.net", None),
        ("127.0.0.1", None),
    ],
)
def test_a_vault_name_comes_only_from_a_key_vault_host(host: str, name: str | None) -> None:
    assert vault_name_from_host(host) == name
