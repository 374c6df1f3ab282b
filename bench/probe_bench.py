"""What ServedCertificate's TLS probe adds to a scan (docs/BENCHMARKS.md, "TLS probe").

    python -m bench.probe_bench                     # 1,000 hostnames, 20 ms ServerHello delay, 3 rounds
    python -m bench.probe_bench --hosts 1000 --delay-ms 20 --rounds 3 --concurrency 32

The frontends (tests/fakeazure/tls.py, the vault's own certificate chosen by SNI) run in a child process
that holds every ServerHello back ``--delay-ms``, so the client's CPU is measured alone. The probe step is
the scan's last read and runs after the vaults, so its wall time is what it adds to the scan. Each round
runs, alternately, the app's probe (``shared.azure.probe.probe_hostnames``: asyncio) plus the rule over
every hostname, and a thread-pool variant of the same handshake (``socket`` + ``ssl.wrap_socket`` in
``PROBE_CONCURRENCY`` threads) for comparison; the machine is shared, so alternating keeps drift fair.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_ADDED_WALL_SECONDS = 10.0


def bench_estate(hosts: int) -> dict[str, Any]:
    from tests.fakeazure import cert, estate, subscription, vault
    from tests.fakeazure.services import gateway, ssl_certificate

    sub = subscription("Bench", vault("bench-kv", cert("web-tls", "Self", [("AutoRenew", {"days_before_expiry": 30})])))
    names = [f"host-{n:04d}.bench.contoso.com" for n in range(hosts)]
    sub["services"] = [gateway("appgw-bench", ssl_certificate("web", "bench-kv", "web-tls", hostnames=names))]
    return estate(sub)


def serve(hosts: int, delay: float, ready: Path) -> None:
    """The child: frontends for the bench estate; writes PROBE_CONNECT_TO and the current version's
    thumbprint to ``ready`` and serves until SIGTERM."""
    import hashlib

    from tests.fakeazure import wire
    from tests.fakeazure.estate import Estate
    from tests.fakeazure.tls import TlsFrontends

    model = Estate.from_dict(bench_estate(hosts))
    frontends = TlsFrontends(model, delay=delay).start()
    certificate = model.vault("bench-kv").certificate("web-tls")
    assert certificate is not None
    thumbprint = hashlib.sha1(wire.certificate_der(certificate), usedforsecurity=False).digest()
    info = {"connect_to": frontends.connect_to(), "x5t": wire.b64url(thumbprint), "version": certificate.version}
    partial = ready.with_suffix(".tmp")
    partial.write_text(json.dumps(info))
    partial.rename(ready)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    frontends.stop()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_app_probe(names: Sequence[str], info: dict[str, Any], concurrency: int) -> dict[str, float]:
    from shared.azure.probe import ProbeOptions, probe_hostnames
    from shared.models import Binding, CertificateVersion, Vault
    from shared.rules import ServedTarget, check_served
    from shared.settings import Settings

    settings = Settings.from_env({"PROBE_CONNECT_TO": info["connect_to"], "PROBE_CONCURRENCY": str(concurrency)})
    options = ProbeOptions(settings.probe_timeout_seconds, settings.probe_concurrency, settings.probe_connect_to)
    vault = Vault("s", "bench-kv", "https://bench-kv.vault.azure.net/")
    binding = Binding("s", "/subscriptions/s/x", "Microsoft.Network/applicationGateways", "appgw", "web",
                      certificate_name="web-tls", hostnames=tuple(names))  # fmt: skip
    current = CertificateVersion(info["version"], info["x5t"], created_on=datetime.now(UTC))
    start_wall, start_cpu = time.perf_counter(), cpu_seconds()
    probes = probe_hostnames(names, options)
    now = datetime.now(UTC)
    findings = [check_served(binding, probes[n], ServedTarget(vault, current), now=now) for n in names]
    wall, cpu = time.perf_counter() - start_wall, cpu_seconds() - start_cpu
    compliant = sum(1 for f in findings if f.status == "compliant")
    for finding in findings:
        if finding.status != "compliant":
            print(f"  not compliant: {finding.reason[:300]}", file=sys.stderr)
            break
    return {"wall": wall, "cpu": cpu, "ok": compliant}


def run_threads(names: Sequence[str], info: dict[str, Any], concurrency: int) -> dict[str, float]:
    """The same handshake with blocking sockets in a thread pool: the alternative not taken."""
    mapping = {}
    for entry in info["connect_to"].split(","):
        host, _, connect_host, connect_port = entry.split(":")
        mapping[host] = (connect_host, int(connect_port))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def one(name: str) -> bool:
        host, port = mapping[name]
        for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            with socket.socket(family, kind, proto) as raw:
                raw.settimeout(10)
                raw.connect(address)
                with context.wrap_socket(raw, server_hostname=name) as tls:
                    return bool(tls.getpeercert(binary_form=True))
        return False

    start_wall, start_cpu = time.perf_counter(), cpu_seconds()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        ok = sum(pool.map(one, names))
    return {"wall": time.perf_counter() - start_wall, "cpu": cpu_seconds() - start_cpu, "ok": ok}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.hosts, args.delay_ms / 1000, args.serve)
        return 0

    with tempfile.TemporaryDirectory(prefix="probe-bench-") as folder:
        ready = Path(folder) / "ready.json"
        command = [sys.executable, "-m", "bench.probe_bench", "--hosts", str(args.hosts),
                   "--delay-ms", str(args.delay_ms), "--serve", str(ready)]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(command, cwd=ROOT, env=env)
        try:
            deadline = time.monotonic() + 120
            while not ready.exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    print("the frontends did not start", file=sys.stderr)
                    return 2
                time.sleep(0.05)
            info = json.loads(ready.read_text())
            names = [f"host-{n:04d}.bench.contoso.com" for n in range(args.hosts)]
            runs: dict[str, list[dict[str, float]]] = {"asyncio (the app)": [], "threads": []}
            variants: dict[str, Callable[..., dict[str, float]]] = {
                "asyncio (the app)": run_app_probe,
                "threads": run_threads,
            }
            for number in range(args.rounds):
                for label, run in variants.items():
                    result = run(names, info, args.concurrency)
                    runs[label].append(result)
                    print(
                        f"round {number + 1} {label:<18} wall {result['wall']:.2f} s  cpu {result['cpu']:.2f} s  "
                        f"cpu/probe {1000 * result['cpu'] / args.hosts:.2f} ms  served the current version: "
                        f"{int(result['ok'])}/{args.hosts}",
                        flush=True,
                    )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    print()
    for label, results in runs.items():
        wall = statistics.median(r["wall"] for r in results)
        cpu = statistics.median(r["cpu"] for r in results)
        print(f"median {label:<18} wall {wall:.2f} s  cpu/probe {1000 * cpu / args.hosts:.2f} ms")
    added = statistics.median(r["wall"] for r in runs["asyncio (the app)"])
    verdict = "meets" if added <= TARGET_ADDED_WALL_SECONDS else "misses"
    print(f"{args.hosts} hostnames add {added:.2f} s to a scan: {verdict} the {TARGET_ADDED_WALL_SECONDS:g} s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
