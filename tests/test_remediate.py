"""`python -m shared remediate` and the timer's auto-remediation, against the fake Azure and Azurite.

What a person relies on: a dry run changes nothing; --apply sends exactly one PATCH per planned
certificate whose body sets AutoRenew and nothing else; certificates Key Vault cannot renew (issuer
Unknown), disabled and exempt ones are never touched; a vault that refuses is reported while the others
go on; every change lands in the store with the identity that made it.
"""

from __future__ import annotations

import copy
import io
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

import function_app
from shared import cli, jobs
from shared.azure.clients import AzureClients, RetryBudget
from shared.azure.keyvault import parse_policy
from shared.models import Status
from shared.remediation.command import apply_auto_remediation
from shared.remediation.plan import (
    CERTIFICATES_OFFICER,
    State,
    plan_remediation,
    renewal_action,
)
from shared.rules import unexplained_actions
from shared.scan import scan_estate
from shared.settings import Settings
from shared.store import FindingsStore
from tests.fakeazure import (
    DEFAULT_IDENTITY,
    FakeAzure,
    cert,
    estate,
    fault,
    lifetime_action,
    policy,
    rbac_fault,
    subscription,
    vault,
)
from tests.fakeazure import throttle_fault as throttle

AUTO_80 = [("AutoRenew", {"lifetime_percentage": 80})]
EMAIL_3D = [("EmailContacts", {"days_before_expiry": 3})]
EMAIL_90 = [("EmailContacts", {"lifetime_percentage": 90})]
RENEW_80_BODY = {"lifetime_actions": [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "AutoRenew"}}]}

PLANNED = {
    ("web-kv", "cloudconformity"),
    ("web-kv", "no-lifetime-action"),
    ("web-kv", "email-at-90"),
    ("payments-kv", "digicert-email"),
}

NEVER_PATCHED = {
    ("web-kv", "already-renews"),
    ("payments-kv", "imported-partner"),
    ("payments-kv", "disabled-old"),
    ("payments-kv", "exempt-tagged"),
    ("payments-kv", "acmebot-managed"),
    # AutoRenew with no trigger is a policy the app cannot explain (SPEC §2): not assessed, never overwritten.
    ("web-kv", "renew-without-trigger"),
}


def _policy_with_action(name: str, action: dict[str, Any]) -> dict[str, Any]:
    host = f"{name}.contoso.com"
    base = policy("Self", [], subject=f"CN={host}", dns_names=[host])
    base["lifetime_actions"] = [action]
    return base


def mixed_estate() -> dict[str, Any]:
    """Every kind of KeyVault-006 certificate remediation meets, over two vaults of two subscriptions."""
    return estate(
        subscription(
            "Production",
            vault(
                "web-kv",
                cert("cloudconformity", "Self", EMAIL_3D),
                cert("no-lifetime-action", "Self", []),
                cert("already-renews", "Self", AUTO_80),
                cert(
                    "renew-without-trigger",
                    policy_json=_policy_with_action("renew-without-trigger", {"action": {"action_type": "AutoRenew"}}),
                ),
                cert("email-at-90", "Self", EMAIL_90),
            ),
        ),
        subscription(
            "Payments",
            vault(
                "payments-kv",
                cert("digicert-email", "DigiCert", EMAIL_90),
                cert("imported-partner", "Unknown", EMAIL_90),
                cert("disabled-old", "Self", EMAIL_3D, enabled=False),
                cert("exempt-tagged", "Self", EMAIL_3D, tags={"autorenew-exempt": "true"}),
                cert("acmebot-managed", "Unknown", [], tags={"Issuer": "Acmebot"}),
            ),
        ),
    )


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def remediate_json(*argv: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli("remediate", "--format", "json", *argv)
    assert out.strip(), err
    return code, json.loads(out), err


def by_place(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["vault_name"], row["certificate_name"]): row for row in document["plan"]}


def policy_updates(azure: FakeAzure) -> list[Any]:
    return azure.requests.where(operation="update_policy")


def autorenew_verdicts(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (f["vault_name"], f["certificate_name"]): f["status"]
        for f in document["findings"]
        if f["rule_id"] == "KeyVault-006" and f["certificate_name"]
    }


def without_lifetime_actions(policy_json: dict[str, Any] | None) -> dict[str, Any]:
    assert policy_json is not None
    return {k: v for k, v in policy_json.items() if k != "lifetime_actions"}


