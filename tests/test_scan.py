"""End to end: `python -m shared scan` against a fake Azure over HTTPS, through the real SDK clients.

Each test builds the estate it needs, runs the unchanged command line, and checks what a user sees:
the JSON document, the verdicts, the exit code, the one-line errors.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shared.cli import main
from shared.store import FindingsStore
from tests.fakeazure import cert, estate, fault, firewall_fault, rbac_fault, subscription, throttle_fault, vault

ROOT = Path(__file__).resolve().parent.parent
AUTO_80 = [("AutoRenew", {"lifetime_percentage": 80})]
EMAIL_3D = [("EmailContacts", {"days_before_expiry": 3})]


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def run_cli_process(*argv: str, text: bool = True) -> subprocess.CompletedProcess[Any]:
    """``python -m shared ARGV`` in a real child process (its own stdout encoding, its own logging), with the
    test's environment (the fake Azure's endpoints and CA)."""
    return subprocess.run(
        [sys.executable, "-m", "shared", *argv],
        cwd=ROOT,
        capture_output=True,
        text=text,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )


def scan_json(*argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli("scan", "--format", "json", "--no-store", *argv)
    assert out.strip(), err
    return code, json.loads(out)


def verdicts(document: dict[str, Any], rule_id: str = "KeyVault-006") -> dict[tuple[str | None, str | None], str]:
    return {
        (f["vault_name"], f["certificate_name"]): f["status"] for f in document["findings"] if f["rule_id"] == rule_id
    }


def decision_table_estate() -> dict[str, Any]:
    """One certificate for every row of SPEC §2's KeyVault-006 table, spread over two subscriptions."""
    return estate(
        subscription(
            "Production",
            vault(
                "cc-webapp-key-vault",
                cert("cloudconformity", "Self", EMAIL_3D, expires_in_days=53),
                cert("self-by-percentage", "Self", AUTO_80),
                cert("self-by-days", "Self", [("AutoRenew", {"days_before_expiry": 30})]),
                cert("autorenew-second", "Self", [*EMAIL_3D, ("AutoRenew", {"days_before_expiry": 20})]),
                cert("no-lifetime-action", "Self", []),
                page_size=2,
            ),
            vault(
                "payments-prod-kv",
                cert("digicert-auto", "DigiCert", AUTO_80),
                cert("imported-partner", "Unknown", []),
                cert("disabled-old", "Self", EMAIL_3D, enabled=False, expires_in_days=-40),
                cert("exempt-tagged", "Unknown", [], tags={"autorenew-exempt": "true"}, expires_in_days=5),
                cert("acmebot-managed", "Unknown", [], tags={"Issuer": "Acmebot"}),
                cert("policy-forbidden", "Self", AUTO_80, fault={"policy": rbac_fault()}),
            ),
        ),
        subscription(
            "Data",
            vault("legacy-intranet-kv", cert("intranet", "Self", AUTO_80), fault={"list": firewall_fault()}),
            vault("data-platform-kv", cert("expired-auto", "Self", AUTO_80, expires_in_days=-2)),
        ),
        vault_page_size=1,
    )


