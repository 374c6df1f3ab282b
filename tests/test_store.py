"""The findings store against real Azurite (tests/plugins/azurite.py starts it).

Failures are injected with a small hand-written TableClient subclass that records every transaction
and raises on the Nth one; everything else is the real SDK talking to the real emulator.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.data.tables import TableClient, TableServiceClient

import tests.azurite
from shared.models import (
    RULE_AUTORENEW,
    RULE_EXPIRY,
    Finding,
    Scan,
    ScanResult,
    ScanStatus,
    Severity,
    Status,
    count_by_status,
    new_scan_id,
)
from shared.settings import Settings
from shared.store import FindingsStore, StoreError, StoreLimits
from shared.text import clean_text
from tests.azurite import ACCOUNT_KEY, AzuriteNotInstalled, free_port, start_azurite

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def finding(number: int = 0, **changes: Any) -> Finding:
    vault = f"vault-{number % 7}"
    values: dict[str, Any] = {
        "rule_id": RULE_AUTORENEW,
        "status": Status.NON_COMPLIANT,
        "severity": Severity.HIGH,
        "subscription_id": SUBSCRIPTION,
        "vault_name": vault,
        "vault_uri": f"https://{vault}.vault.azure.net/",
        "certificate_name": f"cert-{number}",
        "certificate_id": f"https://{vault}.vault.azure.net/certificates/cert-{number}",
        "issuer": "Self",
        "lifetime_action": "EmailContacts",
        "days_before_expiry": 3,
        "lifetime_percentage": None,
        "expires_on": datetime(2027, 1, 19, 8, 55, tzinfo=UTC),
        "reason": "Only EmailContacts is configured (3 days before expiry); set the lifetime action to AutoRenew.",
        "vault_id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/{vault}",
    }
    values.update(changes)
    return Finding(**values)


def scan_result(
    findings: list[Finding] | None = None,
    *,
    started: datetime = T0,
    took: timedelta = timedelta(seconds=30),
    status: ScanStatus = ScanStatus.COMPLETED,
) -> ScanResult:
    findings = [finding(i) for i in range(3)] if findings is None else findings
    scan = Scan(
        id=new_scan_id(started),
        started_at=started,
        finished_at=started + took,
        status=status,
        counts=count_by_status(findings),
        subscriptions=[SUBSCRIPTION],
        vault_count=7,
        certificate_count=len(findings),
    )
    return ScanResult(scan=scan, findings=findings)


class RecordingTableClient(TableClient):
    """A real TableClient that records each transaction and raises ``fail_with`` on the ``fail_on``-th."""

    fail_on: int | None = None
    fail_with: BaseException = ServiceRequestError("injected: connection reset by peer")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transactions: list[list[Any]] = []

    def submit_transaction(self, operations: Any, **kwargs: Any) -> Any:
        operations = list(operations)
        self.transactions.append(operations)
        if self.fail_on is not None and len(self.transactions) == self.fail_on:
            raise self.fail_with
        return super().submit_transaction(operations, **kwargs)


class ServiceWithRecordedTable(TableServiceClient):
    """A real TableServiceClient whose client for one table is a RecordingTableClient."""

    recorded_table: str = ""
    connection_string: str = ""
    recorder: RecordingTableClient | None = None

    def get_table_client(self, table_name: str, **kwargs: Any) -> TableClient:
        if table_name != self.recorded_table:
            return super().get_table_client(table_name, **kwargs)
        recorder = RecordingTableClient.from_connection_string(self.connection_string, table_name)
        assert isinstance(recorder, RecordingTableClient)
        self.recorder = recorder
        return recorder


def recording_store(
    connection_string: str, tables: dict[str, Any], *, fail_on: int | None = None, **kwargs: Any
) -> tuple[FindingsStore, RecordingTableClient]:
    service = ServiceWithRecordedTable.from_connection_string(connection_string)
    assert isinstance(service, ServiceWithRecordedTable)
    service.recorded_table = tables["findings_table"]
    service.connection_string = connection_string
    store = FindingsStore(service, **tables, **kwargs)
    assert service.recorder is not None
    service.recorder.fail_on = fail_on
    return store, service.recorder


def test_a_saved_scan_reads_back_as_the_latest_with_the_same_findings(findings_store: FindingsStore) -> None:
    findings = [
        finding(1),
        finding(1, rule_id=RULE_EXPIRY, severity=Severity.MEDIUM, reason="Expires in 20 days."),
        finding(
            2, status=Status.COMPLIANT, lifetime_action="AutoRenew", days_before_expiry=None, lifetime_percentage=9
        ),
        finding(3, certificate_name=None, certificate_id=None, status=Status.NOT_ASSESSED, error_code="Forbidden"),
        finding(4, vault_name=None, vault_uri=None, certificate_name=None, certificate_id=None, expires_on=None),
        finding(5, expires_on=datetime(2027, 1, 19, 8, 55, 1, 123456, tzinfo=UTC)),
    ]
    result = scan_result(findings)

    findings_store.save(result)
    latest = findings_store.latest()

    assert latest is not None
    assert latest.scan == result.scan
    assert latest.findings == findings  # same values, same order
    assert latest.to_document() == result.to_document()
    assert findings_store.get(result.scan.id) == latest


def test_an_empty_store_has_no_latest_scan_and_creates_no_table_when_read(
    findings_store: FindingsStore, azurite_connection_string: str, store_tables: dict[str, str]
) -> None:
    assert findings_store.latest() is None
    assert findings_store.list_scans() == []
    assert findings_store.get("20260301T060000Z-00000000") is None
    assert findings_store.list_remediations() == []
    assert findings_store.purge(90) == 0
    with TableServiceClient.from_connection_string(azurite_connection_string) as service:
        names = {table.name for table in service.list_tables()}
    assert not names & set(store_tables.values())


def test_tables_are_created_on_the_first_save(
    findings_store: FindingsStore, azurite_connection_string: str, store_tables: dict[str, str]
) -> None:
    findings_store.save(scan_result())
    with TableServiceClient.from_connection_string(azurite_connection_string) as service:
        names = {table.name for table in service.list_tables()}
    assert {store_tables["scans_table"], store_tables["findings_table"]} <= names


def test_list_scans_is_newest_first_and_includes_unfinished_ones(findings_store: FindingsStore) -> None:
    old = scan_result(started=T0)
    middle = scan_result(started=T0 + timedelta(days=1), status=ScanStatus.FAILED, findings=[])
    new = scan_result(started=T0 + timedelta(days=2), status=ScanStatus.PARTIAL)
    for result in (middle, new, old):  # stored out of order on purpose
        findings_store.save(result)

    scans = findings_store.list_scans()

    assert [s.id for s in scans] == [new.scan.id, middle.scan.id, old.scan.id]
    assert [s.status for s in scans] == [ScanStatus.PARTIAL, ScanStatus.FAILED, ScanStatus.COMPLETED]
    assert [s.id for s in findings_store.list_scans(limit=2)] == [new.scan.id, middle.scan.id]
    assert scans[0] == new.scan


def test_a_failed_scan_is_listed_but_never_the_latest(findings_store: FindingsStore) -> None:
    done = scan_result(started=T0)
    failed = scan_result(started=T0 + timedelta(hours=1), status=ScanStatus.FAILED)
    findings_store.save(done)
    findings_store.save(failed)

    latest = findings_store.latest()
    assert latest is not None
    assert latest.scan.id == done.scan.id
    stored_failed = findings_store.get(failed.scan.id)
    assert stored_failed is not None
    assert stored_failed.scan.status == ScanStatus.FAILED


def test_250_findings_go_in_at_least_3_transactions_of_at_most_100_and_all_read_back(
    azurite_connection_string: str, store_tables: dict[str, str], findings_store: FindingsStore
) -> None:
    # One finding per page (tiny pages), so 250 findings are 250 entities: 100 + 100 + 50.
    limits = StoreLimits(part_chars=1_000, page_parts=1)
    store, recorder = recording_store(azurite_connection_string, store_tables, limits=limits)
    findings = [finding(i) for i in range(250)]

    store.save(scan_result(findings))

    assert len(recorder.transactions) >= 3
    assert all(len(ops) <= 100 for ops in recorder.transactions)
    for ops in recorder.transactions:
        assert len({entity["PartitionKey"] for _, entity, *_ in ops}) == 1
    latest = findings_store.latest()  # another store (another client) reads them all back
    assert latest is not None
    assert latest.findings == findings


def test_a_large_scan_stays_within_the_service_limits(
    azurite_connection_string: str, store_tables: dict[str, str]
) -> None:
    """Azurite does not enforce these limits; the store must (1 MiB entities, 64 KiB strings, 4 MiB requests)."""
    store, recorder = recording_store(azurite_connection_string, store_tables)
    findings = [finding(i, reason=f"{i}: " + "why this matters " * 120) for i in range(3_000)]  # ~7 MB of JSON

    store.save(scan_result(findings))

    assert len(recorder.transactions) >= 2
    for ops in recorder.transactions:
        assert len(ops) <= 100
        assert len(json.dumps([entity for _, entity, *_ in ops], default=str)) < 4 * 1024 * 1024
        for _, entity, *_ in ops:
            assert len(entity) <= 252
            strings = {name: value for name, value in entity.items() if isinstance(value, str)}
            assert all(len(value.encode("utf-16-le")) <= 64 * 1024 for value in strings.values())
            size = sum(8 + 2 * len(name) + 4 + len(value.encode("utf-16-le")) for name, value in strings.items())
            assert 4 + size < 1024 * 1024
    latest = store.latest()
    assert latest is not None
    assert latest.findings == findings


def test_a_write_rejected_mid_scan_leaves_the_previous_scan_as_the_latest(
    azurite_connection_string: str, store_tables: dict[str, str], findings_store: FindingsStore
) -> None:
    before = scan_result(started=T0)
    findings_store.save(before)
    limits = StoreLimits(part_chars=1_000, page_parts=1)
    store, recorder = recording_store(azurite_connection_string, store_tables, fail_on=2, limits=limits)
    broken = scan_result([finding(i) for i in range(250)], started=T0 + timedelta(days=1))

    with pytest.raises(StoreError, match="could not write findings") as raised:
        store.save(broken)

    assert len(recorder.transactions) == 2  # the first batch went in, the second failed, no third
    assert "connection" in str(raised.value)
    latest = findings_store.latest()
    assert latest is not None
    assert latest.scan.id == before.scan.id
    assert latest.findings == before.findings
    listed = findings_store.list_scans()
    assert [s.id for s in listed] == [broken.scan.id, before.scan.id]
    assert listed[0].status == ScanStatus.FAILED
    assert "rejected a write" in listed[0].problems[-1]
    stored = findings_store.get(broken.scan.id)
    assert stored is not None
    assert stored.findings == []  # never half a scan


def test_a_process_that_dies_mid_write_leaves_the_previous_scan_as_the_latest(
    azurite_connection_string: str, store_tables: dict[str, str], findings_store: FindingsStore
) -> None:
    before = scan_result(started=T0)
    findings_store.save(before)
    limits = StoreLimits(part_chars=1_000, page_parts=1)
    store, recorder = recording_store(azurite_connection_string, store_tables, fail_on=2, limits=limits)
    recorder.fail_with = KeyboardInterrupt()  # nothing in the store runs after this: like a killed host
    dying = scan_result([finding(i) for i in range(250)], started=T0 + timedelta(days=1))

    with pytest.raises(KeyboardInterrupt):
        store.save(dying)

    latest = findings_store.latest()
    assert latest is not None
    assert latest.scan.id == before.scan.id
    listed = findings_store.list_scans()
    assert listed[0].id == dying.scan.id
    assert listed[0].status == ScanStatus.RUNNING
    # ...and the retention purge still finds and removes it with its partial findings.
    assert findings_store.purge(1, now=T0 + timedelta(days=30)) == 2
    assert findings_store.list_scans() == []


@pytest.mark.parametrize("finishing_last", ["started_first", "started_second"])
def test_of_two_concurrent_scans_the_latest_is_the_one_that_finished_last(
    findings_store_factory: Callable[..., FindingsStore], finishing_last: str
) -> None:
    first = scan_result([finding(i) for i in range(40)], started=T0, took=timedelta(minutes=10))
    second_took = timedelta(minutes=20) if finishing_last == "started_second" else timedelta(minutes=2)
    later = T0 + timedelta(minutes=1)
    second = scan_result([finding(i, reason="second") for i in range(40)], started=later, took=second_took)
    stores = [findings_store_factory(), findings_store_factory()]  # two processes: the timer and a CLI run
    barrier = threading.Barrier(2)

    def run(store: FindingsStore, result: ScanResult) -> None:
        barrier.wait()
        store.save(result)

    with ThreadPoolExecutor(2) as pool:
        saves = [pool.submit(run, store, result) for store, result in zip(stores, (first, second), strict=True)]
        for save in saves:
            save.result(timeout=60)  # re-raises what a save raised
    expected = second if finishing_last == "started_second" else first
    latest = stores[0].latest()
    assert latest is not None
    assert latest.scan.id == expected.scan.id
    assert latest.findings == expected.findings
    assert {s.status for s in stores[1].list_scans()} == {ScanStatus.COMPLETED}


def test_previous_is_the_scan_that_finished_before(findings_store: FindingsStore) -> None:
    results = [scan_result(started=T0 + timedelta(days=day)) for day in range(3)]
    for result in results:
        findings_store.save(result)
    findings_store.save(scan_result(started=T0 + timedelta(days=1, hours=1), status=ScanStatus.FAILED))

    previous = findings_store.previous(results[2].scan.id)
    assert previous is not None
    assert previous.scan.id == results[1].scan.id
    assert previous.findings == results[1].findings
    earliest = findings_store.previous(results[1].scan.id)
    assert earliest is not None
    assert earliest.scan.id == results[0].scan.id
    assert findings_store.previous(results[0].scan.id) is None
    assert findings_store.previous("20990101T000000Z-unknown") is None


def test_retention_deletes_old_scans_and_their_findings_and_keeps_recent_ones(
    findings_store: FindingsStore, azurite_connection_string: str, store_tables: dict[str, str]
) -> None:
    now = T0 + timedelta(days=200)
    ages = (120, 91, 89, 1)
    results = {age: scan_result([finding(i) for i in range(5)], started=now - timedelta(days=age)) for age in ages}
    for result in results.values():
        findings_store.save(result)

    assert findings_store.purge(90, now=now) == 2

    assert [s.id for s in findings_store.list_scans()] == [results[1].scan.id, results[89].scan.id]
    assert findings_store.get(results[120].scan.id) is None
    assert findings_store.get(results[91].scan.id) is None
    kept = findings_store.get(results[89].scan.id)
    assert kept is not None
    assert kept.findings == results[89].findings
    with TableClient.from_connection_string(azurite_connection_string, store_tables["findings_table"]) as table:
        partitions = {entity["PartitionKey"] for entity in table.list_entities(select=["PartitionKey"])}
    assert partitions == {results[89].scan.id, results[1].scan.id}
    assert findings_store.purge(90, now=now) == 0


def test_a_100_kib_reason_round_trips_and_a_huge_one_is_cut_with_a_marker(findings_store: FindingsStore) -> None:
    long_reason = "The service said: " + "x" * (100 * 1024)
    huge_reason = "é" * (2 * 1024 * 1024)  # 2 Mi characters, 12 MB as JSON escapes: cannot fit one entity
    findings = [finding(1, reason=long_reason), finding(2, reason=huge_reason), finding(3)]

    findings_store.save(scan_result(findings))

    latest = findings_store.latest()
    assert latest is not None
    assert latest.findings[0] == findings[0]
    assert latest.findings[2] == findings[2]
    cut = latest.findings[1]
    assert cut.reason.startswith("ééé")
    assert "[cut by the findings store:" in cut.reason
    assert cut.certificate_name == "cert-2"
    assert cut.key == findings[1].key


def test_hostile_and_non_ascii_names_come_back_clean(findings_store: FindingsStore) -> None:
    hostile = ("a/b\\c#d?e\x00\x01\x1f\x7f\x85\t\n" * 30)[:300]
    findings = [
        finding(1, certificate_name=hostile, vault_name="v/\\#?" * 10),
        finding(2, certificate_name="証明書-é-🔐-\u202e-\ufeff", reason="Ünïcödé reason — “quoted” 🔐"),
        finding(3, certificate_name="lone-surrogate-\ud800-end", reason="line 1\nline 2\r\n"),
        finding(4, certificate_name="'; DROP TABLE scans; --", reason="' or PartitionKey ne ''"),
    ]
    result = scan_result(findings)
    result.scan.problems.append("webhook said: \x00 / \\ # ? 🔐")

    findings_store.save(result)

    latest = findings_store.latest()
    assert latest is not None
    # Stored as given (an older version may have stored raw text), read back cleaned (SPEC §4): lone
    # surrogates become U+FFFD, control and bidirectional characters go, everything else survives.
    clean = [
        dataclasses.replace(
            f,
            certificate_name=clean_text(f.certificate_name or ""),
            vault_name=clean_text(f.vault_name or ""),
            reason=clean_text(f.reason),
        )
        for f in findings
    ]
    assert latest.findings == clean
    assert latest.findings[1].certificate_name == "証明書-é-🔐--\ufeff"
    assert latest.findings[2].certificate_name == "lone-surrogate-\ufffd-end"
    assert latest.findings[2].reason == "line 1\nline 2\r\n"
    assert latest.scan.problems == ["webhook said:  / \\ # ? 🔐"]
    json.dumps(latest.to_document(), ensure_ascii=False).encode("utf-8")  # no step after the store can fail on it


def test_an_unreachable_store_raises_a_store_error_quickly_without_the_key() -> None:
    port = free_port()  # nothing listens there
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    store = FindingsStore.from_connection_string(connection)
    started = time.monotonic()

    with pytest.raises(StoreError) as raised:
        store.save(scan_result())

    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert ACCOUNT_KEY not in message
    assert ACCOUNT_KEY[:12] not in message
    assert f"127.0.0.1:{port}" in message
    assert "could not be reached" in message
    with pytest.raises(StoreError):
        store.latest()


def test_a_sas_connection_string_never_shows_its_signature(azurite: Any) -> None:
    signature = "sv=2019-02-02&ss=t&srt=sco&sp=rwdlacu&se=2099-01-01T00:00:00Z&sig=SECRETSIGNATURE%3D"
    connection = f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;SharedAccessSignature={signature}"
    store = FindingsStore.from_connection_string(connection)

    with pytest.raises(StoreError) as raised:
        store.list_scans()

    assert "SECRETSIGNATURE" not in str(raised.value)


def test_a_rejected_request_carries_the_service_error_code(azurite_connection_string: str) -> None:
    wrong_key = azurite_connection_string.replace(ACCOUNT_KEY, "d3Jvbmcga2V5" * 8)
    store = FindingsStore.from_connection_string(wrong_key)

    with pytest.raises(StoreError) as raised:
        store.save(scan_result())

    assert raised.value.status_code == 403
    assert raised.value.code == "AuthorizationFailure"
    assert "d3Jvbmcga2V5" not in str(raised.value)


def test_record_problem_shows_in_list_scans_and_latest(findings_store: FindingsStore) -> None:
    result = scan_result()
    findings_store.save(result)

    findings_store.record_problem(result.scan.id, "webhook failed after 4 attempts: HTTP 500")

    latest = findings_store.latest()
    assert latest is not None
    assert latest.scan.problems == ["webhook failed after 4 attempts: HTTP 500"]
    assert latest.findings == result.findings
    assert findings_store.list_scans()[0].problems == ["webhook failed after 4 attempts: HTTP 500"]
    stored = findings_store.get(result.scan.id)
    assert stored is not None
    assert stored.scan.problems == ["webhook failed after 4 attempts: HTTP 500"]


def test_problems_recorded_at_once_are_all_kept(findings_store_factory: Callable[..., FindingsStore]) -> None:
    store = findings_store_factory()
    result = scan_result()
    store.save(result)
    others = [findings_store_factory() for _ in range(6)]

    with ThreadPoolExecutor(len(others)) as pool:
        calls = [pool.submit(other.record_problem, result.scan.id, f"problem {n}") for n, other in enumerate(others)]
        for call in calls:
            call.result(timeout=60)

    latest = store.latest()
    assert latest is not None
    assert sorted(latest.scan.problems) == [f"problem {n}" for n in range(6)]


def test_a_very_long_problem_is_shortened_not_refused(findings_store: FindingsStore) -> None:
    result = scan_result()
    findings_store.save(result)

    findings_store.record_problem(result.scan.id, "HTTP 500: " + "<html>" * 50_000)
    for n in range(40):
        findings_store.record_problem(result.scan.id, f"problem {n}: " + "y" * 3_000)

    problems = findings_store.list_scans()[0].problems
    assert problems[0].startswith("HTTP 500: <html>")
    assert "more characters]" in problems[0]
    assert problems[-1].startswith("... and ")
    assert problems[-1].endswith("more problems not stored")


def test_record_problem_on_an_unknown_scan_is_a_store_error(findings_store: FindingsStore) -> None:
    findings_store.save(scan_result())
    with pytest.raises(StoreError, match="no stored scan"):
        findings_store.record_problem("20990101T000000Z-nothere", "webhook failed")


def test_remediation_records_round_trip_newest_first(findings_store: FindingsStore) -> None:
    first = {
        "when": "2026-03-01T06:00:00Z",
        "identity": "guard-identity",
        "vault": "cc-webapp-key-vault",
        "certificate": "cloudconformity",
        "before": "EmailContacts at 3 days before expiry",
        "after": "AutoRenew at 30 days before expiry",
        "outcome": "applied",
        "attempt": 1,
    }
    second = {**first, "when": "2026-03-02T06:00:00Z", "outcome": "failed: Forbidden", "odd key!": "kept", "big": 2**40}

    findings_store.record_remediation(first)
    findings_store.record_remediation(second)

    assert findings_store.list_remediations() == [second, first]
    assert findings_store.list_remediations(limit=1) == [second]


def test_store_from_settings_needs_a_configured_store() -> None:
    with pytest.raises(StoreError, match="No findings store is configured"):
        FindingsStore.from_settings(Settings())
    with pytest.raises(StoreError, match="no credential"):
        FindingsStore.from_settings(Settings(table_endpoint="https://account.table.core.windows.net"))


def test_store_from_settings_uses_the_connection_string(
    azurite_connection_string: str, store_tables: dict[str, Any]
) -> None:
    settings = Settings.from_env({"FINDINGS_STORAGE_CONNECTION": azurite_connection_string})
    with FindingsStore.from_settings(settings, **store_tables) as store:
        result = scan_result()
        store.save(result)
        latest = store.latest()
    assert latest is not None
    assert latest.scan.id == result.scan.id


def test_an_explicit_table_endpoint_wins_over_azure_web_jobs_storage() -> None:
    class NoTokens:  # a TokenCredential that is never asked: constructing the store does no I/O
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise AssertionError("no request expected")

    settings = Settings.from_env(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "FINDINGS_TABLE_ENDPOINT": "https://guardstore.table.core.windows.net",
        }
    )
    store = FindingsStore.from_settings(settings, NoTokens())
    assert "guardstore.table.core.windows.net" in store.endpoint


def test_an_incomplete_connection_string_is_a_store_error_that_hides_it() -> None:
    with pytest.raises(StoreError, match="incomplete") as raised:
        FindingsStore.from_connection_string("AccountName=devstoreaccount1;Secretish=abc123")
    assert "abc123" not in str(raised.value)


def test_a_missing_azurite_says_to_run_npm_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tests.azurite, "AZURITE_TABLE", tests.azurite.ROOT / "node_modules" / ".bin" / "nothing-here")
    with pytest.raises(AzuriteNotInstalled, match="run `npm ci`"), start_azurite():
        pass


def test_purge_refuses_a_retention_below_one_day(findings_store: FindingsStore) -> None:
    with pytest.raises(StoreError, match="at least one day"):
        findings_store.purge(0)


# --- manual posts: POST /api/alerts at most once per window ----------------------------------------------------


def test_a_scan_posted_by_hand_four_minutes_ago_waits_six_more(findings_store: FindingsStore) -> None:
    result = scan_result()
    findings_store.save(result)
    scan_id = result.scan.id
    window = timedelta(minutes=10)

    assert findings_store.claim_manual_post(scan_id, now=T0, window=window) is None
    assert findings_store.claim_manual_post(scan_id, now=T0 + timedelta(minutes=4), window=window) == timedelta(
        minutes=6
    )
    assert findings_store.claim_manual_post(scan_id, now=T0 + timedelta(minutes=10), window=window) is None
    assert findings_store.claim_manual_post(scan_id, now=T0 + timedelta(minutes=11), window=window) == timedelta(
        minutes=9
    )
    latest = findings_store.latest()
    assert latest is not None
    assert latest.findings == result.findings, "marking the post changes nothing else"


def test_a_post_that_delivered_nothing_can_be_repeated_at_once(findings_store: FindingsStore) -> None:
    result = scan_result()
    findings_store.save(result)
    window = timedelta(minutes=10)
    assert findings_store.claim_manual_post(result.scan.id, now=T0, window=window) is None

    findings_store.release_manual_post(result.scan.id, claimed_at=T0 - timedelta(seconds=1))  # not its claim
    assert findings_store.claim_manual_post(result.scan.id, now=T0 + timedelta(minutes=1), window=window) is not None
    findings_store.release_manual_post(result.scan.id, claimed_at=T0)
    assert findings_store.claim_manual_post(result.scan.id, now=T0 + timedelta(minutes=1), window=window) is None


def test_two_posts_at_once_cannot_both_claim_the_scan(findings_store: FindingsStore) -> None:
    result = scan_result()
    findings_store.save(result)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda _: findings_store.claim_manual_post(result.scan.id, now=T0, window=timedelta(minutes=10)),
                range(4),
            )
        )
    assert answers.count(None) == 1


def test_the_same_problem_recorded_twice_is_one_line(findings_store: FindingsStore) -> None:
    result = scan_result()
    findings_store.save(result)
    for _ in range(3):
        findings_store.record_problem(result.scan.id, "The alert webhook failed: HTTP 400")
    findings_store.record_problem(result.scan.id, "The alert webhook failed: HTTP 500")
    stored = findings_store.get(result.scan.id)
    assert stored is not None
    assert stored.scan.problems.count("The alert webhook failed: HTTP 400") == 1
    assert "The alert webhook failed: HTTP 500" in stored.scan.problems