@pytest.fixture
def no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FINDINGS_STORAGE_CONNECTION", "AzureWebJobsStorage", "FINDINGS_TABLE_ENDPOINT", "AUTO_REMEDIATE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store_env(no_store_env: None, app_store_connection: str) -> Iterator[FindingsStore]:
    """Azurite as the store the CLI builds from its settings; yields a store on the same tables to read
    what the CLI wrote."""
    with FindingsStore.from_connection_string(app_store_connection) as store:
        yield store


# ------------------------------------------------------------------------------------------- dry run


def test_a_dry_run_prints_the_plan_and_sends_no_patch(fake_azure, no_store_env: None) -> None:
    azure = fake_azure(mixed_estate())
    before = {key: azure.policy(*key) for key in PLANNED}

    code, out, err = run_cli("remediate")

    assert code == 1, err  # there is something to change
    assert err == ""
    assert out.startswith("AutoRenew Guard remediation (dry run) from scan ")
    assert "New lifetime action: AutoRenew at 80% of its lifetime" in out
    rows = {line.split()[0] + " " + line.split()[2]: line for line in out.splitlines() if " / " in line}
    assert "EmailContacts 3 days before expiry → AutoRenew at 80% of its lifetime" in rows["web-kv cloudconformity"]
    assert rows["web-kv cloudconformity"].rstrip().endswith("planned")
    assert "no lifetime action → AutoRenew" in rows["web-kv no-lifetime-action"]
    assert "EmailContacts at 90% of its lifetime → AutoRenew at 80%" in rows["web-kv email-at-90"]
    assert "EmailContacts at 90% of its lifetime → AutoRenew" in rows["payments-kv digicert-email"]
    assert rows["payments-kv imported-partner"].rstrip().endswith("skipped")
    assert "Key Vault cannot renew an Unknown-issuer certificate" in out
    unexplained = ("web-kv", "renew-without-trigger")
    for vault_name, name in NEVER_PATCHED - {("payments-kv", "imported-partner"), unexplained}:
        assert f"{vault_name} / {name}" not in out  # compliant, disabled, exempt: not in the plan at all
    assert "web-kv / renew-without-trigger: The issuance policy holds the trigger null" in out
    assert "Dry run: nothing was changed. Review the plan, then run again with --apply." in out

    assert policy_updates(azure) == []
    assert azure.patches == {}
    assert {key: azure.policy(*key) for key in PLANNED} == before
    assert azure.requests.where(operation="update_certificate") == []


def test_the_json_plan_names_every_certificate_with_its_current_and_new_action(fake_azure, no_store_env: None) -> None:
    azure = fake_azure(mixed_estate())

    code, document, _ = remediate_json()

    assert code == 1
    assert document["applied"] is False
    assert document["scan_id"]
    assert document["identity"] is None  # a dry run asks for no token to name anyone
    assert document["trigger"] == {
        "action": "AutoRenew",
        "days_before_expiry": None,
        "lifetime_percentage": 80,
        "description": "AutoRenew at 80% of its lifetime",
    }
    rows = by_place(document)
    assert set(rows) == PLANNED | {("payments-kv", "imported-partner")}
    assert {k for k, r in rows.items() if r["status"] == "planned"} == PLANNED
    assert rows[("web-kv", "cloudconformity")] | {"when": None} == {
        "subscription_id": azure.estate.vault("web-kv").subscription_id,
        "vault_name": "web-kv",
        "vault_uri": azure.vault_uri("web-kv"),
        "certificate_name": "cloudconformity",
        "issuer": "Self",
        "before": "EmailContacts 3 days before expiry",
        "after": "AutoRenew at 80% of its lifetime",
        "status": "planned",
        "outcome": "planned",
        "error_code": None,
        "when": None,
    }
    skipped = rows[("payments-kv", "imported-partner")]
    assert skipped["status"] == "skipped"
    assert skipped["after"] == "unchanged"
    assert skipped["outcome"].startswith("skipped: Key Vault cannot renew an Unknown-issuer certificate")
    assert document["counts"]["planned"] == len(PLANNED)
    assert policy_updates(azure) == []


# ------------------------------------------------------------------------------------------- apply


