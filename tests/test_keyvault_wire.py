"""Key Vault as it really answers: throttling without Retry-After, and the hosts a token may go to.

Every scan here runs the real SDK clients against the fake Key Vault, which by default answers like the
service (tests/fakeazure: 429 ``Throttled`` without Retry-After, 403 with inner codes). Most tests give
``AzureClients`` a short throttling budget so they stay fast; the first one uses the production defaults.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import pytest
from azure.core.pipeline.transport import RequestsTransport

from shared.azure.clients import AzureClients, RetryBudget
from shared.azure.keyvault import read_vault, untrusted_vault_host
from shared.models import ScanResult, Status, Vault
from shared.scan import scan_estate
from shared.settings import Settings
from tests.contract.replay import RecordedToken, Replay, recording, session_for
from tests.fakeazure import FakeAzure, cert, estate, subscription, throttle_fault, throttle_window, vault
from tests.test_scan import run_cli, run_cli_process, scan_json

AUTO_80 = [("AutoRenew", {"lifetime_percentage": 80})]
CHALLENGE = recording("list_certificates_7.3.json")["Entries"][0]
THROTTLED = recording("throttled_429.json")["Entries"][0]
# Seconds instead of half a minute: enough for the fake's short faults, quick to exhaust.
FAST = RetryBudget(throttled_seconds=1.0, throttled_backoff=0.02, throttled_backoff_max=0.1)


def scan(budget: RetryBudget = FAST, **env: str) -> ScanResult:
    settings = Settings.from_env({**os.environ, **env})
    clients = AzureClients(settings, retry=budget)
    try:
        return scan_estate(settings, clients)
    finally:
        clients.close()


def by_certificate(result: ScanResult, rule_id: str = "KeyVault-006") -> dict[str | None, Any]:
    return {f.certificate_name: f for f in result.findings if f.rule_id == rule_id}


def test_a_vault_throttled_for_12_seconds_without_retry_after_is_still_fully_assessed(fake_azure) -> None:
    # Production defaults (the command line builds its own clients): Key Vault refuses every request of this
    # vault for 12 s of real time, 429 Throttled with no Retry-After, as a busy vault does.
    azure = fake_azure(
        estate(
            subscription(
                "Busy",
                vault(
                    "busy-kv",
                    *[cert(f"tls-{n}", "Self", AUTO_80) for n in range(6)],
                    fault={"any": throttle_window(12)},
                ),
            )
        )
    )

    code, document = scan_json()

    assert code == 0
    assert document["scan"]["status"] == "completed"
    statuses = {(f["certificate_name"], f["rule_id"]): f["status"] for f in document["findings"]}
    assert len(statuses) == 12
    assert set(statuses.values()) == {"compliant"}
    answered = [r for r in azure.requests.where(vault="busy-kv") if r.operation != "challenge"]
    refused = [r for r in answered if r.status == 429]
    assert refused, "the fake did not throttle"
    first_answer = next(r for r in answered if r.status == 200)
    assert first_answer.time - refused[0].time > 11  # the scan waited the throttling out instead of giving up


def test_a_certificate_throttled_past_the_budget_is_not_assessed_and_says_so(fake_azure) -> None:
    fake_azure(
        estate(
            subscription(
                "Busy",
                vault(
                    "busy-kv",
                    cert("always-throttled", "Self", AUTO_80, fault={"policy": throttle_fault(times=None)}),
                    cert("fine", "Self", AUTO_80),
                ),
            )
        )
    )

    result = scan()

    findings = by_certificate(result)
    throttled = findings["always-throttled"]
    assert throttled.status is Status.NOT_ASSESSED
    assert throttled.error_code == "Throttled"
    assert "too many requests" in throttled.reason
    assert "Key Vault kept throttling" in throttled.reason
    assert findings["fine"].status is Status.COMPLIANT


def test_throttling_without_retry_after_is_retried_until_it_stops(fake_azure) -> None:
    azure = fake_azure(
        estate(
            subscription(
                "Busy",
                vault(
                    "busy-kv",
                    cert("throttled-thrice", "Self", AUTO_80, fault={"policy": throttle_fault(times=3)}),
                    fault={"list": throttle_fault(times=2)},
                ),
            )
        )
    )

    result = scan()

    assert by_certificate(result)["throttled-thrice"].status is Status.COMPLIANT
    policy_gets = azure.requests.where(operation="get_certificate", certificate="throttled-thrice")
    assert [r.status for r in policy_gets] == [429, 429, 429, 200]


def test_retry_after_is_waited_for_when_the_service_sends_it(fake_azure) -> None:
    azure = fake_azure(
        estate(
            subscription(
                "Busy",
                vault(
                    "busy-kv", cert("asked-to-wait", "Self", AUTO_80, fault={"policy": throttle_fault(retry_after=1)})
                ),
            )
        )
    )

    result = scan()  # its own backoff would be ~20 ms; the service asked for a second

    assert by_certificate(result)["asked-to-wait"].status is Status.COMPLIANT
    refused, accepted = azure.requests.where(operation="get_certificate", certificate="asked-to-wait")
    assert (refused.status, accepted.status) == (429, 200)
    assert accepted.time - refused.time >= 0.9


@pytest.mark.parametrize(
    ("vault_uri", "trusted"),
    [
        ("https://payments-prod-kv.vault.azure.net/", True),
        ("https://PAYMENTS-PROD-KV.VAULT.AZURE.NET:443/", True),
        ("https://kv.vault.azure.cn/", True),
        ("https://kv.vault.usgovcloudapi.net", True),
        ("https://kv.vault.microsoftazure.de/", True),
        ("http://payments-prod-kv.vault.azure.net/", False),
        ("https://payments-prod-kv.vault.azure.net.attacker.example/", False),
        ("https://evilvault.azure.net/", False),
        ("https://vault.azure.net/", False),
        ("https://payments-prod-kv.vault.azure.net:8443/", False),
        ("https://127.0.0.1:4443/", False),
        ("not a url", False),
    ],
)
def test_only_https_key_vault_hosts_are_trusted(vault_uri: str, trusted: bool) -> None:
    problem = untrusted_vault_host(vault_uri)
    assert (problem is None) is trusted
    if problem is not None:
        assert problem.code == "UntrustedVaultHost"


def test_a_vault_uri_outside_the_key_vault_domains_gets_no_request_and_no_token(fake_azure) -> None:
    hostile = "https://payments-prod-kv.vault.azure.net.attacker.example/"
    azure = fake_azure(
        estate(subscription("Prod", vault("payments-prod-kv", cert("tls"), properties={"vaultUri": hostile})))
    )

    result = scan(KEYVAULT_VERIFY_CHALLENGE_RESOURCE="true")

    vault_findings = [f for f in result.findings if f.vault_name == "payments-prod-kv"]
    assert {f.rule_id for f in vault_findings} == {"KeyVault-006", "CertificateExpiry"}
    assert all(f.status is Status.NOT_ASSESSED and f.error_code == "UntrustedVaultHost" for f in vault_findings)
    assert "payments-prod-kv.vault.azure.net.attacker.example" in vault_findings[0].reason
    assert "KEYVAULT_VERIFY_CHALLENGE_RESOURCE" in vault_findings[0].reason
    assert azure.requests.where(service="keyvault") == []
    assert [r for r in azure.token_requests if "vault" in r.query.get("resource", "")] == []  # no token asked


def test_with_verification_on_a_local_emulator_is_refused_by_its_host(fake_azure) -> None:
    azure = fake_azure(estate(subscription("Local", vault("local-kv", cert("tls")))))

    result = scan(KEYVAULT_VERIFY_CHALLENGE_RESOURCE="true")

    [finding, *_] = [f for f in result.findings if f.vault_name == "local-kv"]
    assert finding.error_code == "UntrustedVaultHost"
    assert "127.0.0.1" in finding.reason
    assert azure.requests.where(service="keyvault") == []


def test_a_next_link_to_another_host_is_refused_and_never_followed(fake_azure) -> None:
    scenario = estate(
        subscription(
            "Prod",
            vault("paged-kv", *[cert(f"tls-{n}", "Self", AUTO_80) for n in range(3)], page_size=2),
        )
    )
    azure: FakeAzure = fake_azure(scenario)
    with azure.lock:
        azure.estate.vault("paged-kv").next_link_base = azure.arm_endpoint  # same host, another port

    result = scan()

    listed = by_certificate(result)
    assert listed["tls-0"].status is Status.COMPLIANT  # the first page was the vault's own
    assert listed["tls-1"].status is Status.COMPLIANT
    assert "tls-2" not in listed
    refused = listed[None]
    assert refused.status is Status.NOT_ASSESSED
    assert refused.error_code == "UntrustedNextLink"
    assert "stopped after 2" in refused.reason
    assert azure.requests.where(service="arm", path="/certificates") == []


def test_with_host_checks_off_one_warning_says_vault_hosts_are_not_checked(fake_azure) -> None:
    fake_azure(estate(subscription("Local", vault("local-a-kv", cert("a")), vault("local-b-kv", cert("b")))))

    process = run_cli_process("scan", "--format", "json", "--no-store", "-v")

    assert process.returncode == 0, process.stderr
    assert process.stderr.count("vault hosts are not checked") == 1


def test_the_table_report_names_the_refused_host(fake_azure, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_azure(
        estate(
            subscription("Prod", vault("odd-kv", cert("tls"), properties={"vaultUri": "https://odd-kv.example.org/"}))
        )
    )
    monkeypatch.setenv("KEYVAULT_VERIFY_CHALLENGE_RESOURCE", "true")

    code, out, _ = run_cli("scan", "--no-store")

    assert code == 3
    assert "odd-kv.example.org" in out
    assert "UntrustedVaultHost" in out


class _ClockTransport(RequestsTransport):  # type: ignore[misc]  # the SDK class is untyped
    """The real transport, but a retry's wait moves a test clock instead of the wall clock."""

    def __init__(self, clock: list[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.waits: list[float] = []

    def sleep(self, duration: float) -> None:
        self.waits.append(duration)
        self.clock[0] += duration


def test_a_request_throttled_without_end_keeps_trying_for_at_least_20_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    # Production budget, Key Vault's recorded 429 (no Retry-After) on every attempt; the waits are counted on a
    # test clock so the half minute passes instantly.
    clock = [1000.0]
    monkeypatch.setattr("shared.azure.clients.time", SimpleNamespace(monotonic=lambda: clock[0]))
    replay = Replay(CHALLENGE, {("GET", "/certificates", None): [THROTTLED]})
    transport = _ClockTransport(clock, session=session_for(replay), session_owner=False)
    clients = AzureClients(Settings(), credential=RecordedToken(), transport=transport)
    vault_record = Vault(subscription_id="s", name="vaultname", uri="https://vaultname.vault.azure.net/")

    with clients.certificates(vault_record.uri) as client:
        read = read_vault(client, vault_record, requests_in_flight=1)

    assert read.error is not None
    assert read.error.code == "Throttled"
    assert sum(transport.waits) >= 20
    assert max(transport.waits) <= RetryBudget().throttled_backoff_max
    assert len(set(transport.waits)) == len(transport.waits)  # jittered: no two waits alike
    assert len(replay.authorized) == len(transport.waits) + 1