def test_every_row_of_the_keyvault_006_table_end_to_end(fake_azure) -> None:
    fake_azure(decision_table_estate())
    code, document = scan_json()

    assert code == 1
    assert verdicts(document) == {
        ("cc-webapp-key-vault", "cloudconformity"): "non_compliant",
        ("cc-webapp-key-vault", "self-by-percentage"): "compliant",
        ("cc-webapp-key-vault", "self-by-days"): "compliant",
        ("cc-webapp-key-vault", "autorenew-second"): "compliant",
        ("cc-webapp-key-vault", "no-lifetime-action"): "non_compliant",
        ("payments-prod-kv", "digicert-auto"): "compliant",
        ("payments-prod-kv", "imported-partner"): "non_compliant",
        ("payments-prod-kv", "disabled-old"): "not_applicable",
        ("payments-prod-kv", "exempt-tagged"): "exempt",
        ("payments-prod-kv", "acmebot-managed"): "exempt",
        ("payments-prod-kv", "policy-forbidden"): "not_assessed",
        ("legacy-intranet-kv", None): "not_assessed",
        ("data-platform-kv", "expired-auto"): "compliant",
    }
    expiry = verdicts(document, "CertificateExpiry")
    assert expiry[("data-platform-kv", "expired-auto")] == "non_compliant"
    assert expiry[("payments-prod-kv", "exempt-tagged")] == "non_compliant", "exemption is for KeyVault-006 only"
    assert expiry[("payments-prod-kv", "disabled-old")] == "not_applicable"
    assert expiry[("legacy-intranet-kv", None)] == "not_assessed"

    scan = document["scan"]
    assert scan["status"] == "partial"
    assert scan["vault_count"] == 4
    assert scan["certificate_count"] == 12
    assert sum(scan["counts"].values()) == len(document["findings"])


def test_the_spec_example_finding_comes_out_as_documented(fake_azure) -> None:
    fake_azure(decision_table_estate())
    _, document = scan_json("--vault", "cc-webapp-key-vault")
    finding = next(
        f for f in document["findings"] if f["certificate_name"] == "cloudconformity" and f["rule_id"] == "KeyVault-006"
    )
    assert finding["severity"] == "high"
    assert finding["issuer"] == "Self"
    assert (finding["lifetime_action"], finding["days_before_expiry"], finding["lifetime_percentage"]) == (
        "EmailContacts",
        3,
        None,
    )
    assert finding["certificate_id"].endswith("/certificates/cloudconformity")
    assert finding["vault_uri"].startswith("https://")
    assert finding["expires_on"].endswith("Z")
    assert finding["reason"] == (
        "Only EmailContacts is configured (3 days before expiry); set the lifetime action to AutoRenew."
    )


def test_every_listed_certificate_has_exactly_one_finding_per_rule_across_pages(fake_azure) -> None:
    many = [cert(f"site-{i:02d}", "Self", AUTO_80) for i in range(23)]
    fake_azure(estate(subscription("Big", vault("big-kv", *many, page_size=5), vault("other-kv", many[0]))))
    code, document = scan_json()
    assert code == 0
    per_certificate = Counter((f["vault_name"], f["certificate_name"], f["rule_id"]) for f in document["findings"])
    assert len(per_certificate) == 2 * 24
    assert set(per_certificate.values()) == {1}
    assert document["scan"]["status"] == "completed"


def test_the_unreadable_cases_are_not_assessed_with_the_service_error_code(fake_azure) -> None:
    fake_azure(
        estate(
            subscription(
                "Faults",
                vault(
                    "faulty-kv",
                    cert("server-error", "Self", AUTO_80, fault={"policy": fault(500, "InternalServerError")}),
                    cert("garbage-json", "Self", AUTO_80, fault={"policy": fault(body="{not json")}),
                    cert("fine", "Self", AUTO_80),
                ),
                vault(
                    "second-page-fails",
                    *[cert(f"c{i}") for i in range(4)],
                    page_size=2,
                    fault={"list_page": fault(503, "ServiceUnavailable")},
                ),
            ),
            subscription("Locked", fault=fault(403, "AuthorizationFailed", message="No access to this subscription.")),
        )
    )
    code, document = scan_json()
    assert code == 3, "nothing non-compliant, but something not assessed"
    by_place = {
        (f["vault_name"], f["certificate_name"]): f for f in document["findings"] if f["rule_id"] == "KeyVault-006"
    }

    server_error = by_place[("faulty-kv", "server-error")]
    assert (server_error["status"], server_error["error_code"]) == ("not_assessed", "InternalServerError")
    assert "HTTP 500" in server_error["reason"]
    assert by_place[("faulty-kv", "garbage-json")]["error_code"] == "MalformedResponse"
    assert by_place[("faulty-kv", "fine")]["status"] == "compliant"

    # Certificates listed before the listing broke are still judged; the vault says it stopped.
    assert by_place[("second-page-fails", "c0")]["status"] == "compliant"
    assert by_place[("second-page-fails", None)]["error_code"] == "ServiceUnavailable"

    locked = [f for f in document["findings"] if f["vault_name"] is None]
    assert [f["status"] for f in locked] == ["not_assessed", "not_assessed"]
    assert {f["rule_id"] for f in locked} == {"KeyVault-006", "CertificateExpiry"}
    assert locked[0]["error_code"] == "AuthorizationFailed"
    assert document["scan"]["status"] == "partial"