def test_apply_sends_one_patch_per_planned_certificate_that_sets_only_autorenew(
    fake_azure, store_env: FindingsStore
) -> None:
    azure = fake_azure(mixed_estate())
    before = {key: azure.policy(*key) for key in PLANNED}

    code, document, err = remediate_json("--apply")

    # Everything Key Vault can renew was changed; the Unknown-issuer certificate stays non-compliant.
    assert code == 1, err
    assert err == ""
    assert document["applied"] is True
    rows = by_place(document)
    assert {k for k, r in rows.items() if r["status"] == "applied"} == PLANNED
    assert all(rows[k]["outcome"] == "applied" and rows[k]["when"] for k in PLANNED)
    assert rows[("payments-kv", "imported-partner")]["status"] == "skipped"

    assert set(azure.patches) == PLANNED
    for key in PLANNED:
        assert azure.patches[key] == [RENEW_80_BODY], key
        after = azure.policy(*key)
        assert after is not None
        assert after["lifetime_actions"] == RENEW_80_BODY["lifetime_actions"]
        # Issuer, subject, SANs, key, secret and validity are exactly as they were.
        assert without_lifetime_actions(after) == without_lifetime_actions(before[key])
    assert len(policy_updates(azure)) == len(PLANNED)
    assert not {(r.vault, r.certificate) for r in policy_updates(azure)} & NEVER_PATCHED

    code, out, _ = run_cli("scan", "--no-store", "--format", "json")
    verdicts = autorenew_verdicts(json.loads(out))
    assert {verdicts[key] for key in PLANNED} == {"compliant"}
    assert verdicts[("payments-kv", "imported-partner")] == "non_compliant"


def test_every_change_is_recorded_with_the_identity_that_made_it(fake_azure, store_env: FindingsStore) -> None:
    azure = fake_azure(mixed_estate())

    code, document, _ = remediate_json("--apply", "--vault", "web-kv", "--certificate", "cloudconformity")

    assert code == 0  # the one certificate in scope now renews itself
    assert set(azure.patches) == {("web-kv", "cloudconformity")}
    stored_scan = store_env.latest()
    assert stored_scan is not None
    assert stored_scan.scan.id == document["scan_id"]  # --apply stores its scan before changing anything
    records = store_env.list_remediations()
    assert len(records) == 1
    record = records[0]
    object_id = DEFAULT_IDENTITY["object_id"]
    assert record["identity_object_id"] == object_id
    assert object_id in record["identity"]
    assert record["identity_app_id"] == DEFAULT_IDENTITY["client_id"]
    assert record["scan_id"] == document["scan_id"]
    assert record["vault_name"] == "web-kv"
    assert record["certificate_name"] == "cloudconformity"
    assert record["subscription_id"] == azure.estate.vault("web-kv").subscription_id
    assert record["before"] == "EmailContacts 3 days before expiry"
    assert record["after"] == "AutoRenew at 80% of its lifetime"
    assert record["outcome"] == "applied"
    assert record["when"].endswith("Z")
    # The identity in the record is the one Key Vault saw on the PATCH.
    patch = policy_updates(azure)[0]
    assert patch.identity is not None
    assert patch.identity["oid"] == object_id


def test_apply_exits_0_when_everything_in_scope_renews_itself_and_a_second_run_has_nothing_to_do(
    fake_azure, no_store_env: None
) -> None:
    azure = fake_azure(
        estate(subscription("Clean", vault("clean-kv", cert("a", "Self", EMAIL_3D), cert("b", "DigiCert", []))))
    )

    code, out, err = run_cli("remediate", "--apply", "--no-store")

    assert code == 0, out + err
    assert "Summary: 2 applied." in out
    assert "Not recorded in the findings store." in out
    assert set(azure.patches) == {("clean-kv", "a"), ("clean-kv", "b")}

    code, out, _ = run_cli("remediate", "--apply", "--no-store")
    assert code == 0
    assert "Nothing to change" in out
    assert len(policy_updates(azure)) == 2  # no further PATCH


def test_a_days_before_expiry_trigger_is_checked_against_each_certificates_validity(
    fake_azure, no_store_env: None
) -> None:
    azure = fake_azure(
        estate(
            subscription(
                "Prod",
                vault(
                    "short-kv",
                    cert("yearly", "Self", EMAIL_3D, validity_months=12),
                    cert("monthly", "Self", EMAIL_3D, validity_months=1),
                ),
            )
        )
    )

    code, document, _ = remediate_json("--days-before-expiry", "30")
    assert code == 1
    rows = by_place(document)
    assert rows[("short-kv", "yearly")]["status"] == "planned"
    assert rows[("short-kv", "yearly")]["after"] == "AutoRenew 30 days before expiry"
    monthly = rows[("short-kv", "monthly")]
    assert monthly["status"] == "skipped"
    assert "at most 27 days" in monthly["outcome"]
    assert policy_updates(azure) == []

    code, document, _ = remediate_json("--days-before-expiry", "30", "--apply", "--no-store")
    assert code == 1  # the monthly certificate stays non-compliant
    assert azure.patches == {
        ("short-kv", "yearly"): [
            {"lifetime_actions": [{"trigger": {"days_before_expiry": 30}, "action": {"action_type": "AutoRenew"}}]}
        ]
    }
    assert by_place(document)[("short-kv", "monthly")]["status"] == "skipped"


