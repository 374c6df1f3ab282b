"""How long the export to Azure Monitor Logs takes: 20,000 findings through the real azure-monitor-ingestion
client to the local HTTPS fake of the Logs Ingestion endpoint (tests/fakeazure/ingestion.py).

    python -m bench.export_bench                   # the figure in docs/BENCHMARKS.md
    python -m bench.export_bench --findings 100000 --repeat 3

The token comes from the fake managed-identity endpoint and is fetched once before timing (a warm Functions
worker keeps it). Timed per run: building the rows, then ``LogsExporter.export`` end to end (rows, JSON,
gzip, one request per chunk under 1 MB, the fake's decompression and checks of every row). CPU is the
calling thread's own (``RUSAGE_THREAD``): the SDK works in it, the fake's event loop runs in another.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time

from bench.store_bench import synthetic_findings
from shared.azure.clients import AzureClients
from shared.export import LogsExporter, finding_rows
from shared.export.columns import COLUMNS_FILE
from shared.models import Scan, ScanResult, ScanStatus, count_by_status, utcnow
from shared.settings import Settings
from tests.fakeazure import FakeAzure, cert, estate, subscription, vault
from tests.fakeazure.ingestion import FakeLogsIngestion


def thread_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    findings = synthetic_findings(args.findings)
    now = utcnow()
    scan = Scan(
        id="bench", started_at=now, finished_at=now, status=ScanStatus.COMPLETED, counts=count_by_status(findings)
    )
    result = ScanResult(scan=scan, findings=findings)
    columns = json.loads(COLUMNS_FILE.read_text(encoding="utf-8"))

    with (
        FakeAzure(estate(subscription("Bench", vault("bench-kv", cert("x"))))) as azure,
        FakeLogsIngestion(columns) as fake,
    ):
        for name in [n for n in os.environ if n.startswith(("AZURE_", "MSI_", "IDENTITY_", "IMDS_"))]:
            del os.environ[name]
        os.environ.update(azure.env)
        credential = AzureClients(Settings.from_env()).credential
        exporter = LogsExporter(fake.endpoint, fake.rule_id, fake.stream, credential)
        exporter.export(ScanResult(scan=scan, findings=findings[:10]))  # the token, fetched once

        walls, cpus, row_cpus = [], [], []
        for _ in range(args.repeat):
            fake.batches.clear()
            started, cpu = time.perf_counter(), thread_cpu()
            finding_rows(scan, findings)
            row_cpus.append(thread_cpu() - cpu)
            started, cpu = time.perf_counter(), thread_cpu()
            outcome = exporter.export(result)
            walls.append(time.perf_counter() - started)
            cpus.append(thread_cpu() - cpu)
            assert outcome.error is None, outcome.error
            assert len(fake.rows) == args.findings
        sizes = [b.content_length for b in fake.batches]
        exporter.close()

    print(f"{args.findings:,} findings, {args.repeat} runs (median):")
    print(f"  export wall {statistics.median(walls):.2f} s, client CPU {statistics.median(cpus):.2f} s")
    print(f"  of which building the rows: CPU {statistics.median(row_cpus):.3f} s")
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"  {outcome.requests} requests, gzip bodies {min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KiB "
        f"({sum(sizes) / 1024 / 1024:.1f} MiB in all)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