def test_throttling_and_transient_errors_are_retried_honouring_retry_after(fake_azure) -> None:
    azure = fake_azure(
        estate(
            subscription(
                "Busy",
                vault(
                    "busy-kv",
                    cert("throttled", "Self", AUTO_80, fault={"policy": throttle_fault(times=2, retry_after=0)}),
                    cert("flaky", "Self", AUTO_80, fault={"policy": fault(503, "ServiceUnavailable", times=1)}),
                    fault={"list": throttle_fault(times=1, retry_after=0)},
                ),
            )
        )
    )
    code, document = scan_json()
    assert code == 0
    assert set(verdicts(document).values()) == {"compliant"}
    assert len(azure.requests.where(operation="get_certificate", certificate="throttled")) == 3
    assert len(azure.requests.where(operation="get_certificate", certificate="flaky")) == 2


def test_an_action_type_key_vault_does_not_define_is_not_assessed_naming_it(fake_azure) -> None:
    odd_policy = {
        "issuer": {"name": "Self"},
        "x509_props": {"validity_months": 12},
        "lifetime_actions": [{"trigger": {"days_before_expiry": 10}, "action": {"action_type": "RenewAndPray"}}],
    }
    shapeless = {"issuer": "Self", "lifetime_actions": "AutoRenew"}
    fake_azure(
        estate(
            subscription(
                "Odd",
                vault("odd-kv", cert("odd-action", policy_json=odd_policy), cert("shapeless", policy_json=shapeless)),
            )
        )
    )
    code, document = scan_json()
    findings = {f["certificate_name"]: f for f in document["findings"] if f["rule_id"] == "KeyVault-006"}
    assert findings["odd-action"]["status"] == "not_assessed"
    assert findings["odd-action"]["error_code"] == "UnsupportedPolicy"
    assert 'the action type "RenewAndPray"' in findings["odd-action"]["reason"]
    assert findings["shapeless"]["status"] == "not_assessed"
    assert 'lifetime_actions "AutoRenew"' in findings["shapeless"]["reason"]
    expiry = {f["certificate_name"]: f["status"] for f in document["findings"] if f["rule_id"] == "CertificateExpiry"}
    assert expiry == {"odd-action": "compliant", "shapeless": "compliant"}, "the expiry is still judged"
    assert code == 3


def test_a_malformed_list_item_is_not_assessed_and_its_neighbours_are_judged(fake_azure) -> None:
    odd = {**cert("odd-dates"), "list_attributes": {"nbf": "soon", "exp": "later"}}
    fake_azure(estate(subscription("Odd", vault("odd-list-kv", odd, cert("fine")))))
    code, document = scan_json()
    by_name = {f["certificate_name"]: f for f in document["findings"] if f["rule_id"] == "KeyVault-006"}
    assert by_name["odd-dates"]["status"] == "not_assessed"
    assert by_name["odd-dates"]["error_code"] == "MalformedResponse"
    assert by_name["fine"]["status"] == "compliant"
    assert code == 3


def test_slow_vaults_do_not_change_the_verdicts(fake_azure) -> None:
    fake_azure(estate(subscription("Slow", vault("slow-kv", cert("a"), cert("b"), latency_ms=150))))
    code, document = scan_json()
    assert code == 0
    assert set(verdicts(document).values()) == {"compliant"}