def test_a_lifetime_percentage_trigger_is_sent_as_given(fake_azure, no_store_env: None) -> None:
    azure = fake_azure(estate(subscription("Prod", vault("kv", cert("a", "Self", EMAIL_3D)))))

    code, _, err = run_cli("remediate", "--lifetime-percentage", "66", "--apply", "--no-store")

    assert code == 0, err
    assert azure.patches[("kv", "a")] == [
        {"lifetime_actions": [{"trigger": {"lifetime_percentage": 66}, "action": {"action_type": "AutoRenew"}}]}
    ]


# ------------------------------------------------------------------------------------------- failures


def refusing_estate() -> dict[str, Any]:
    return estate(
        subscription(
            "Prod",
            vault("locked-kv", cert("locked-a", "Self", EMAIL_3D), fault={"patch": rbac_fault()}),
            vault(
                "open-kv",
                cert("busy", "Self", EMAIL_3D, fault={"patch": fault(409, "Conflict", message="Pending operation.")}),
                cert("hot", "Self", EMAIL_3D, fault={"patch": throttle(times=50, retry_after=0.01)}),
                cert("fine", "Self", EMAIL_3D),
            ),
        )
    )


def test_a_vault_that_refuses_is_reported_and_the_other_changes_go_through(fake_azure, no_store_env: None) -> None:
    azure = fake_azure(refusing_estate())

    code, document, err = remediate_json("--apply", "--no-store")

    assert code == 1, err
    rows = by_place(document)
    assert rows[("open-kv", "fine")]["status"] == "applied"
    assert azure.patches[("open-kv", "fine")] == [RENEW_80_BODY]

    locked = rows[("locked-kv", "locked-a")]
    assert locked["status"] == "failed"
    assert locked["outcome"].startswith("failed: HTTP 403 Forbidden (ForbiddenByRbac)")
    assert CERTIFICATES_OFFICER in locked["outcome"]
    assert "Caller:" not in locked["outcome"]  # the headline of the service's message, not its details
    assert locked["after"] == "AutoRenew at 80% of its lifetime"  # what it would have become

    busy = rows[("open-kv", "busy")]
    assert busy["status"] == "failed"
    assert busy["outcome"].startswith("failed: HTTP 409 Conflict")
    assert "conflict" in busy["outcome"].lower()

    hot = rows[("open-kv", "hot")]
    assert hot["status"] == "failed"
    assert "HTTP 429" in hot["outcome"]
    assert "throttling" in hot["outcome"]
    # The first try, then every retry the throttling budget allows (the service keeps saying "retry in 10 ms").
    assert (
        len(azure.requests.where(operation="update_policy", certificate="hot")) == 1 + RetryBudget().throttled_retries
    )

    for key in (("locked-kv", "locked-a"), ("open-kv", "busy"), ("open-kv", "hot")):
        stored = azure.policy(*key)
        assert stored is not None
        assert stored["lifetime_actions"][0]["action"]["action_type"] == "EmailContacts", key


def test_the_table_report_of_a_refused_change_says_which_role_is_needed(fake_azure, no_store_env: None) -> None:
    fake_azure(refusing_estate())

    code, out, _ = run_cli("remediate", "--apply", "--no-store", "--vault", "locked-kv")

    assert code == 1
    assert "locked-kv / locked-a" in out
    assert "failed" in out
    assert "Key Vault Certificates" in out  # wrapped, but the role is named
    assert "Summary: 1 failed." in out


# ------------------------------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["--lifetime-percentage", "0"],
            "argument --lifetime-percentage: must be a whole number from 1 to 99, got '0'",
        ),
        (["--lifetime-percentage", "100"], "from 1 to 99"),
        (["--lifetime-percentage", "eighty"], "must be a whole number, got 'eighty'"),
        (["--days-before-expiry", "0"], "argument --days-before-expiry: must be a whole number of at least 1"),
        (["--days-before-expiry", "30", "--lifetime-percentage", "80"], "not allowed with argument"),
        (["--format", "yaml"], "invalid choice: 'yaml'"),
        (["--from-latest", "--no-store"], "cannot be combined with --no-store"),
    ],
)
def test_invalid_triggers_and_options_exit_2_with_one_line_and_no_request(
    fake_azure, no_store_env: None, argv: list[str], says: str
) -> None:
    azure = fake_azure(mixed_estate())

    code, out, err = run_cli("remediate", "--apply", *argv)

    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert says in err
    assert list(azure.requests) == []


