"""ServedCertificate's pure rule on records: what the scan cannot easily stage through one local address
(a name whose addresses disagree, a capped DNS answer, a version list that could not be read)."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.alerts import build_messages
from shared.alerts.digest import make_digest
from shared.api import get_findings
from shared.azure.probe import ProbeOptions, client_context, probe_hostname, sni_name
from shared.models import (
    AddressProbe,
    Binding,
    CertificateVersion,
    Finding,
    HostProbe,
    ReadError,
    Scan,
    ScanResult,
    ScanStatus,
    ServedLeaf,
    Vault,
    new_scan_id,
)
from shared.rules import ServedTarget, check_served, needs_versions, propagation_window

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
VAULT = Vault(subscription_id="s", name="edge-kv", uri="https://edge-kv.vault.azure.net/")
BINDING = Binding(
    subscription_id="s",
    resource_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/appgw",
    resource_type="Microsoft.Network/applicationGateways",
    service_name="appgw",
    binding="web",
    certificate_name="web-tls",
    hostnames=("www.contoso.com",),
)


def x5t(hex_thumbprint: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_thumbprint)).rstrip(b"=").decode()


CURRENT_HEX, OLD_HEX, OTHER_HEX = "AA" * 20, "BB" * 20, "CC" * 20
CURRENT = CertificateVersion(
    "v2", x5t(CURRENT_HEX), created_on=NOW - timedelta(days=10), expires_on=NOW + timedelta(300)
)
OLD = CertificateVersion("v1", x5t(OLD_HEX), created_on=NOW - timedelta(days=375), expires_on=NOW + timedelta(days=20))


def leaf(thumbprint: str, days: float = 100) -> ServedLeaf:
    return ServedLeaf(thumbprint, "CN=www.contoso.com", "CN=Some CA", NOW + timedelta(days=days))


def host(*addresses: AddressProbe, skipped: int = 0) -> HostProbe:
    return HostProbe("www.contoso.com", "www.contoso.com", addresses=addresses, addresses_skipped=skipped)


def target(**kwargs: object) -> ServedTarget:
    return ServedTarget(vault=VAULT, current=CURRENT, **kwargs)  # type: ignore[arg-type]


def test_addresses_that_disagree_are_named() -> None:
    probe = host(
        AddressProbe("10.0.0.1", leaf(OLD_HEX)),
        AddressProbe("10.0.0.2", leaf(OLD_HEX)),
        AddressProbe("10.0.0.3", leaf(CURRENT_HEX)),
    )
    assert needs_versions(probe, CURRENT)
    finding = check_served(BINDING, probe, target(versions=(OLD, CURRENT)), now=NOW)
    assert (finding.status, finding.severity) == ("non_compliant", "high")
    assert finding.reason.startswith("2 of 3 addresses of hostname www.contoso.com (Application Gateway appgw")
    assert "still serve an older version of web-tls" in finding.reason
    assert finding.served_version == "v1"
    assert finding.served_thumbprint == OLD_HEX
    assert finding.binding == "www.contoso.com"


def test_one_silent_address_is_noted_but_the_others_decide() -> None:
    probe = host(AddressProbe("10.0.0.1", leaf(CURRENT_HEX)), AddressProbe("fd00::1", error="connection refused"))
    assert not needs_versions(probe, CURRENT)
    finding = check_served(BINDING, probe, target(), now=NOW)
    assert finding.status == "compliant"
    assert "1 of 2 addresses did not answer (fd00::1: connection refused)" in finding.reason


def test_a_capped_dns_answer_says_how_many_addresses_were_left_out() -> None:
    probe = host(AddressProbe("10.0.0.1", leaf(CURRENT_HEX)), skipped=24)
    finding = check_served(BINDING, probe, target(), now=NOW)
    assert "24 more addresses of the name were not probed: at most 8 per name" in finding.reason


def test_a_version_list_that_cannot_be_read_leaves_another_thumbprint_unplaced() -> None:
    probe = host(AddressProbe("10.0.0.1", leaf(OTHER_HEX)))
    error = ReadError("Forbidden", "The user does not have certificates list permission", 403)
    finding = check_served(BINDING, probe, target(versions_error=error), now=NOW)
    assert (finding.status, finding.severity) == ("not_assessed", "medium")
    assert "HTTP 403 Forbidden" in finding.reason
    assert finding.error_code == "Forbidden"


def test_a_thumbprint_that_is_no_version_names_what_is_served() -> None:
    probe = host(AddressProbe("10.0.0.1", leaf(OTHER_HEX)))
    finding = check_served(BINDING, probe, target(versions=(OLD, CURRENT)), now=NOW)
    assert (finding.status, finding.severity) == ("non_compliant", "high")
    for words in ("CN=www.contoso.com", "CN=Some CA", OTHER_HEX, "managed or uploaded certificate", "DNS"):
        assert words in finding.reason
    assert finding.served_version is None


def test_a_name_that_was_refused_is_not_assessed_with_the_reason() -> None:
    probe = HostProbe("bad\x07.contoso.com", error="the name was refused and not probed: it contains control")
    finding = check_served(BINDING, probe, target(), now=NOW)
    assert (finding.status, finding.severity, finding.error_code) == ("not_assessed", "low", "NameRefused")


def test_the_windows_follow_the_services_documentation() -> None:
    assert propagation_window("Microsoft.Network/applicationGateways") == timedelta(hours=4)
    assert propagation_window("Microsoft.Network/frontDoors") == timedelta(hours=96)
    assert propagation_window("microsoft.cdn/profiles/endpoints/customdomains") == timedelta(hours=72)


def test_names_go_out_as_punycode_and_control_characters_are_refused() -> None:
    assert sni_name("Bücher.Contoso.com.") == "xn--bcher-kva.contoso.com"

    for bad in ("evil\r\nHost: x", "a b.com", "tab\t.com", ""):
        with pytest.raises(ValueError, match=r"control or space|empty"):
            sni_name(bad)


def test_the_digest_joins_a_stale_hostname_to_its_certificate_entry_naming_the_hostname() -> None:
    stale = check_served(
        BINDING, host(AddressProbe("10.0.0.1", leaf(OLD_HEX))), target(versions=(OLD, CURRENT)), now=NOW
    )
    gone = check_served(
        BINDING,
        HostProbe(
            "api.contoso.com", "api.contoso.com", addresses=(AddressProbe("10.0.0.9", error="connection refused"),)
        ),
        target(),
        now=NOW,
    )
    scan = Scan(new_scan_id(NOW), NOW, NOW, ScanStatus.PARTIAL)
    digest = make_digest(ScanResult(scan=scan, findings=[stale, gone]))
    [entry] = digest.entries
    assert entry.title.endswith("edge-kv / web-tls")
    assert [line.rules for line in entry.lines] == [("ServedCertificate",), ("ServedCertificate",)]
    assert [line.service for line in entry.lines] == [
        "Application Gateway appgw (www.contoso.com)",
        "Application Gateway appgw (api.contoso.com)",
    ]
    slack = json.dumps(build_messages("slack", ScanResult(scan=scan, findings=[stale, gone])))
    assert "still serves an older version of web-tls" in slack


def test_the_rule_id_filter_and_the_csv_carry_what_was_served() -> None:
    stale = check_served(BINDING, host(AddressProbe("10.0.0.1", leaf(OLD_HEX))), target(versions=(OLD,)), now=NOW)
    other = Finding.from_dict({**stale.to_dict(), "rule_id": "CertificateBinding", "binding": "web"})
    scan = Scan(new_scan_id(NOW), NOW, NOW, ScanStatus.COMPLETED)
    result = ScanResult(scan=scan, findings=[stale, other])
    response = get_findings(lambda: result, {"rule_id": ["ServedCertificate"], "format": ["csv"]})
    assert response.status == 200
    rows = list(csv.DictReader(io.StringIO(response.body)))
    assert [(r["rule_id"], r["binding"]) for r in rows] == [("ServedCertificate", "www.contoso.com")]
    assert (rows[0]["served_thumbprint"], rows[0]["served_version"]) == (OLD_HEX, "v1")
    assert rows[0]["served_expires_on"] == "2027-03-16T12:00:00Z"  # the leaf the address sent


def test_a_resolve_that_stalls_is_bounded_by_the_names_deadline() -> None:
    """The deadline covers the resolve: a resolver that never answers (its one thread is busy) costs the
    name its timeout, and the probe does not wait for the resolver thread afterwards."""
    resolver = ThreadPoolExecutor(max_workers=1)
    release = threading.Event()
    resolver.submit(release.wait, 30)
    try:
        options = ProbeOptions(timeout=0.3)
        probe = asyncio.run(probe_hostname("www.contoso.com", options, client_context(), resolver))
    finally:
        release.set()
        resolver.shutdown(wait=True)
    assert probe.error == "www.contoso.com did not resolve within 0.3 s"
    assert probe.addresses == ()
