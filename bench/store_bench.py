"""How long storing a large scan takes: 10,000 synthetic findings into a fresh Azurite.

    python -m bench.store_bench                    # the figure in docs/STORE.md
    python -m bench.store_bench --findings 50000 --repeat 3
    python -m bench.store_bench --compare-rows     # also: one entity per finding (the design not taken)

Azurite's start is not timed. ``save`` is timed end to end (tables created, scan announced, findings
written, scan completed), then ``latest`` reads everything back and is checked against what was written.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from azure.data.tables import TableServiceClient, UpdateMode

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
from shared.store import FindingsStore
from tests.azurite import start_azurite


def synthetic_findings(count: int) -> list[Finding]:
    """Realistic sizes: two rules per certificate, 50 certificates per vault, full-sentence reasons."""
    findings: list[Finding] = []
    expires = datetime(2027, 1, 19, 8, 55, tzinfo=UTC)
    for number in range(count):
        certificate, rule = divmod(number, 2)
        vault = f"kv-estate-{certificate // 50:04d}"
        subscription = f"00000000-0000-0000-0000-{certificate // 5000:012d}"
        autorenew = rule == 0
        findings.append(
            Finding(
                rule_id=RULE_AUTORENEW if autorenew else RULE_EXPIRY,
                status=Status.NON_COMPLIANT if certificate % 3 else Status.COMPLIANT,
                severity=Severity.HIGH if autorenew else Severity.MEDIUM,
                subscription_id=subscription,
                vault_name=vault,
                vault_uri=f"https://{vault}.vault.azure.net/",
                certificate_name=f"webapp-certificate-{certificate:06d}",
                certificate_id=f"https://{vault}.vault.azure.net/certificates/webapp-certificate-{certificate:06d}",
                issuer="Self",
                lifetime_action="EmailContacts",
                days_before_expiry=30,
                lifetime_percentage=None,
                expires_on=expires + timedelta(days=certificate % 400),
                reason=(
                    "Only EmailContacts is configured (30 days before expiry); set the lifetime action to AutoRenew."
                    if autorenew
                    else f"The certificate expires on {(expires + timedelta(days=certificate % 400)):%Y-%m-%d}."
                ),
                vault_id=f"/subscriptions/{subscription}/resourceGroups/rg-estate/providers/Microsoft.KeyVault/vaults/{vault}",
            )
        )
    return findings


def store_once(connection_string: str, findings: list[Finding], run: int) -> tuple[float, float]:
    started = datetime.now(UTC)
    scan = Scan(
        id=new_scan_id(started),
        started_at=started,
        finished_at=started + timedelta(minutes=3),
        status=ScanStatus.COMPLETED,
        counts=count_by_status(findings),
        certificate_count=len(findings) // 2,
    )
    tables = {"scans_table": f"benchscans{run}", "findings_table": f"benchfindings{run}"}
    with FindingsStore.from_connection_string(connection_string, **tables) as store:
        clock = time.perf_counter()
        store.save(ScanResult(scan, findings))
        saved = time.perf_counter() - clock
        clock = time.perf_counter()
        latest = store.latest()
        read = time.perf_counter() - clock
    assert latest is not None
    assert latest.scan.id == scan.id
    assert latest.findings == findings, "what was read back differs from what was written"
    return saved, read


def one_row_per_finding(connection_string: str, findings: list[Finding]) -> float:
    """The design not taken: one entity per finding, 100 per transaction (upsert, as a retry-safe write)."""
    service = TableServiceClient.from_connection_string(connection_string)
    table = service.create_table_if_not_exists("benchrows")
    entities = [
        {"PartitionKey": "scan", "RowKey": f"{n:08d}", **{k: v for k, v in f.to_dict().items() if v is not None}}
        for n, f in enumerate(findings)
    ]
    clock = time.perf_counter()
    for start in range(0, len(entities), 100):
        table.submit_transaction([("upsert", e, {"mode": UpdateMode.REPLACE}) for e in entities[start : start + 100]])
    return time.perf_counter() - clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh tables each time; the median is reported")
    parser.add_argument("--compare-rows", action="store_true", help="also time one entity per finding")
    args = parser.parse_args()

    findings = synthetic_findings(args.findings)
    with start_azurite() as azurite:
        runs = [store_once(azurite.connection_string, findings, run) for run in range(args.repeat)]
        saves = [saved for saved, _ in runs]
        reads = [read for _, read in runs]
        print(
            f"store.save({args.findings:,} findings) into Azurite: median {statistics.median(saves):.2f} s "
            f"(runs: {', '.join(f'{s:.2f}' for s in saves)})"
        )
        print(f"store.latest() reading them back: median {statistics.median(reads):.2f} s")
        if args.compare_rows:
            rows = one_row_per_finding(azurite.connection_string, findings)
            print(f"one entity per finding (100 per transaction), for comparison: {rows:.2f} s")


if __name__ == "__main__":
    main()