def test_unknown_names_exit_2(fake_azure, no_store_env: None) -> None:
    azure = fake_azure(mixed_estate())

    code, _, err = run_cli("remediate", "--apply", "--no-store", "--certificate", "no-such-cert")
    assert code == 2
    assert "No certificate named no-such-cert" in err

    code, _, err = run_cli("remediate", "--apply", "--no-store", "--vault", "no-such-kv")
    assert code == 2
    assert "No vault named no-such-kv" in err
    assert policy_updates(azure) == []


def test_apply_without_a_store_asks_for_one_or_no_store(fake_azure, no_store_env: None) -> None:
    azure = fake_azure(mixed_estate())

    code, out, err = run_cli("remediate", "--apply")

    assert code == 2
    assert out == ""
    assert "No findings store is configured" in err
    assert "--no-store" in err
    assert policy_updates(azure) == []


# ------------------------------------------------------------------------------------------- --from-latest


def test_from_latest_plans_from_the_stored_scan_and_rechecks_before_patching(
    fake_azure, store_env: FindingsStore
) -> None:
    azure = fake_azure(mixed_estate())
    code, out, err = run_cli("scan", "--format", "json")
    assert code == 1, err
    stored_id = json.loads(out)["scan"]["id"]
    listed = len(azure.requests.where(operation="list_certificates"))
    # Since the scan, someone turned AutoRenew on by hand for one certificate.
    fixed = azure.policy("web-kv", "cloudconformity")
    assert fixed is not None
    fixed["lifetime_actions"] = [{"trigger": {"days_before_expiry": 20}, "action": {"action_type": "AutoRenew"}}]
    azure.set_policy("web-kv", "cloudconformity", fixed)

    code, document, err = remediate_json("--from-latest")
    assert code == 1, err
    assert document["scan_id"] == stored_id
    assert len(azure.requests.where(operation="list_certificates")) == listed  # no fresh scan
    rows = by_place(document)
    assert rows[("web-kv", "cloudconformity")]["status"] == "not_needed"
    assert "AutoRenew 20 days before expiry" in rows[("web-kv", "cloudconformity")]["outcome"]
    assert {k for k, r in rows.items() if r["status"] == "planned"} == PLANNED - {("web-kv", "cloudconformity")}
    assert policy_updates(azure) == []

    code, document, err = remediate_json("--from-latest", "--apply")
    assert code == 1, err  # the Unknown-issuer certificate stays
    assert document["scan_id"] == stored_id
    assert set(azure.patches) == PLANNED - {("web-kv", "cloudconformity")}
    assert len(azure.requests.where(operation="list_certificates")) == listed
    records = store_env.list_remediations()
    assert {r["scan_id"] for r in records} == {stored_id}
    assert {(r["certificate_name"], r["status"]) for r in records} >= {
        ("cloudconformity", "not_needed"),
        ("digicert-email", "applied"),
    }
    latest = store_env.latest()
    assert latest is not None
    assert latest.scan.id == stored_id  # remediation records its changes, it does not store another scan


def test_what_was_disabled_or_exempted_since_the_stored_scan_is_left_alone(
    fake_azure, store_env: FindingsStore
) -> None:
    azure = fake_azure(mixed_estate())
    code, _, err = run_cli("scan")
    assert code == 1, err
    azure.update_certificate("web-kv", "cloudconformity", tags={"autorenew-exempt": "true"})
    azure.update_certificate("web-kv", "no-lifetime-action", enabled=False)

    code, document, err = remediate_json("--from-latest", "--apply", "--vault", "web-kv")

    # The rest of web-kv was changed; the two left alone are not non-compliant, and renew-without-trigger
    # is still not assessed (a policy the app cannot explain), hence 3.
    assert code == 3, err
    rows = by_place(document)
    exempted = rows[("web-kv", "cloudconformity")]
    assert exempted["status"] == "not_needed"
    assert exempted["outcome"] == "not needed: it is exempt now by its tag autorenew-exempt=true"
    disabled = rows[("web-kv", "no-lifetime-action")]
    assert disabled["outcome"] == "not needed: it is disabled now"
    assert set(azure.patches) == {("web-kv", "email-at-90")}


def test_from_latest_without_a_stored_scan_exits_2(fake_azure, store_env: FindingsStore) -> None:
    azure = fake_azure(mixed_estate())

    code, out, err = run_cli("remediate", "--from-latest")

    assert code == 2
    assert out == ""
    assert "no scan has finished yet" in err
    assert list(azure.requests.where(service="keyvault")) == []


