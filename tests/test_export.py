"""Issue 18: a stored scan's findings in Azure Monitor Logs, through the real azure-monitor-ingestion client.

The client gets its token from the fake managed-identity endpoint (tests/fakeazure) and posts to the fake
Logs Ingestion endpoint (tests/fakeazure/ingestion.py), which checks every row against the stream declared
from infra/monitor/findings-columns.json, as the deployed data collection rule does.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from shared.azure.clients import AzureClients
from shared.cli import main
from shared.export import LogsExporter, columns, finding_rows
from shared.export.columns import COLUMNS_FILE
from shared.models import Finding, Scan, ScanResult, ScanStatus, Severity, Status, count_by_status
from shared.run import run_scan
from shared.settings import Settings, SettingsError
from shared.store import FindingsStore
from tests.fakeazure import cert, estate, fault, firewall_fault, subscription, vault
from tests.fakeazure.ingestion import DEFAULT_RULE_ID, FakeLogsIngestion
from tests.sample_results import SCAN_TIME, sample_result

FAST_RETRIES = {"retry_total": 2, "retry_backoff_factor": 0.01}
COLUMN_NAMES = [c["name"] for c in json.loads(COLUMNS_FILE.read_text(encoding="utf-8"))]


def small_estate() -> dict[str, Any]:
    return estate(
        subscription(
            "Production",
            vault(
                "payments-kv",
                cert("checkout", "Self", [("EmailContacts", {"days_before_expiry": 3})]),
                cert("www", "Self", [("AutoRenew", {"lifetime_percentage": 80})]),
                cert("legacy", "Unknown", [], expires_in_days=3),
            ),
            vault("walled-kv", cert("x"), fault={"list": firewall_fault()}),  # a vault-only not_assessed row
        )
    )


def logs_env(monkeypatch: pytest.MonkeyPatch, fake: FakeLogsIngestion) -> None:
    monkeypatch.setenv("LOGS_INGESTION_ENDPOINT", fake.endpoint)
    monkeypatch.setenv("LOGS_DCR_IMMUTABLE_ID", fake.rule_id)


def exporter(fake: FakeLogsIngestion, **options: Any) -> LogsExporter:
    credential = AzureClients(Settings.from_env()).credential
    return LogsExporter(
        fake.endpoint, fake.rule_id, fake.stream, credential, client_options={**FAST_RETRIES, **options}
    )


def many_findings(count: int) -> ScanResult:
    """A scan of ``count`` findings with realistic field sizes (about 500 bytes of JSON per row)."""
    base = sample_result().findings[0]
    findings = [
        dataclasses.replace(
            base,
            vault_name=f"kv-{i // 50:04d}-production-westeurope",
            certificate_name=f"certificate-{i:06d}-api-gateway",
            certificate_id=f"https://kv-{i // 50:04d}.vault.azure.net/certificates/certificate-{i:06d}",
        )
        for i in range(count)
    ]
    scan = Scan(id="20251127T060000Z-big", started_at=SCAN_TIME, finished_at=SCAN_TIME, status=ScanStatus.COMPLETED)
    scan.counts = count_by_status(findings)
    return ScanResult(scan=scan, findings=findings)


# --- rows: exactly the file's columns -------------------------------------------------------------------


def test_every_row_has_exactly_the_columns_of_the_file_in_its_order() -> None:
    result = sample_result()
    rows = finding_rows(result.scan, result.findings)
    assert len(rows) == len(result.findings)
    assert [c.name for c in columns()] == COLUMN_NAMES
    assert all(list(row) == COLUMN_NAMES for row in rows)


def test_a_finding_without_vault_or_certificate_makes_a_row_with_nulls() -> None:
    scan = Scan(id="s1", started_at=SCAN_TIME, finished_at=SCAN_TIME + timedelta(minutes=2), status=ScanStatus.PARTIAL)
    unlisted = Finding(
        rule_id="KeyVault-006",
        status=Status.NOT_ASSESSED,
        severity=Severity.HIGH,
        subscription_id="11111111-2222-3333-4444-555555555555",
        vault_name=None,
        vault_uri=None,
        certificate_name=None,
        certificate_id=None,
        issuer=None,
        lifetime_action=None,
        days_before_expiry=None,
        lifetime_percentage=None,
        expires_on=None,
        reason="Could not list the vaults of this subscription (403 AuthorizationFailed).",
    )
    (row,) = finding_rows(scan, [unlisted])
    assert row["TimeGenerated"] == "2025-11-27T06:02:00Z"
    assert row["ScanStatus"] == "partial"
    assert row["Status"] == "not_assessed"
    for name in ("VaultName", "CertificateName", "ResourceId", "ResourceType", "ExpiresOn", "DaysToExpiry", "Route"):
        assert row[name] is None, name


def test_estate_text_is_cleaned_and_days_count_from_the_scans_finish() -> None:
    base = sample_result().findings[0]
    hostile = dataclasses.replace(
        base,
        certificate_name="evil\u202ename\ninjected",
        reason="Renew \ud800 it\x1b[31m now",
        expires_on=SCAN_TIME + timedelta(days=10, hours=1),
        vault_id="/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
    )
    scan = Scan(id="s", started_at=SCAN_TIME, finished_at=SCAN_TIME, status=ScanStatus.COMPLETED)
    (row,) = finding_rows(scan, [hostile])
    assert row["CertificateName"] == "evilname injected"
    assert row["Reason"] == "Renew \ufffd it[31m now"
    assert row["DaysToExpiry"] == 10
    assert row["ResourceType"] == "Microsoft.KeyVault/vaults"
    json.dumps(row).encode("utf-8")  # would raise on a lone surrogate


# --- settings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {
                "LOGS_INGESTION_ENDPOINT": "http://dcr.ingest.monitor.azure.com",
                "LOGS_DCR_IMMUTABLE_ID": DEFAULT_RULE_ID,
            },
            "LOGS_INGESTION_ENDPOINT",
        ),
        (
            {"LOGS_INGESTION_ENDPOINT": "https://dcr.ingest.monitor.azure.com", "LOGS_DCR_IMMUTABLE_ID": "my-rule"},
            "LOGS_DCR_IMMUTABLE_ID",
        ),
        ({"LOGS_INGESTION_ENDPOINT": "https://dcr.ingest.monitor.azure.com"}, "LOGS_DCR_IMMUTABLE_ID"),
        ({"LOGS_DCR_IMMUTABLE_ID": DEFAULT_RULE_ID}, "LOGS_INGESTION_ENDPOINT"),
        (
            {
                "LOGS_INGESTION_ENDPOINT": "https://x.ingest.monitor.azure.com",
                "LOGS_DCR_IMMUTABLE_ID": DEFAULT_RULE_ID,
                "LOGS_STREAM_NAME": "Findings",
            },
            "LOGS_STREAM_NAME",
        ),
    ],
)
def test_a_bad_logs_setting_is_one_message_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert raised.value.name == named
    lenient = Settings.from_env(env, strict_alerts=False)  # the Functions app: only the export stops
    assert lenient.logs_setting_error
    assert named in lenient.logs_setting_error
    assert not lenient.logs_export_configured


def test_the_endpoint_query_never_shows_in_the_message() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(
            {
                "LOGS_INGESTION_ENDPOINT": "https://dcr.ingest.monitor.azure.com/?sig=SECRET",
                "LOGS_DCR_IMMUTABLE_ID": DEFAULT_RULE_ID,
            }
        )
    assert "SECRET" not in str(raised.value)


# --- the export through the real SDK ----------------------------------------------------------------------


def test_a_stored_scan_arrives_as_one_row_per_finding(
    fake_azure, fake_ingestion: FakeLogsIngestion, findings_store: FindingsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_azure(small_estate())
    logs_env(monkeypatch, fake_ingestion)
    settings = Settings.from_env()
    clients = AzureClients(settings)
    export = LogsExporter.from_settings(settings, clients.credential)
    assert export is not None
    outcome = run_scan(settings, clients, store=findings_store, exporter=export)

    findings = outcome.result.findings
    assert outcome.exported is not None
    assert outcome.exported.sent == len(findings) > 0
    assert outcome.export_error is None
    rows = fake_ingestion.rows
    assert all(list(row) == COLUMN_NAMES for row in rows)
    assert {r["ScanId"] for r in rows} == {outcome.result.scan.id}
    sent = sorted((r["RuleId"], r["VaultName"], r["CertificateName"], r["Status"]) for r in rows)
    expected = sorted((f.rule_id, f.vault_name, f.certificate_name, f.status.value) for f in findings)
    assert sent == expected
    assert all(b.content_encoding == "gzip" for b in fake_ingestion.batches)
    walled = [r for r in rows if r["VaultName"] == "walled-kv"]
    assert walled
    assert all(r["Status"] == "not_assessed" and r["CertificateName"] is None for r in walled)
    latest = findings_store.latest()
    assert latest is not None
    assert latest.scan.problems == []


def test_twenty_thousand_findings_go_in_several_requests_under_the_limit(
    fake_azure, fake_ingestion: FakeLogsIngestion
) -> None:
    fake_azure(small_estate())
    result = many_findings(20_000)
    outcome = exporter(fake_ingestion).export(result)
    assert outcome.error is None
    assert outcome.sent == len(fake_ingestion.rows) == 20_000
    assert outcome.requests == len(fake_ingestion.batches) > 1
    assert all(b.content_length <= 1_048_576 for b in fake_ingestion.batches)
    assert [r["CertificateName"] for r in fake_ingestion.rows] == [f.certificate_name for f in result.findings]


def test_a_token_for_another_audience_is_refused_and_named(fake_azure, fake_ingestion: FakeLogsIngestion) -> None:
    fake_azure(small_estate())
    wrong = exporter(fake_ingestion, credential_scopes=["https://vault.azure.net/.default"])
    outcome = wrong.export(sample_result())
    assert outcome.sent == 0
    assert outcome.failed == len(sample_result().findings)
    assert fake_ingestion.refused[0] == (401, "InvalidToken")
    assert outcome.error
    assert "401 InvalidToken" in outcome.error
    assert "Monitoring Metrics Publisher" in outcome.error


def test_no_token_is_named_as_the_identitys_problem(fake_azure, fake_ingestion: FakeLogsIngestion) -> None:
    azure = fake_azure(small_estate())
    azure.set_estate_fault("token", fault(500, "InternalServerError"))
    outcome = exporter(fake_ingestion).export(sample_result())
    assert outcome.sent == 0
    assert outcome.error is not None
    assert "could not get a token for Azure Monitor" in outcome.error
    assert fake_ingestion.batches == []


def test_a_body_over_one_megabyte_is_refused(fake_azure, fake_ingestion: FakeLogsIngestion) -> None:
    fake_azure(small_estate())
    client = exporter(fake_ingestion)._client
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the SDK's HttpResponseError, checked below
        client.upload(fake_ingestion.rule_id, fake_ingestion.stream, io.BytesIO(b"[" + b" " * 1_100_000 + b"]"))
    assert getattr(raised.value, "status_code", None) == 413
    assert fake_ingestion.refused == [(413, "ContentLengthLimitExceeded")]
    assert "413 ContentLengthLimitExceeded" in exporter(fake_ingestion).describe(raised.value)


def test_a_rejected_batch_names_the_column_without_the_rows_data(
    fake_azure, fake_ingestion_factory, caplog: pytest.LogCaptureFixture
) -> None:
    fake_azure(small_estate())
    declared = json.loads(COLUMNS_FILE.read_text(encoding="utf-8"))
    for column in declared:
        if column["name"] == "CertificateName":
            column["type"] = "int"  # a rule whose stream drifted from the file
    fake = fake_ingestion_factory(columns=declared)
    result = sample_result()
    secret_name = next(f.certificate_name for f in result.findings if f.certificate_name)
    with caplog.at_level(logging.INFO):
        outcome = exporter(fake).export(result)
    assert outcome.sent == 0
    assert outcome.error
    assert "400 InvalidArgument" in outcome.error
    assert "column(s) CertificateName" in outcome.error
    assert secret_name not in outcome.error
    assert secret_name not in caplog.text


def test_a_failing_endpoint_leaves_the_scan_stored_with_a_problem_and_the_exit_code_unchanged(
    app_env_with_logs, fake_ingestion: FakeLogsIngestion
) -> None:
    fake_ingestion.fail(503)
    out, err = io.StringIO(), io.StringIO()
    assert main(["scan"], stdout=out, stderr=err) == 1  # non-compliant findings, as without the export
    assert "Stored as scan" in out.getvalue()
    assert "The export to Azure Monitor Logs" in err.getvalue()
    assert "503" in err.getvalue()
    store = FindingsStore.from_settings(Settings.from_env(), None)
    latest = store.latest()
    assert latest is not None
    assert len(latest.findings) > 0
    assert any("503" in p and "Azure Monitor Logs" in p for p in latest.scan.problems)
    assert fake_ingestion.rows == []


def test_the_cli_exports_when_the_settings_are_present(app_env_with_logs, fake_ingestion: FakeLogsIngestion) -> None:
    out = io.StringIO()
    assert main(["scan"], stdout=out, stderr=io.StringIO()) == 1
    assert f"Sent {len(fake_ingestion.rows)} row(s) to Azure Monitor Logs" in out.getvalue()
    assert len(fake_ingestion.rows) > 0
    assert main(["scan", "--no-store"], stdout=io.StringIO(), stderr=io.StringIO()) == 1
    assert len({r["ScanId"] for r in fake_ingestion.rows}) == 1  # an unstored scan is not exported


@pytest.fixture
def app_env_with_logs(
    fake_azure, app_store_connection: str, fake_ingestion: FakeLogsIngestion, monkeypatch: pytest.MonkeyPatch
) -> Any:
    azure = fake_azure(small_estate())
    for name in ("ALERT_WEBHOOK_URL", "ALERT_ROUTES", "AUTO_REMEDIATE"):
        monkeypatch.delenv(name, raising=False)
    logs_env(monkeypatch, fake_ingestion)
    return azure


# --- the Functions timer ----------------------------------------------------------------------------------


def run_timer() -> None:
    # The host indexes the app once per process: reuse test_function_app's index (same module object).
    from azure.functions.timer import TimerRequest

    import function_app
    from tests.test_function_app import FUNCTIONS

    function_app.context.reset()
    try:
        FUNCTIONS["scan_certificates"](TimerRequest(past_due=False))
    finally:
        function_app.context.reset()


def test_the_timer_exports_and_a_failed_export_reaches_the_digest(
    app_env_with_logs, fake_ingestion: FakeLogsIngestion, webhook_receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook_receiver.url)
    monkeypatch.setenv("ALERT_WEBHOOK_KIND", "slack")
    fake_ingestion.fail(500, code="InternalServerError")
    run_timer()  # does not raise: the scan is stored and alerted
    assert fake_ingestion.rows == []
    (digest,) = (json.dumps(body) for body in webhook_receiver.bodies)
    assert "The export to Azure Monitor Logs" in digest
    assert "500 InternalServerError" in digest
    assert "checkout" in digest  # the problems themselves are posted as usual

    fake_ingestion.heal()  # healthy again: the next scan exports its own rows, no backlog
    run_timer()
    assert len({row["ScanId"] for row in fake_ingestion.rows}) == 1
    assert len(fake_ingestion.rows) > 0


def test_a_bad_logs_setting_stops_only_the_export_in_the_functions_app(
    app_env_with_logs, fake_ingestion: FakeLogsIngestion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGS_DCR_IMMUTABLE_ID", "not-a-rule-id")
    run_timer()
    assert fake_ingestion.rows == []
    store = FindingsStore.from_settings(Settings.from_env(strict_alerts=False), None)
    latest = store.latest()
    assert latest is not None
    assert len(latest.findings) > 0
    assert any("LOGS_DCR_IMMUTABLE_ID" in p for p in latest.scan.problems)
