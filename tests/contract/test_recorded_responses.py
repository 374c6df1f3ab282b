"""Contract tests: Key Vault's real recorded answers, read by the scan's own code under the real SDK pipeline.

The fake in tests/fakeazure is ours; these answers are not. Each recording file names where it came from
(the azure-sdk-for-python live-test recordings, or the service's answers quoted in public issues), and the
tests assert what a person would see: certificate names, issuer, lifetime actions, verdicts and error codes.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.pipeline.transport import RequestsTransport

from shared import rules
from shared.azure.clients import AzureClients, RetryBudget
from shared.azure.keyvault import _read_policy, list_certificates, read_vault
from shared.models import Certificate, Status, Vault
from shared.scan import rule_options
from shared.settings import Settings
from tests.contract.replay import RecordedToken, Replay, key, recording, session_for

VAULT = Vault(
    subscription_id="00000000-0000-0000-0000-000000000000", name="vaultname", uri="https://vaultname.vault.azure.net/"
)
RECORDED_AT = datetime(2022, 5, 1, tzinfo=UTC)  # the recordings were made on 2022-04-29
FAST = RetryBudget(throttled_seconds=0.5, throttled_backoff=0.01, throttled_backoff_max=0.05)
LIST = recording("list_certificates_7.3.json")
CHALLENGE, *LIST_PAGES = LIST["Entries"]
POLICY_GET = recording("get_policy_7.3.json")["Entries"][0]
THROTTLED = recording("throttled_429.json")["Entries"][0]
FORBIDDEN = recording("forbidden_403.json")["Entries"]
POLICY_KEY = key("GET", POLICY_GET["RequestUri"])
# The scan reads an enabled certificate's bundle: its policy and its current version's cer in one answer.
BUNDLE_GET = recording("get_certificate_7.3.json")["Entries"][0]
BUNDLE_KEY = key("GET", BUNDLE_GET["RequestUri"])


def clients_for(replay: Replay) -> AzureClients:
    """Production clients (challenge verification on, the vault's real host) over the replay."""
    transport = RequestsTransport(session=session_for(replay), session_owner=False)
    return AzureClients(Settings(), credential=RecordedToken(), retry=FAST, transport=transport)


def listed(replay: Replay) -> list[Certificate]:
    with clients_for(replay).certificates(VAULT.uri) as client:
        return list(list_certificates(client, VAULT))


def read_policy(replay: Replay, certificate: Certificate) -> Certificate:
    with clients_for(replay).certificates(VAULT.uri) as client:
        return _read_policy(client, certificate)


@pytest.fixture
def listing() -> Replay:
    return Replay(CHALLENGE, Replay.of(CHALLENGE, *LIST_PAGES))


def test_a_recorded_listing_of_31_certificates_is_read_across_its_pages_to_the_empty_last_one(listing: Replay) -> None:
    certificates = listed(listing)

    recorded = [item for page in LIST_PAGES for item in page["ResponseBody"]["value"]]
    assert [c.name for c in certificates] == [item["id"].rsplit("/", 1)[1] for item in recorded]
    assert len(certificates) == 31
    assert all(c.error is None and c.enabled is True for c in certificates)
    by_name = {c.name: c for c in certificates}
    policy_cert = by_name["livekvtestpolicyCertificate96bc2ef3"]
    assert policy_cert.expires_on == datetime(2023, 4, 29, 15, 8, 52, tzinfo=UTC)
    assert policy_cert.id == "https://vaultname.vault.azure.net/certificates/livekvtestpolicyCertificate96bc2ef3"
    # Seven pages, each nextLink followed as written (with its :443), the last one empty: no page twice.
    pages = [r for r in listing.authorized if key(r.method or "", r.url or "")[1] == "/certificates"]
    assert len(pages) == 7
    assert all(":443/certificates" in (r.url or "") for r in pages[1:])
    assert len({key(r.method or "", r.url or "") for r in pages}) == 7


def test_a_recorded_policy_with_only_email_contacts_is_non_compliant_with_its_trigger(listing: Replay) -> None:
    certificate = next(c for c in listed(listing) if c.name == "livekvtestpolicyCertificate96bc2ef3")
    replay = Replay(CHALLENGE, {BUNDLE_KEY: [BUNDLE_GET]})

    read = read_policy(replay, certificate)
    findings = {f.rule_id: f for f in rules.evaluate(read, now=RECORDED_AT, options=rule_options(Settings()))}

    assert read.error is None
    assert read.issuer == "Self"
    assert read.issued_by_ca is None, "Key Vault's own Self certificate verifiably signed itself"
    assert [(a.action, a.lifetime_percentage) for a in read.lifetime_actions] == [("EmailContacts", 98)]
    renewal = findings["KeyVault-006"]
    assert renewal.status is Status.NON_COMPLIANT
    assert renewal.issuer == "Self"
    assert renewal.lifetime_action == "EmailContacts"
    assert "AutoRenew" in renewal.reason
    assert findings["CertificateExpiry"].status is Status.COMPLIANT  # a year left on the day it was recorded


def test_the_recorded_429_without_retry_after_is_retried_and_then_reported_as_throttling(listing: Replay) -> None:
    certificate = next(c for c in listed(listing) if c.name == "livekvtestpolicyCertificate96bc2ef3")
    assert "Retry-After" not in THROTTLED["ResponseHeaders"]
    replay = Replay(CHALLENGE, {BUNDLE_KEY: [THROTTLED]})

    read = read_policy(replay, certificate)
    [finding] = [
        f
        for f in rules.evaluate(read, now=RECORDED_AT, options=rule_options(Settings()))
        if f.rule_id == "KeyVault-006"
    ]

    assert len(replay.authorized) > 2  # retried, although the service named no time
    # Only the policy failed: the certificate itself, and so its expiry, came with the list.
    assert read.error is None
    assert read.policy_error is not None
    assert read.policy_error.code == "Throttled"
    assert finding.status is Status.NOT_ASSESSED
    assert finding.error_code == "Throttled"
    assert "too many requests were received" in finding.reason
    assert "Key Vault kept throttling" in finding.reason


def test_the_recorded_429_gives_way_to_the_policy_once_the_window_passes(listing: Replay) -> None:
    certificate = next(c for c in listed(listing) if c.name == "livekvtestpolicyCertificate96bc2ef3")
    replay = Replay(CHALLENGE, {BUNDLE_KEY: [THROTTLED, THROTTLED, BUNDLE_GET]})

    read = read_policy(replay, certificate)

    assert read.error is None
    assert read.issuer == "Self"
    assert len(replay.authorized) == 3


@pytest.mark.parametrize(
    ("entry", "code", "headline", "hint"),
    [
        (
            FORBIDDEN[0],
            "Forbidden (ForbiddenByFirewall)",
            "Client address is not authorized and caller is not a trusted service",
            "firewall",
        ),
        (
            FORBIDDEN[1],
            "Forbidden (ForbiddenByRbac)",
            "Caller is not authorized to perform action on resource",
            "Key Vault Reader",
        ),
        (
            FORBIDDEN[2],
            "Forbidden (AccessDenied)",
            "does not have secrets list permission on key vault",
            "access-policy",
        ),
    ],
    ids=["firewall", "rbac", "access-policy"],
)
def test_a_recorded_403_names_the_service_code_and_its_inner_code(
    entry: Any, code: str, headline: str, hint: str
) -> None:
    replay = Replay(CHALLENGE, {("GET", "/certificates", None): [entry]})

    with clients_for(replay).certificates(VAULT.uri) as client:
        read = read_vault(client, VAULT, requests_in_flight=2)
    findings = rules.unreadable_vault(VAULT, read.error) if read.error else []

    assert read.certificates == []
    assert read.error is not None
    assert (read.error.code, read.error.status_code) == (code, 403)
    assert {f.status for f in findings} == {Status.NOT_ASSESSED}
    assert {f.error_code for f in findings} == {code}
    reason = findings[0].reason
    assert f"HTTP 403 {code}: " in reason
    assert headline in reason
    assert hint in reason
    assert "Caller:" not in reason  # the headline, not the lines on who asked and from where
    assert len(replay.authorized) == 1  # a refusal is not retried


def test_a_disabled_certificate_is_read_by_its_recorded_policy_alone(listing: Replay) -> None:
    # Only an enabled certificate's bundle is read (SPEC §2); a disabled one keeps GET .../policy.
    certificate = next(c for c in listed(listing) if c.name == "livekvtestpolicyCertificate96bc2ef3")
    replay = Replay(CHALLENGE, {POLICY_KEY: [POLICY_GET]})

    read = read_policy(replay, dataclasses.replace(certificate, enabled=False))

    assert read.policy_error is None
    assert read.issuer == "Self"
    assert {key(r.method or "", r.url or "") for r in replay.authorized} == {POLICY_KEY}