# ------------------------------------------------------------------------------------------- the timer


def test_apply_auto_remediation_changes_records_and_returns_the_digest_entries(
    fake_azure, findings_store: FindingsStore
) -> None:
    azure = fake_azure(mixed_estate())
    settings = Settings.from_env({**_azure_env(), "AUTO_REMEDIATE": "true"})
    clients = AzureClients(settings)
    try:
        result = scan_estate(settings, clients)
        findings_store.save(result)
        entries = apply_auto_remediation(settings, clients, result, findings_store)
    finally:
        clients.close()

    assert set(azure.patches) == PLANNED
    assert {(e["vault_name"], e["certificate_name"]) for e in entries} == PLANNED
    entry = next(e for e in entries if e["certificate_name"] == "cloudconformity")
    assert entry["before"] == "EmailContacts 3 days before expiry"
    assert entry["after"] == "AutoRenew at 80% of its lifetime"
    assert entry["outcome"] == "applied"
    assert {"vault_name", "certificate_name", "before", "after", "outcome"} <= set(entry)
    records = findings_store.list_remediations()
    assert {(r["vault_name"], r["certificate_name"]) for r in records} == PLANNED
    assert {r["identity_object_id"] for r in records} == {DEFAULT_IDENTITY["object_id"]}
    assert {r["scan_id"] for r in records} == {result.scan.id}


def test_auto_remediation_stops_changing_when_the_store_refuses_a_record(fake_azure, no_store_env: None) -> None:
    azure = fake_azure(estate(subscription("Prod", vault("kv", *(cert(n, "Self", EMAIL_3D) for n in "abc")))))
    settings = Settings.from_env(_azure_env())
    dead_store = FindingsStore.from_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    clients = AzureClients(settings)
    try:
        result = scan_estate(settings, clients)
        entries = apply_auto_remediation(settings, clients, result, dead_store)
    finally:
        clients.close()
        dead_store.close()

    outcomes = {e["certificate_name"]: e["outcome"] for e in entries}
    assert outcomes["a"] == "applied"  # the first change was made, then its record was refused
    assert outcomes["b"].startswith("not attempted: the findings store refused")
    assert outcomes["c"].startswith("not attempted")
    assert set(azure.patches) == {("kv", "a")}
    assert any("Could not record the change of kv/a" in p for p in result.scan.problems)


def test_the_plan_is_pure_and_leaves_out_what_is_not_non_compliant(fake_azure, no_store_env: None) -> None:
    fake_azure(mixed_estate())
    settings = Settings.from_env(_azure_env())
    clients = AzureClients(settings)
    try:
        result = scan_estate(settings, clients)
    finally:
        clients.close()
    untouched = copy.deepcopy(result)

    plan = plan_remediation(result, renewal_action(days_before_expiry=30), vault_names=["PAYMENTS-KV"])

    assert [(i.certificate_name, i.state) for i in plan.items] == [
        ("digicert-email", State.PLANNED),
        ("imported-partner", State.SKIPPED),
    ]
    assert plan.items[0].after == "AutoRenew 30 days before expiry"
    assert result.to_document() == untouched.to_document()
    statuses = {f.certificate_name: f.status for f in result.findings if f.rule_id == "KeyVault-006"}
    assert statuses["disabled-old"] == Status.NOT_APPLICABLE
    assert statuses["exempt-tagged"] == Status.EXEMPT


def _azure_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in ("ARM_ENDPOINT", "KEYVAULT_VERIFY_CHALLENGE_RESOURCE")}


# ------------------------------------------------------------------------------------------- guards


def guarded_estate() -> dict[str, Any]:
    """What remediation must never change, beside what it may: a certificate a public CA issued under a
    Self policy, an Unknown issuer hidden by a zero-width space, and an exemption tag whose key has a
    trailing space."""
    return estate(
        subscription(
            "Prod",
            vault(
                "guard-kv",
                cert("self-signed", "Self", EMAIL_3D),
                cert("ca-issued", "Self", EMAIL_3D, issued_by="DigiCert Global G2 TLS RSA SHA256 2020 CA1"),
                cert("hidden-unknown", "Unknown\u200b", EMAIL_3D),
                cert("exempt-with-space", "Self", EMAIL_3D, tags={"autorenew-exempt ": "true"}),
            ),
        )
    )