def test_subscription_and_vault_selection(fake_azure) -> None:
    fake_azure(decision_table_estate())
    _, everything = scan_json()
    data_subscription = next(
        f["subscription_id"] for f in everything["findings"] if f["vault_name"] == "data-platform-kv"
    )

    code, only_data = scan_json("--subscription", data_subscription)
    assert {f["vault_name"] for f in only_data["findings"]} == {"legacy-intranet-kv", "data-platform-kv"}
    assert only_data["scan"]["subscriptions"] == [data_subscription]
    assert code == 1  # the expired certificate

    _, one_vault = scan_json("--vault", "DATA-platform-kv")
    assert {f["vault_name"] for f in one_vault["findings"]} == {"data-platform-kv"}

    os.environ["AZURE_SUBSCRIPTION_IDS"] = data_subscription
    try:
        _, from_setting = scan_json()
    finally:
        del os.environ["AZURE_SUBSCRIPTION_IDS"]
    assert from_setting["scan"]["subscriptions"] == [data_subscription]


def test_arm_endpoint_sets_the_token_scope_of_every_management_call(fake_azure) -> None:
    azure = fake_azure(decision_table_estate())
    scan_json()
    arm = os.environ["ARM_ENDPOINT"]
    scopes = {r.audience for r in azure.requests.where(service="identity")}
    assert arm in scopes or f"{arm}/" in scopes
    assert "https://management.azure.com" not in scopes
    assert all(r.authorized for r in azure.requests.where(service="arm", operation="list_vaults"))


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["scan", "--colour"], "unrecognized arguments: --colour"),
        (["scan", "--format", "yaml"], "invalid choice: 'yaml'"),
        (["scan", "--subscription", "prod"], "'prod' is not a subscription id"),
        (["audit"], "invalid choice: 'audit'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], says: str) -> None:
    code, out, err = run_cli(*argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert says in err


def test_a_bad_setting_exits_2_naming_it(monkeypatch) -> None:
    monkeypatch.setenv("EXPIRY_WARNING_DAYS", "thirty")
    code, _out, err = run_cli("scan", "--no-store")
    assert code == 2
    assert err.strip() == (
        "python -m shared: error: Setting EXPIRY_WARNING_DAYS: must be a whole number from 0 to 3650, got 'thirty'"
    )


def test_an_unknown_vault_name_exits_2(fake_azure) -> None:
    fake_azure(decision_table_estate())
    code, _out, err = run_cli("scan", "--no-store", "--vault", "no-such-kv")
    assert code == 2
    assert "No vault named no-such-kv" in err


def test_exit_0_when_everything_renews_itself_and_3_when_something_was_not_read(fake_azure) -> None:
    fake_azure(estate(subscription("Clean", vault("clean-kv", cert("a"), cert("b", "DigiCert")))))
    code, out, _ = run_cli("scan", "--no-store")
    assert code == 0
    assert "No problems" in out

    fake_azure(estate(subscription("Walled", vault("walled-kv", cert("a"), fault={"list": firewall_fault()}))))
    code, out, _ = run_cli("scan", "--no-store")
    assert code == 3
    assert "ForbiddenByFirewall" in out


def test_json_goes_to_stdout_alone_and_logs_to_stderr_in_a_real_process(fake_azure) -> None:
    fake_azure(decision_table_estate())
    process = run_cli_process("scan", "--format", "json", "--no-store", "-v")
    assert process.returncode == 1, process.stderr
    document = json.loads(process.stdout)  # nothing but the document
    assert set(document) == {"scan", "findings"}
    assert "legacy-intranet-kv" in process.stderr  # -v logs the vault that failed, on stderr
    # No token, header secret or bearer value ever reaches the output.
    for stream in (process.stdout, process.stderr):
        assert "eyJ" not in stream
        assert os.environ["IDENTITY_HEADER"] not in stream


def test_the_table_report_reads_as_a_report(fake_azure) -> None:
    fake_azure(decision_table_estate())
    code, out, err = run_cli("scan", "--no-store")
    assert code == 1
    assert out.startswith("AutoRenew Guard scan ")
    problems = out.index("Problems, most severe first")
    assert out.index("CRITICAL", problems) < out.index("HIGH", problems) < out.index("By vault")
    assert "payments-prod-kv / imported-partner" in out
    assert "legacy-intranet-kv (whole vault)" in out
    assert "Not stored (--no-store)." in out
    assert err == ""


def test_the_demo_estate_gets_the_verdicts_its_author_wrote_down(fake_azure_demo, demo_estate) -> None:
    code, document = scan_json()
    assert code == 1
    findings = [f for f in document["findings"] if f["rule_id"] != "CertificateBinding"]
    got = {(f["vault_name"], f["certificate_name"], f["rule_id"]): f["status"] for f in findings}
    expected = {}
    for sub in demo_estate["subscriptions"]:
        for vault_spec in sub["vaults"]:
            if vault_spec.get("fault"):  # the firewalled vault refuses everything, its listing included
                # A vault that cannot be listed has one finding per rule, with no certificate.
                expected.update(
                    {(vault_spec["name"], None, rule): "not_assessed" for rule in ("KeyVault-006", "CertificateExpiry")}
                )
                continue
            for spec in vault_spec["certificates"]:
                expected.update(
                    {(vault_spec["name"], spec["name"], rule): status for rule, status in spec["expect"].items()}
                )
    assert got == expected

    # CertificateBinding: one finding per service reference, as written down beside each reference.
    served = {
        f["binding"]: (f["status"], f["severity"]) for f in document["findings"] if f["rule_id"] == "CertificateBinding"
    }
    written: dict[str, tuple[str, str]] = {}
    for sub in demo_estate["subscriptions"]:
        for service in sub.get("services", []):
            references = (
                service.get("sslCertificates") or service.get("secrets") or service.get("hostnames") or [service]
            )
            for reference in references:
                name = reference.get("host") or reference["name"]
                written[name] = (reference["expect"]["status"], reference["expect"]["severity"])
    assert served == written


# --- verdicts on odd policies, hostile text and settings from the command line (issue 11) --------------------


def test_a_certificate_expiring_in_3_days_behind_a_403_policy_is_high_non_compliant(fake_azure) -> None:
    fake_azure(
        estate(
            subscription(
                "Walled",
                vault(
                    "rbac-kv",
                    cert("soon", "Self", AUTO_80, expires_in_days=3, fault={"policy": rbac_fault()}),
                    cert("later", "Self", AUTO_80, fault={"policy": fault(503, "ServiceUnavailable")}),
                ),
            )
        )
    )
    code, document = scan_json()
    by_rule = {(f["certificate_name"], f["rule_id"]): f for f in document["findings"]}

    autorenew = by_rule[("soon", "KeyVault-006")]
    assert (autorenew["status"], autorenew["error_code"]) == ("not_assessed", "Forbidden (ForbiddenByRbac)")
    assert "issuance policy" in autorenew["reason"]
    expiry = by_rule[("soon", "CertificateExpiry")]
    assert (expiry["status"], expiry["severity"]) == ("non_compliant", "high")
    assert "Its issuance policy could not be read (HTTP 403" in expiry["reason"]
    assert by_rule[("later", "KeyVault-006")]["error_code"] == "ServiceUnavailable"
    assert by_rule[("later", "CertificateExpiry")]["status"] == "compliant"
    assert code == 1


def test_a_trigger_that_is_neither_days_nor_percentage_is_not_assessed_naming_it(fake_azure) -> None:
    def odd(trigger: dict[str, Any]) -> dict[str, Any]:
        return {
            "issuer": {"name": "Self"},
            "lifetime_actions": [{"trigger": trigger, "action": {"action_type": "AutoRenew"}}],
        }

    fake_azure(
        estate(
            subscription(
                "Odd",
                vault(
                    "odd-trigger-kv",
                    cert("weeks", policy_json=odd({"weeks_before_expiry": 2})),
                    cert("fraction", policy_json=odd({"lifetime_percentage": 80.5})),
                    cert("empty", policy_json=odd({})),
                    cert(
                        "renew-second",
                        policy_json={
                            "issuer": {"name": "Self"},
                            "lifetime_actions": [
                                {"trigger": {"days_before_expiry": 30}, "action": {"action_type": "AutoRenew"}},
                                {"trigger": {"days_before_expiry": 5}, "action": {"action_type": "Renew"}},
                            ],
                        },
                    ),
                    cert("fine", "Self", AUTO_80),
                ),
            )
        )
    )
    code, document = scan_json()
    reasons = {f["certificate_name"]: f["reason"] for f in document["findings"] if f["rule_id"] == "KeyVault-006"}
    statuses = verdicts(document)
    assert statuses == {
        ("odd-trigger-kv", "weeks"): "not_assessed",
        ("odd-trigger-kv", "fraction"): "not_assessed",
        ("odd-trigger-kv", "empty"): "not_assessed",
        ("odd-trigger-kv", "renew-second"): "not_assessed",
        ("odd-trigger-kv", "fine"): "compliant",
    }
    assert 'the trigger {"weeks_before_expiry":2}' in reasons["weeks"]
    assert 'the trigger {"lifetime_percentage":80.5}' in reasons["fraction"]
    assert "the trigger {}" in reasons["empty"]
    assert 'the action type "Renew"' in reasons["renew-second"], "every lifetime action is looked at"
    assert code == 3


def hostile_text_estate() -> dict[str, Any]:
    return estate(
        subscription(
            "Production",
            vault(
                "odd-text-kv",
                cert("lone-surrogate", "Digi\ud800Cert", [("EmailContacts", {"days_before_expiry": 3})]),
                cert("bidi", "Self\u202e", AUTO_80, tags={"owner\u202e": "team\nx"}),
                cert(
                    "forged-error",
                    fault={"policy": fault(403, "Forbidden\r\nINFO forged", message="Denied\ud800\nINFO forged")},
                ),
            ),
        )
    )


@pytest.mark.parametrize("output", ["json", "table"])
def test_a_lone_surrogate_in_an_issuer_is_printed_in_a_real_process(fake_azure, output: str) -> None:
    fake_azure(hostile_text_estate())
    process = run_cli_process("scan", "--format", output, "--no-store", "-v", text=False)
    assert process.returncode == 1, process.stderr
    out = process.stdout.decode("utf-8")  # strict: the output is valid UTF-8
    assert "Denied\ufffd" in out, "the service's message, its surrogate replaced"
    assert "\u202e" not in out
    assert "INFO forged" not in out.splitlines()
    if output == "json":
        document = json.loads(out)
        assert "Digi\ufffdCert" in {f["issuer"] for f in document["findings"]}
        forged = next(f for f in document["findings"] if f["certificate_name"] == "forged-error")
        assert forged["error_code"] == "Forbidden INFO forged"
        assert forged["reason"].count("\n") == 0
    err = process.stderr.decode("utf-8")
    assert not any(line.startswith("INFO forged") for line in err.splitlines()), err


def test_a_lone_surrogate_in_an_issuer_is_stored_and_read_back(fake_azure, app_store_connection) -> None:
    fake_azure(hostile_text_estate())
    code, out, err = run_cli("scan", "--format", "json")
    assert code == 1, err
    with FindingsStore.from_connection_string(app_store_connection) as store:
        latest = store.latest()
    assert latest is not None
    assert json.loads(out)["scan"]["id"] == latest.scan.id
    assert "Digi\ufffdCert" in {f.issuer for f in latest.findings}


def test_an_http_webhook_stops_the_cli_with_exit_2_naming_it_without_its_secret(fake_azure, monkeypatch) -> None:
    fake_azure(decision_table_estate())
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "http://hooks.slack.com/services/T000/B000/SECRETTOKEN?sig=SECRET")
    code, out, err = run_cli("scan", "--no-store")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert "ALERT_WEBHOOK_URL" in err
    assert "http://hooks.slack.com" in err
    assert "SECRET" not in err
    assert "/services" not in err


def test_an_unresolved_keyvault_reference_for_the_webhook_lets_scan_notify_scan_store_and_print(
    fake_azure, app_store_connection, monkeypatch
) -> None:
    fake_azure(decision_table_estate())
    monkeypatch.setenv(
        "ALERT_WEBHOOK_URL",
        "@Microsoft.KeyVault(SecretUri=https://ops-kv.vault.azure.net/secrets/webhook/SECRETVERSION)",
    )
    code, out, err = run_cli("scan", "--notify")
    assert code == 1, "the exit code follows the findings"
    assert "Stored as scan " in out
    assert "cc-webapp-key-vault / cloudconformity" in out
    assert "the alerts are off" in err
    assert "ALERT_WEBHOOK_URL" in err
    assert "Key Vault reference" in err
    assert "SECRETVERSION" not in err + out


@pytest.mark.parametrize("name", ["FINDINGS_STORAGE_CONNECTION", "AzureWebJobsStorage"])
def test_a_connection_string_the_sdk_refuses_exits_2_naming_the_setting(fake_azure, monkeypatch, name: str) -> None:
    fake_azure(decision_table_estate())
    monkeypatch.delenv("FINDINGS_STORAGE_CONNECTION", raising=False)
    monkeypatch.delenv("FINDINGS_TABLE_ENDPOINT", raising=False)
    monkeypatch.setenv(name, "TableEndpoint=https://acct.table.core.windows.net;AccountKey=not-base64-SECRET!")
    code, out, err = run_cli("scan")
    assert code == 2
    assert out == ""
    assert f"Setting {name}: " in err
    assert "SECRET" not in err


def test_a_vault_name_from_resource_manager_with_a_bidirectional_override_is_shown_clean(fake_azure) -> None:
    fake_azure(estate(subscription("Prod", vault("kv-\u202eodd", cert("a"), resource_group="rg-\u202eodd"))))
    code, document = scan_json()
    assert code == 0
    assert {f["vault_name"] for f in document["findings"]} == {"kv-odd"}
    assert all("\u202e" not in (f["vault_id"] or "") for f in document["findings"])


def test_without_a_credential_the_scan_says_to_sign_in_instead_of_no_error_message(fake_azure) -> None:
    # The managed-identity endpoint refuses, as App Service's does for an identity that is not assigned
    # (body shape: the App Service identity protocol's 400 with an error description).
    azure = fake_azure(decision_table_estate())
    azure.set_estate_fault(
        "token",
        fault(400, body='{"statusCode":400,"message":"No managed identity found for the specified ClientId."}'),
    )

    code, out, err = run_cli("scan", "--no-store")

    assert code == 3, err
    assert "failed, 0 subscriptions" in out
    assert "AuthenticationFailed" in out
    assert "sign in with `az login`" in out
    assert "no error message" not in out
    assert "Attempted credentials" not in err  # the SDK's fifteen-line report stays behind -v


def test_a_vault_that_cannot_be_listed_is_one_entry_in_the_table_naming_both_rules(fake_azure) -> None:
    fake_azure(estate(subscription("Walled", vault("walled-kv", cert("a"), fault={"list": firewall_fault()}))))

    code, out, err = run_cli("scan", "--no-store")

    assert code == 3, err
    assert out.count("walled-kv (whole vault)") == 1
    assert "KeyVault-006, CertificateExpiry  walled-kv (whole vault)" in out
    assert "Problems, most severe first (1)" in out
