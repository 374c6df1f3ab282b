"""ServedCertificate (SPEC §2) through the real scan: the fake Resource Manager lists the services and their
hostnames, the fake Key Vault holds the versions, and local TLS frontends (tests/fakeazure/tls.py) serve
the vault's own version certificates by SNI, reached through ``PROBE_CONNECT_TO`` as a private frontend
would be. Every row of the table, the hostile servers, and what the probe puts on the wire."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.cli import main
from shared.models import Scan, ScanResult, ScanStatus, new_scan_id
from tests.fakeazure import cert, estate, subscription, vault
from tests.fakeazure.services import front_door, front_door_secret, gateway, ssl_certificate

AUTO = [("AutoRenew", {"days_before_expiry": 30})]
KV = "edge-kv"


def renewed(name: str, *, days_ago: float = 40, older_expires_in: float = 60) -> dict[str, Any]:
    """A certificate renewed ``days_ago`` days ago whose previous version expires in ``older_expires_in``."""
    spec = cert(name, "Self", AUTO, not_before_days_ago=days_ago)
    spec["older_versions"] = [{"created_days_ago": days_ago + 300, "expires_in_days": older_expires_in}]
    return spec


def served_estate(serves: dict[str, str], *, certificate: dict[str, Any] | None = None) -> dict[str, Any]:
    """One Front Door secret (24 h window) following ``web-tls``, one hostname per entry of ``serves``."""
    sub = subscription("Edge", vault(KV, certificate or renewed("web-tls")))
    secret = front_door_secret("web-secret", KV, "web-tls", hostnames=list(serves), serves=serves)
    sub["services"] = [front_door("fd-web", secret)]
    return estate(sub)


def scan(*argv: str) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["scan", "--format", "json", "--no-store", *argv], stdout=out, stderr=err)
    assert out.getvalue().strip(), err.getvalue()
    return code, json.loads(out.getvalue())


def served(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["binding"]: f for f in document["findings"] if f["rule_id"] == "ServedCertificate"}


def test_every_row_of_the_served_table_through_the_real_scan(fake_azure: Any, monkeypatch: Any) -> None:
    azure = fake_azure(
        served_estate(
            {
                "current.contoso.com": "current",
                "stale.contoso.com": "older",
                "other.contoso.com": "unrelated",
                "expired.contoso.com": "expired",
                "*.contoso.com": "current",
                "gone.contoso.com": "refused",
            }
        )
    )
    code, document = scan()
    found = served(document)
    model = azure.certificate(KV, "web-tls")
    verdicts = {host: (f["status"], f["severity"]) for host, f in found.items()}
    assert verdicts == {
        "current.contoso.com": ("compliant", "low"),
        "stale.contoso.com": ("non_compliant", "high"),
        "other.contoso.com": ("non_compliant", "high"),
        "expired.contoso.com": ("non_compliant", "critical"),
        "*.contoso.com": ("not_assessed", "low"),
        "gone.contoso.com": ("not_assessed", "low"),
    }
    assert code == 1
    assert document["scan"]["probing"] == "on"

    current, stale = found["current.contoso.com"], found["stale.contoso.com"]
    assert current["served_version"] == current["current_version"] == model.version
    assert stale["served_version"] == model.older_versions[-1].version
    assert stale["current_version"] == model.version
    assert "still serves an older version of web-tls" in stale["reason"]
    assert "propagation window of 24 hours" in stale["reason"]
    for finding in found.values():
        assert finding["resource_type"] == "Microsoft.Cdn/profiles/customDomains" or finding["resource_id"]
        assert finding["vault_name"] == KV
        assert finding["certificate_name"] == "web-tls"

    other = found["other.contoso.com"]
    assert other["served_version"] is None
    assert "is no version of web-tls" in other["reason"]
    assert "issuer CN=Unrelated Hosting CA,O=Unrelated Hosting Ltd" in other["reason"]
    assert other["served_thumbprint"] in other["reason"]
    assert len(other["served_thumbprint"]) == 40
    assert "expired" in found["expired.contoso.com"]["reason"]
    assert found["expired.contoso.com"]["served_expires_on"] < document["scan"]["started_at"]
    assert "wildcard" in found["*.contoso.com"]["reason"]
    gone = found["gone.contoso.com"]["reason"]
    assert "connection refused" in gone
    assert "VNet integration" in gone
    assert "PROBE_CONNECT_TO" in gone


def test_only_a_client_hello_goes_out_and_versions_are_read_only_when_needed(fake_azure: Any) -> None:
    azure = fake_azure(served_estate({"a.contoso.com": "current", "b.contoso.com": "current"}))
    code, document = scan()
    assert {f["status"] for f in served(document).values()} == {"compliant"}
    assert code == 0
    # Both hostnames serve the current version: the version list is not read.
    assert azure.requests.where(operation="list_versions") == []
    # The frontends record every byte a client sent after its handshake: none, for every connection.
    azure.frontends.settle()
    assert len(azure.frontends.after_handshake) == 2
    assert {sni for sni, _ in azure.frontends.after_handshake} == {"a.contoso.com", "b.contoso.com"}
    assert [data for _, data in azure.frontends.after_handshake] == [b"", b""]


def test_an_older_version_inside_the_propagation_window_is_propagating(fake_azure: Any) -> None:
    azure = fake_azure(served_estate({"www.contoso.com": "older"}, certificate=renewed("web-tls", days_ago=0.25)))
    _, document = scan()
    finding = served(document)["www.contoso.com"]
    assert finding["status"] == "compliant"
    assert "is propagating" in finding["reason"]
    assert len(azure.requests.where(operation="list_versions")) >= 1, "placing the old thumbprint needs the versions"


def test_an_older_version_that_expires_within_7_days_is_critical(fake_azure: Any) -> None:
    fake_azure(served_estate({"www.contoso.com": "older"}, certificate=renewed("web-tls", older_expires_in=3)))
    _, document = scan()
    finding = served(document)["www.contoso.com"]
    assert (finding["status"], finding["severity"]) == ("non_compliant", "critical")


def test_probing_off_turns_the_rule_off_and_the_scan_says_so(fake_azure: Any, monkeypatch: Any) -> None:
    azure = fake_azure(served_estate({"www.contoso.com": "older"}))
    monkeypatch.setenv("PROBE_ENDPOINTS", "false")
    _, document = scan()
    assert served(document) == {}
    assert document["scan"]["probing"] == "off"
    azure.frontends.settle()
    assert azure.frontends.handshakes == 0


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        ("stall", "no TLS handshake within 1 s"),
        ("close", "closed the connection"),
        ("garbage", "did not answer in TLS"),
        ("huge", "larger than 100 KiB"),
    ],
)
def test_a_hostile_server_is_a_clear_not_assessed_within_the_timeout(
    fake_azure: Any, monkeypatch: Any, behaviour: str, words: str
) -> None:
    fake_azure(served_estate({"bad.contoso.com": behaviour, "good.contoso.com": "current"}))
    # Only the stalling server needs the timeout; the others fail on their own, well within a loaded machine's 5 s.
    monkeypatch.setenv("PROBE_TIMEOUT_SECONDS", "1" if behaviour == "stall" else "5")
    _, document = scan()
    found = served(document)
    assert found["good.contoso.com"]["status"] == "compliant"
    bad = found["bad.contoso.com"]
    assert (bad["status"], bad["severity"]) == ("not_assessed", "low")
    assert words in bad["reason"]


def test_a_pinned_gateway_serves_its_pinned_version_and_idn_names_go_out_as_punycode(fake_azure: Any) -> None:
    sub = subscription("Edge", vault(KV, renewed("web-tls", older_expires_in=-5)))
    sub["services"] = [
        gateway("appgw", ssl_certificate("pinned", KV, "web-tls", version="previous", hostnames=["bücher.contoso.com"]))
    ]
    azure = fake_azure(estate(sub))
    _, document = scan()
    azure.frontends.settle()
    finding = served(document)["bücher.contoso.com"]
    assert (finding["status"], finding["severity"]) == ("non_compliant", "critical")
    assert finding["served_version"] == azure.certificate(KV, "web-tls").older_versions[-1].version
    assert [sni for sni, _ in azure.frontends.after_handshake] == ["xn--bcher-kva.contoso.com"]


def test_the_stored_scan_keeps_whether_probing_was_on(findings_store: Any) -> None:
    """What GET /api/findings serves comes back from Table Storage (Azurite): 'probing' survives it."""
    for probing in ("off", "on"):
        started = datetime.now(UTC)
        scan = Scan(new_scan_id(started), started, started, ScanStatus.COMPLETED, probing=probing)
        findings_store.save(ScanResult(scan=scan, findings=[]))
        latest = findings_store.latest()
        assert latest is not None
        assert latest.scan.to_dict()["probing"] == probing


def test_the_version_list_is_read_page_by_page_and_a_link_off_the_vault_is_refused(fake_azure: Any) -> None:
    spec = renewed("web-tls")
    spec["older_versions"].insert(0, {"created_days_ago": 700, "expires_in_days": -335})
    azure = fake_azure(served_estate({"www.contoso.com": "older"}, certificate=spec))
    azure.estate.vault(KV).page_size = 1
    _, document = scan()
    assert (
        served(document)["www.contoso.com"]["served_version"]
        == azure.certificate(KV, "web-tls").older_versions[-1].version
    )
    assert len(azure.requests.where(operation="list_versions")) == 4, "3 versions, one per page, then an empty page"

    azure.estate.vault(KV).next_link_base = azure.arm_endpoint  # the next page points at another host:port
    _, document = scan()
    finding = served(document)["www.contoso.com"]
    assert (finding["status"], finding["error_code"]) == ("not_assessed", "UntrustedNextLink")
    assert "could not be listed" in finding["reason"]


def test_a_listed_name_that_is_not_a_hostname_is_refused_with_a_reason_never_dropped(fake_azure: Any) -> None:
    """Issue 17's bad input: a hostname with control characters is refused (no connection), and says so."""
    azure = fake_azure(served_estate({"bad\x00.contoso.com": "current", "a/b.contoso.com": "current"}))
    _, document = scan()
    azure.frontends.settle()
    found = served(document)
    control, slash = found["bad\\x00.contoso.com"], found["a/b.contoso.com"]
    for finding in (control, slash):
        assert (finding["status"], finding["severity"], finding["error_code"]) == ("not_assessed", "low", "NameRefused")
    assert "control or space characters" in control["reason"]
    assert "bad\\x00.contoso.com" in control["reason"]  # shown as listed, not as a different valid name
    assert "URL punctuation" in slash["reason"]
    assert azure.frontends.after_handshake == []  # nothing was sent to either name
