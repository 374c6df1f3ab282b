"""The fake Azure speaks the wire format the real SDK clients expect: proven through those clients."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.keyvault.certificates import (
    CertificateClient,
    CertificatePolicy,
    CertificatePolicyAction,
    LifetimeAction,
)
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient
from cryptography import x509

from tests.fakeazure import (
    Estate,
    FakeAzure,
    cert,
    estate,
    fault,
    firewall_fault,
    rbac_fault,
    subscription,
    synthetic_estate,
    throttle_fault,
    vault,
)
from tests.plugins.fake_azure import FakeAzureFactory

REPO = Path(__file__).resolve().parents[1]


def subscription_client(azure: FakeAzure) -> SubscriptionClient:
    arm = os.environ["ARM_ENDPOINT"]
    return SubscriptionClient(DefaultAzureCredential(), base_url=arm, credential_scopes=[arm + "/.default"])


def keyvault_mgmt_client(azure: FakeAzure, subscription_id: str) -> KeyVaultManagementClient:
    arm = os.environ["ARM_ENDPOINT"]
    return KeyVaultManagementClient(
        DefaultAzureCredential(), subscription_id, base_url=arm, credential_scopes=[arm + "/.default"]
    )


def certificate_client(azure: FakeAzure, vault_name: str) -> CertificateClient:
    return CertificateClient(azure.vault_uri(vault_name), DefaultAzureCredential(), verify_challenge_resource=False)


def small_estate(**options: Any) -> dict[str, Any]:
    return estate(
        subscription(
            "Contoso Production",
            vault(
                "cc-webapp-key-vault",
                cert("cloudconformity", actions=[("EmailContacts", {"days_before_expiry": 3})], expires_in_days=120),
                cert("webapp-tls", actions=[("AutoRenew", {"lifetime_percentage": 80})], tags={"owner": "web"}),
                cert(
                    "webapp-signalr",
                    actions=[("EmailContacts", {"lifetime_percentage": 70}), ("AutoRenew", {"days_before_expiry": 20})],
                ),
                cert("partner-mtls", issuer="Unknown", actions=[("EmailContacts", {"lifetime_percentage": 80})]),
                cert("payments-gateway", issuer="DigiCert", actions=[("AutoRenew", {"days_before_expiry": 45})]),
                cert("legacy-signing", enabled=False, actions=[]),
            ),
            vault("legacy-intranet-kv", cert("intranet-portal"), fault={"any": firewall_fault()}),
        ),
        **options,
    )


# ------------------------------------------------------------------------------------ Resource Manager


def test_subscriptions_are_listed_across_pages(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(
        estate(
            subscription("Prod"),
            subscription("Dev"),
            subscription("Shared", state="Disabled"),
            subscription_page_size=2,
        )
    )

    subscriptions = list(subscription_client(azure).subscriptions.list())

    assert [s.display_name for s in subscriptions] == ["Prod", "Dev", "Shared"]
    assert subscriptions[2].state == "Disabled"
    assert {s.tenant_id for s in subscriptions} == {azure.estate.tenant_id}
    pages = azure.requests.where(operation="list_subscriptions")
    assert [r.query.get("$skiptoken") for r in pages] == [None, "2"]
    assert all(r.status == 200 and r.api_version for r in pages)
    assert pages[0].audience == os.environ["ARM_ENDPOINT"]  # the token scope followed ARM_ENDPOINT


def test_vaults_are_listed_across_pages_with_their_vault_uri(fake_azure: FakeAzureFactory) -> None:
    names = [f"team{i}-prod-kv" for i in range(5)]
    azure = fake_azure(
        estate(
            subscription("Prod", *[vault(n, resource_group="rg-prod", location="northeurope") for n in names]),
            vault_page_size=2,
        )
    )
    sub_id = azure.estate.subscriptions[0].subscription_id

    vaults = list(keyvault_mgmt_client(azure, sub_id).vaults.list_by_subscription())

    assert [v.name for v in vaults] == names
    assert [v.properties.vault_uri for v in vaults] == [azure.vault_uri(n) for n in names]
    assert (
        vaults[0].id == f"/subscriptions/{sub_id}/resourceGroups/rg-prod/providers/Microsoft.KeyVault/vaults/{names[0]}"
    )
    assert vaults[0].location == "northeurope"
    assert vaults[0].properties.tenant_id == azure.estate.tenant_id
    assert len(azure.requests.where(operation="list_vaults")) == 3
    # The vaultUri really is the vault: the certificates SDK accepts it as is.
    uri = vaults[0].properties.vault_uri
    assert uri is not None
    client = CertificateClient(uri, DefaultAzureCredential(), verify_challenge_resource=False)
    assert list(client.list_properties_of_certificates()) == []


def test_unknown_subscription_and_refused_vault_list_are_arm_errors(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(estate(subscription("Locked", fault=fault(403))))
    locked = azure.estate.subscriptions[0].subscription_id

    with pytest.raises(HttpResponseError) as refused:
        list(keyvault_mgmt_client(azure, locked).vaults.list_by_subscription())
    with pytest.raises(ResourceNotFoundError) as missing:
        list(keyvault_mgmt_client(azure, "00000000-0000-0000-0000-000000000000").vaults.list_by_subscription())

    assert refused.value.status_code == 403
    assert refused.value.error is not None
    assert refused.value.error.code == "AuthorizationFailed"
    assert missing.value.error is not None
    assert missing.value.error.code == "SubscriptionNotFound"


def test_arm_requires_a_bearer_token(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate())

    response = requests.get(f"{azure.arm_endpoint}/subscriptions?api-version=2022-12-01", timeout=10)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"


# ------------------------------------------------------------------------------------ Key Vault data plane


def test_first_request_without_token_gets_the_key_vault_challenge(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate())

    response = requests.get(f"{azure.vault_uri('cc-webapp-key-vault')}certificates?api-version=7.5", timeout=10)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{azure.estate.tenant_id}", '
        'resource="https://vault.azure.net"'
    )


def test_certificates_are_listed_across_pages(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate(page_size=4))
    client = certificate_client(azure, "cc-webapp-key-vault")

    listed = list(client.list_properties_of_certificates())
    small_pages = list(client.list_properties_of_certificates(max_page_size=2))

    assert sorted(c.name for c in listed) == [c.name for c in listed]  # Key Vault lists by name
    assert len(listed) == len(small_pages) == 6
    by_name = {c.name: c for c in listed}
    stored = azure.certificate("cc-webapp-key-vault", "cloudconformity")
    assert by_name["cloudconformity"].expires_on == stored.expires_on
    assert by_name["cloudconformity"].id == azure.certificate_id("cc-webapp-key-vault", "cloudconformity")
    assert by_name["cloudconformity"].tags is None  # empty tags are left out, as Key Vault does
    assert by_name["webapp-tls"].tags == {"owner": "web"}
    assert by_name["legacy-signing"].enabled is False
    assert all(len(c.x509_thumbprint or b"") == 20 for c in listed)
    operations = [(r.operation, r.status, "$skiptoken" in r.query) for r in azure.requests.where(service="keyvault")]
    assert operations[0] == ("challenge", 401, False)
    # 6 certificates, pages of 4: two pages, then the real service's empty last page.
    assert operations[1:4] == [("list_certificates", 200, False)] + [("list_certificates", 200, True)] * 2
    assert [r.query.get("maxresults") for r in azure.requests.where(operation="list_certificates")][3:] == ["2"] * 4


def test_list_pages_look_like_the_recorded_service(fake_azure: FakeAzureFactory) -> None:
    # azure-sdk-for-python sdk/keyvault/azure-keyvault-certificates/tests/recordings/
    # test_certificates_client.pyTestCertificateClienttest_list[7.3].json: an opaque $skiptoken, maxresults and
    # the port in nextLink, "subject": "" in items, and {"value": [], "nextLink": null} after the last items.
    azure = fake_azure(small_estate(page_size=4))
    session = requests.Session()
    token = DefaultAzureCredential().get_token("https://vault.azure.net/.default").token
    session.headers["Authorization"] = f"Bearer {token}"
    base = azure.vault_uri("cc-webapp-key-vault")

    pages = [session.get(f"{base}certificates?api-version=7.5", timeout=10).json()]
    while pages[-1]["nextLink"]:
        pages.append(session.get(pages[-1]["nextLink"], timeout=10).json())

    assert [len(page["value"]) for page in pages] == [4, 2, 0]
    assert pages[-1] == {"value": [], "nextLink": None}
    first_link = pages[0]["nextLink"]
    assert first_link.startswith(f"{base}certificates?api-version=7.5&$skiptoken=")
    assert first_link.endswith("&maxresults=4")
    assert not first_link.split("$skiptoken=")[1].split("&")[0].isdigit()
    item = pages[0]["value"][0]
    assert item["subject"] == ""
    assert set(item["attributes"]) == {"enabled", "nbf", "exp", "created", "updated"}


def test_policies_parse_with_every_lifetime_action(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate())
    client = certificate_client(azure, "cc-webapp-key-vault")

    email_only = client.get_certificate_policy("cloudconformity")
    by_percentage = client.get_certificate_policy("webapp-tls")
    renew_second = client.get_certificate_policy("webapp-signalr")
    imported = client.get_certificate_policy("partner-mtls")
    digicert = client.get_certificate_policy("payments-gateway")

    def actions(policy: CertificatePolicy) -> list[tuple[Any, Any, Any]]:
        return [(a.action, a.days_before_expiry, a.lifetime_percentage) for a in policy.lifetime_actions or []]

    assert actions(email_only) == [(CertificatePolicyAction.email_contacts, 3, None)]
    assert actions(by_percentage) == [(CertificatePolicyAction.auto_renew, None, 80)]
    assert actions(renew_second) == [
        (CertificatePolicyAction.email_contacts, None, 70),
        (CertificatePolicyAction.auto_renew, 20, None),
    ]
    assert (email_only.issuer_name, imported.issuer_name, digicert.issuer_name) == ("Self", "Unknown", "DigiCert")
    assert email_only.subject == "CN=cloudconformity.contoso.com"
    assert email_only.validity_in_months == 12


def test_get_certificate_returns_the_bundle_with_policy_and_cer(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate())
    client = certificate_client(azure, "cc-webapp-key-vault")

    bundle = client.get_certificate("webapp-tls")

    stored = azure.certificate("cc-webapp-key-vault", "webapp-tls")
    der = bytes(bundle.cer or b"")
    parsed = x509.load_der_x509_certificate(der)
    assert parsed.not_valid_after_utc == stored.expires_on
    assert bundle.properties is not None
    assert bundle.properties.x509_thumbprint == hashlib.sha1(der, usedforsecurity=False).digest()
    assert bundle.properties.version == stored.version
    assert bundle.key_id == f"{azure.vault_uri('cc-webapp-key-vault')}keys/webapp-tls/{stored.version}"
    assert bundle.policy is not None
    assert bundle.policy.lifetime_actions
    assert bundle.policy.lifetime_actions[0].action == CertificatePolicyAction.auto_renew
    assert azure.requests.where(operation="get_certificate")[-1].path == "/certificates/webapp-tls/"


def test_unknown_certificate_is_certificate_not_found(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate())

    with pytest.raises(ResourceNotFoundError) as missing:
        certificate_client(azure, "cc-webapp-key-vault").get_certificate_policy("no-such-cert")

    assert missing.value.error is not None
    assert missing.value.error.code == "CertificateNotFound"


def test_update_policy_changes_what_the_next_get_returns(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate())
    client = certificate_client(azure, "cc-webapp-key-vault")
    renew = [LifetimeAction(CertificatePolicyAction.auto_renew, lifetime_percentage=80)]

    returned = client.update_certificate_policy(
        "cloudconformity", CertificatePolicy(issuer_name="Self", lifetime_actions=renew)
    )
    fetched = client.get_certificate_policy("cloudconformity")

    for policy in (returned, fetched):
        assert [(a.action, a.lifetime_percentage) for a in policy.lifetime_actions or []] == [
            (CertificatePolicyAction.auto_renew, 80)
        ]
        assert policy.subject == "CN=cloudconformity.contoso.com"  # merged, not replaced
    bodies = azure.patches[("cc-webapp-key-vault", "cloudconformity")]
    assert bodies == [
        {
            "issuer": {"name": "Self"},
            "lifetime_actions": [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "AutoRenew"}}],
        }
    ]
    stored = azure.policy("cc-webapp-key-vault", "cloudconformity")
    assert stored is not None
    assert stored["lifetime_actions"][0]["action"]["action_type"] == "AutoRenew"


def test_autorenew_on_an_unknown_issuer_is_refused(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate())
    renew = [LifetimeAction(CertificatePolicyAction.auto_renew, days_before_expiry=30)]

    with pytest.raises(HttpResponseError) as refused:
        certificate_client(azure, "cc-webapp-key-vault").update_certificate_policy(
            "partner-mtls", CertificatePolicy(lifetime_actions=renew)
        )

    assert refused.value.status_code == 400
    assert refused.value.error is not None
    assert refused.value.error.code == "BadParameter"
    stored = azure.policy("cc-webapp-key-vault", "partner-mtls")
    assert stored is not None
    assert stored["lifetime_actions"][0]["action"]["action_type"] == "EmailContacts"


def test_firewall_403_shows_its_inner_code_on_the_sdk_error(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate())

    with pytest.raises(HttpResponseError) as refused:
        list(certificate_client(azure, "legacy-intranet-kv").list_properties_of_certificates())

    error = refused.value
    assert error.status_code == 403
    assert error.error is not None
    assert error.error.code == "Forbidden"
    assert error.error.innererror == {"code": "ForbiddenByFirewall"}
    assert "Client address is not authorized" in error.message


def test_a_certificate_fault_hits_only_its_operation(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(
        estate(subscription("Prod", vault("kv", cert("locked", fault={"policy": rbac_fault()}), cert("open"))))
    )
    client = certificate_client(azure, "kv")

    assert [c.name for c in client.list_properties_of_certificates()] == ["locked", "open"]
    with pytest.raises(HttpResponseError) as refused:
        client.get_certificate_policy("locked")
    with pytest.raises(HttpResponseError):
        client.get_certificate("locked")  # its bundle carries the policy: one permission guards both
    assert client.get_certificate("open").name == "open"
    assert [v.version for v in client.list_properties_of_certificate_versions("locked")]

    assert refused.value.error is not None
    assert refused.value.error.innererror == {"code": "ForbiddenByRbac"}


def test_throttled_request_is_retried_after_retry_after(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(
        estate(
            subscription("Prod", vault("kv", cert("busy", fault={"policy": throttle_fault(times=1, retry_after=1)})))
        )
    )

    policy = certificate_client(azure, "kv").get_certificate_policy("busy")

    assert policy.issuer_name == "Self"
    attempts = azure.requests.where(operation="get_policy")
    assert [r.status for r in attempts] == [429, 200]


def test_throttle_ratio_is_deterministic_and_retried(fake_azure: FakeAzureFactory) -> None:
    # Throttling draws one number per (request, attempt) from the seed, whatever the arrival order.
    # With seed 120, 3 of these 10 first attempts are answered 429 (no Retry-After, as Key Vault does), then succeed.
    names = [f"c{i:02d}" for i in range(10)]
    scenario = estate(subscription("Prod", vault("kv", *[cert(n) for n in names])), throttle_ratio=0.15, seed=120)
    statuses = []
    for _ in range(2):
        azure = fake_azure(scenario)
        client = certificate_client(azure, "kv")
        assert {client.get_certificate_policy(n).issuer_name for n in names} == {"Self"}
        statuses.append([r.status for r in azure.requests.where(operation="get_policy")])

    assert statuses[0] == statuses[1]
    assert statuses[0].count(429) == 3
    assert statuses[0].count(200) == 10
    throttled = next(r for r in azure.requests.where(operation="get_policy") if r.status == 429)
    assert throttled.certificate in names


def test_malformed_json_is_an_sdk_exception(fake_azure: FakeAzureFactory) -> None:
    truncated = '{"id": "https://kv.vault.azure.net/certificates/broken/policy", "lifetime_act'
    azure = fake_azure(
        estate(
            subscription(
                "Prod",
                vault("kv", cert("broken", fault={"policy": fault(body=truncated)})),
                vault("kv-paged", *[cert(f"c{i}") for i in range(3)], fault={"list_page": fault(body="<html>")}),
            ),
            page_size=2,
        )
    )

    with pytest.raises(DecodeError):
        certificate_client(azure, "kv").get_certificate_policy("broken")
    with pytest.raises(DecodeError):
        list(certificate_client(azure, "kv-paged").list_properties_of_certificates())


def test_a_dropped_connection_is_retried(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(
        estate(subscription("Prod", vault("kv", cert("flaky", fault={"get": fault(drop=True, times=1)}))))
    )

    assert certificate_client(azure, "kv").get_certificate("flaky").name == "flaky"

    assert [r.status for r in azure.requests.where(operation="get_certificate")] == [0, 200]


def test_the_estate_can_change_between_scans(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate())
    client = certificate_client(azure, "cc-webapp-key-vault")
    first = {c.name for c in client.list_properties_of_certificates()}

    azure.add_certificate("cc-webapp-key-vault", cert("new-api"))
    azure.remove_certificate("cc-webapp-key-vault", "legacy-signing")
    azure.update_certificate("cc-webapp-key-vault", "webapp-tls", expires_in_days=400)
    azure.set_fault("cc-webapp-key-vault", "list", firewall_fault())
    with pytest.raises(HttpResponseError):
        list(client.list_properties_of_certificates())
    azure.set_fault("cc-webapp-key-vault", "list", None)
    second = {c.name: c for c in client.list_properties_of_certificates()}

    assert set(second) == first - {"legacy-signing"} | {"new-api"}
    assert second["webapp-tls"].expires_on == azure.certificate("cc-webapp-key-vault", "webapp-tls").expires_on


def test_a_vault_added_while_running_is_discovered(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate())
    sub_id = azure.estate.subscriptions[0].subscription_id

    uri = azure.add_vault(sub_id, vault("late-kv", cert("late")))

    discovered = {
        v.name: v.properties.vault_uri for v in keyvault_mgmt_client(azure, sub_id).vaults.list_by_subscription()
    }
    assert discovered["late-kv"] == uri
    assert [c.name for c in certificate_client(azure, "late-kv").list_properties_of_certificates()] == ["late"]


# ------------------------------------------------------------------------------------ managed identity


def test_tokens_name_the_identity_that_acted(fake_azure: FakeAzureFactory) -> None:
    azure = fake_azure(small_estate(identity={"object_id": "11111111-2222-3333-4444-555555555555"}))

    list(certificate_client(azure, "cc-webapp-key-vault").list_properties_of_certificates())

    listed = azure.requests.where(operation="list_certificates")[0]
    assert listed.authorized
    assert listed.identity is not None
    assert listed.identity["oid"] == "11111111-2222-3333-4444-555555555555"
    assert listed.audience == "https://vault.azure.net"
    token = azure.token_requests[-1]
    assert token.query["resource"] == "https://vault.azure.net"
    assert token.query["api-version"] == "2019-08-01"


def test_a_user_assigned_identity_gets_its_own_client_id(
    fake_azure: FakeAzureFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    azure = fake_azure(small_estate())
    monkeypatch.setenv("AZURE_CLIENT_ID", "99999999-8888-7777-6666-555555555555")

    token = ManagedIdentityCredential(client_id=os.environ["AZURE_CLIENT_ID"]).get_token(
        "https://vault.azure.net/.default"
    )

    payload = token.token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["appid"] == "99999999-8888-7777-6666-555555555555"
    assert claims["aud"] == "https://vault.azure.net"
    assert claims["tid"] == azure.estate.tenant_id
    assert azure.token_requests[-1].query["client_id"] == "99999999-8888-7777-6666-555555555555"


def test_a_wrong_identity_header_is_refused(fake_azure: FakeAzureFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    azure = fake_azure(small_estate())
    url = f"{azure.identity_endpoint}?api-version=2019-08-01&resource=https://vault.azure.net"

    raw = requests.get(url, headers={"X-IDENTITY-HEADER": "not-the-secret"}, timeout=10)
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-secret")
    with pytest.raises(ClientAuthenticationError):
        DefaultAzureCredential().get_token("https://vault.azure.net/.default")

    assert raw.status_code == 401
    assert [r.status for r in azure.token_requests] == [401, 401]


# ------------------------------------------------------------------------------------ estates and the CLI


def test_the_demo_estate_is_readable_through_the_sdk(fake_azure_demo: FakeAzure) -> None:
    azure = fake_azure_demo
    outcomes: dict[str, str] = {}
    for sub in subscription_client(azure).subscriptions.list():
        assert sub.subscription_id is not None
        for found in keyvault_mgmt_client(azure, sub.subscription_id).vaults.list_by_subscription():
            assert found.name is not None
            assert found.properties.vault_uri == azure.vault_uri(found.name)
            client = CertificateClient(
                found.properties.vault_uri, DefaultAzureCredential(), verify_challenge_resource=False
            )
            try:
                names = [c.name for c in client.list_properties_of_certificates()]
            except HttpResponseError as exc:
                outcomes[found.name] = f"list {exc.status_code}"
                continue
            for name in names:
                assert name is not None
                try:
                    client.get_certificate_policy(name)
                    outcomes[name] = "ok"
                except (HttpResponseError, DecodeError) as exc:
                    outcomes[name] = type(exc).__name__

    assert outcomes["legacy-intranet-kv"] == "list 403"
    assert outcomes["payments-hsm-bridge"] == "HttpResponseError"
    assert outcomes["ingress-staging"] == "DecodeError"
    assert outcomes["cloudconformity"] == "ok"
    assert len(outcomes) == 1 + azure.estate.certificate_count() - 2  # the firewalled vault hides 2


def test_synthetic_estates_are_deterministic_and_mixed() -> None:
    first = synthetic_estate(vaults=30, certs_per_vault=40, seed=3)
    again = synthetic_estate(vaults=30, certs_per_vault=40, seed=3)
    model = Estate.from_dict(first)
    certificates = [c for v in model.vaults() for c in v.certificates.values()]
    issuers = {(c.policy or {})["issuer"]["name"] for c in certificates}
    actions = {tuple(a["action"]["action_type"] for a in (c.policy or {})["lifetime_actions"]) for c in certificates}

    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert model.certificate_count() == 1200
    assert issuers == {"Self", "DigiCert", "GlobalSign", "Unknown"}
    assert {(), ("EmailContacts",), ("AutoRenew",), ("EmailContacts", "AutoRenew")} <= actions
    assert any(not c.enabled for c in certificates)
    assert any(c.tags.get("autorenew-exempt") == "true" for c in certificates)
    assert any(c.expires_on < model.loaded_at for c in certificates)


def test_cli_serves_until_sigterm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azure_isolated_env: None) -> None:
    env_file = tmp_path / "fake.env"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakeazure",
            "serve",
            "--synthetic",
            "vaults=3,certs=2,latency_ms=0",
            "--env-file",
            str(env_file),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the fake did not write its env file"
            time.sleep(0.05)
        env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        arm = env["ARM_ENDPOINT"]

        subscriptions = list(
            SubscriptionClient(
                DefaultAzureCredential(), base_url=arm, credential_scopes=[arm + "/.default"]
            ).subscriptions.list()
        )
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)

    assert len(subscriptions) == 1
    assert process.returncode == 0
    assert "IDENTITY_ENDPOINT=" in stdout
    assert not env_file.exists()