def test_apply_changes_the_self_signed_certificate_and_refuses_the_one_a_ca_issued(
    fake_azure, no_store_env: None
) -> None:
    azure = fake_azure(guarded_estate())

    code, document, err = remediate_json("--apply", "--no-store")

    assert code == 1, err
    rows = by_place(document)
    assert rows[("guard-kv", "self-signed")]["status"] == "applied"
    assert azure.patches[("guard-kv", "self-signed")] == [RENEW_80_BODY]
    refused = rows[("guard-kv", "ca-issued")]
    assert refused["status"] == "refused"
    assert refused["after"] == "unchanged"
    assert refused["outcome"].startswith(
        "refused: AutoRenew would issue a self-signed replacement for a certificate that CA "
        "DigiCert Global G2 TLS RSA SHA256 2020 CA1 issued"
    )
    assert ("guard-kv", "ca-issued") not in azure.patches
    stored = azure.policy("guard-kv", "ca-issued")
    assert stored is not None
    assert stored["lifetime_actions"][0]["action"]["action_type"] == "EmailContacts"


def test_the_table_report_says_why_the_ca_issued_certificate_is_refused(fake_azure, no_store_env: None) -> None:
    fake_azure(guarded_estate())

    code, out, _ = run_cli("remediate", "--certificate", "ca-issued")

    assert code == 1
    row = next(line for line in out.splitlines() if "guard-kv / ca-issued" in line)
    assert row.rstrip().endswith("refused")
    assert "AutoRenew would issue a self-signed replacement for a certificate that CA DigiCert" in " ".join(out.split())
    assert "Summary: 1 refused." in out


def test_an_action_type_key_vault_does_not_define_is_never_overwritten(fake_azure, store_env: FindingsStore) -> None:
    azure = fake_azure(
        estate(subscription("Prod", vault("kv", cert("renew-action", "Self", EMAIL_3D), cert("odd", "Self", EMAIL_3D))))
    )
    code, _, err = run_cli("scan")  # stored: both only email their contacts, so both are to be changed
    assert code == 1, err
    # Since the scan, someone wrote lifetime actions the app cannot explain.
    azure.set_policy(
        "kv", "renew-action", _policy_with_action("renew-action", lifetime_action("Renew", {"days_before_expiry": 30}))
    )
    azure.set_policy(
        "kv", "odd", _policy_with_action("odd", lifetime_action("EmailContacts", {"days_after_creation": 300}))
    )

    code, document, err = remediate_json("--from-latest", "--apply")

    assert code == 1, err
    rows = by_place(document)
    assert rows[("kv", "renew-action")]["status"] == "refused"
    assert 'the action type "Renew", which Key Vault does not define' in rows[("kv", "renew-action")]["outcome"]
    assert "never overwrites a policy it cannot fully explain" in rows[("kv", "renew-action")]["outcome"]
    assert rows[("kv", "odd")]["status"] == "refused"
    assert 'the trigger {"days_after_creation":300}' in rows[("kv", "odd")]["outcome"]
    assert azure.patches == {}

    # A fresh scan, whatever its verdict on such a policy, never gets it changed either.
    _, document, _ = remediate_json("--apply", "--no-store")
    assert {row["status"] for row in document["plan"]} <= {"refused"}
    assert azure.patches == {}
    renew = azure.policy("kv", "renew-action")
    assert renew is not None
    assert renew["lifetime_actions"][0]["action"]["action_type"] == "Renew"


def test_an_unknown_issuer_with_a_zero_width_space_is_never_patched(fake_azure, no_store_env: None) -> None:
    # The fake, like a careless service, would accept AutoRenew for "Unknown\u200b": only the guard stops it.
    azure = fake_azure(guarded_estate())

    _, document, _ = remediate_json("--apply", "--no-store")

    hidden = by_place(document)[("guard-kv", "hidden-unknown")]
    assert hidden["status"] == "skipped"
    assert hidden["outcome"].startswith("skipped: Key Vault cannot renew an Unknown-issuer certificate")
    assert ("guard-kv", "hidden-unknown") not in azure.patches


def test_an_exemption_tag_key_with_a_trailing_space_still_exempts(fake_azure, no_store_env: None) -> None:
    azure = fake_azure(guarded_estate())

    _, document, _ = remediate_json("--apply", "--no-store")

    exempt = by_place(document).get(("guard-kv", "exempt-with-space"))
    if exempt is not None:  # the scan may already call it exempt; then it is not in the plan at all
        assert exempt["status"] == "not_needed"
        assert exempt["outcome"] == "not needed: it is exempt now by its tag autorenew-exempt =true"
    assert ("guard-kv", "exempt-with-space") not in azure.patches
    assert set(azure.patches) == {("guard-kv", "self-signed")}


def test_a_self_policy_whose_current_certificate_cannot_be_read_is_refused(fake_azure, no_store_env: None) -> None:
    azure = fake_azure(estate(subscription("Prod", vault("kv", cert("a", "Self", EMAIL_3D)))))
    with azure.lock:
        azure.certificate("kv", "a").der = b"not a certificate"

    _, document, _ = remediate_json("--apply", "--no-store")

    row = by_place(document)[("kv", "a")]
    assert row["status"] == "refused"
    assert "cannot tell whether a CA issued it" in row["outcome"]
    assert azure.patches == {}


# ------------------------------------------------------------------------------------------- the limit


def test_the_timer_with_max_auto_remediations_1_changes_one_certificate_and_lists_the_rest_as_not_attempted(
    fake_azure, app_store_connection: str, webhook_receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    azure = fake_azure(
        estate(
            subscription("Prod", vault("a-kv", *(cert(n, "Self", EMAIL_3D) for n in ("a1", "a2")))),
            subscription("Data", vault("b-kv", cert("b1", "DigiCert", EMAIL_3D))),
        )
    )
    for name, value in {
        "AUTO_REMEDIATE": "true",
        "MAX_AUTO_REMEDIATIONS": "1",
        "ALERT_WEBHOOK_URL": webhook_receiver.url,
        "ALERT_WEBHOOK_KIND": "generic",
    }.items():
        monkeypatch.setenv(name, value)
    function_app.context.reset()
    try:
        # What the timer function runs (its registration is indexed once, by tests/test_function_app.py).
        outcome = jobs.timer_run(function_app.context)
    finally:
        function_app.context.reset()
    jobs.raise_if_failed(outcome)

    assert len(azure.patches) == 1
    assert len(policy_updates(azure)) == 1
    (digest,) = webhook_receiver.bodies
    outcomes = {r["certificate_name"]: r["outcome"] for r in digest["remediations"]}
    assert set(outcomes) == {"a1", "a2", "b1"}
    changed = [name for name, outcome in outcomes.items() if outcome == "applied"]
    assert len(changed) == 1
    for name in set(outcomes) - set(changed):
        assert outcomes[name].startswith("not attempted: this run reached MAX_AUTO_REMEDIATIONS (1 change per"), name
    with FindingsStore.from_connection_string(app_store_connection) as store:
        records = store.list_remediations()
    assert [(r["certificate_name"], r["status"]) for r in records] == [(changed[0], "applied")]


def test_the_demo_estate_plans_its_ca_issued_certificate_as_refused(fake_azure_demo, no_store_env: None) -> None:
    code, document, _ = remediate_json()

    assert code == 1
    rows = by_place(document)
    legacy = rows[("cc-webapp-key-vault", "webapp-public-legacy")]
    assert legacy["status"] == "refused"
    assert "CA DigiCert Global G2 TLS RSA SHA256 2020 CA1 issued" in legacy["outcome"]
    assert rows[("cc-webapp-key-vault", "cloudconformity")]["status"] == "planned"
    assert policy_updates(fake_azure_demo) == []


@pytest.mark.parametrize(
    ("raw_actions", "named"),
    [
        ([{"trigger": {"days_before_expiry": 30}, "action": {"action_type": "Renew"}}], 'the action type "Renew"'),
        ([{"trigger": {"lifetime_percentage": "80x"}, "action": {"action_type": "AutoRenew"}}], "the trigger"),
        (
            [{"trigger": {"days_before_expiry": 3, "lifetime_percentage": 80}, "action": {"action_type": "AutoRenew"}}],
            "the trigger",
        ),
        ([{"action": {}}], "the lifetime action"),
        ("AutoRenew", 'lifetime_actions "AutoRenew"'),
        ([{"action": {"action_type": "AutoRenew"}}], "the trigger null"),  # no trigger: malformed (SPEC §2)
        ([{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "autorenew"}}], None),
        ([{"trigger": {"days_before_expiry": 3}, "action": {"action_type": "EmailContacts"}}], None),
        (None, None),
    ],
)
def test_what_remediation_cannot_explain_is_named_by_its_raw_value(raw_actions: Any, named: str | None) -> None:
    # Remediation asks the scan's own parser and rule, so the two can never disagree on what is understood.
    problem = unexplained_actions(parse_policy({"lifetime_actions": raw_actions}).lifetime_actions)
    if named is None:
        assert problem is None
    else:
        assert problem is not None
        assert named in problem, problem
