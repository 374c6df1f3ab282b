"""Scan throughput, CPU and memory on a synthetic estate (docs/BENCHMARKS.md).

    python -m bench.scan_bench                      # 10,000 certificates in 200 vaults, 20 ms, 5 % 429s
    python -m bench.scan_bench --store --baseline-sample 10 --profile docs/profile-10k.html
    python -m bench.scan_bench --vaults 2000 --certs 50 --baseline-sample 0     # 100,000 certificates
    python -m bench.scan_bench --floor 300          # CPU per GET, layer by layer (no scan)

The fake Azure (``python -m tests.fakeazure serve --synthetic ...``) runs in its own process, so the
client's CPU is measured alone; it counts the requests it answers and its own CPU (``--stats-file``,
refreshed on SIGUSR1). Every measured scan runs in a fresh child process doing what ``python -m shared
scan --format json [--no-store]`` does: ``Settings.from_env()``, ``AzureClients(settings)``, the store from
the settings, ``run_scan(...)``, ``clients.close()``, then the JSON document. The child reports wall time,
CPU (``getrusage``) and peak RSS (``ru_maxrss``) of the scan, the store and the JSON output separately.

Runs, in order: the sequential baseline (``SCAN_VAULT_CONCURRENCY=1 SCAN_REQUESTS_PER_VAULT=1``, the same
code without parallelism, on the first ``--baseline-sample`` vaults, extrapolated per certificate), the
scan without storing, with ``--store`` the scan storing into a fresh Azurite, and with ``--profile`` one
more scan under py-spy (kept out of the table).
"""

from __future__ import annotations

import argparse
import contextlib
import html
import http.client
import io
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]

# Targets of the issue, for the verdict lines.
TARGET_WALL_SECONDS = 10.0
TARGET_SPEEDUP = 10.0
TARGET_CPU_MS_PER_CERT = 1.0
TARGET_PEAK_RSS_MB = 250.0
TARGET_STORE_SECONDS = 10.0


# --------------------------------------------------------------------------------------------------
# The fake Azure in its own process
# --------------------------------------------------------------------------------------------------


class FakeStats:
    """The fake's counters: SIGUSR1 makes it rewrite ``--stats-file``; ``sequence`` tells fresh from old."""

    def __init__(self, pid: int, path: Path) -> None:
        self.pid = pid
        self.path = path
        self.sequence = self._read().get("sequence", 0) if path.exists() else 0

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def snapshot(self, timeout: float = 60.0) -> dict[str, Any]:
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self._read()
            if data.get("sequence", 0) > self.sequence:
                self.sequence = data["sequence"]
                return data
            time.sleep(0.01)
        raise RuntimeError(f"the fake Azure did not write its counters to {self.path} within {timeout:.0f} s")


def stats_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    def counter(key: str) -> dict[str, int]:
        delta = Counter(after.get(key) or {})
        delta.subtract(before.get(key) or {})
        return {k: v for k, v in sorted(delta.items()) if v}

    return {
        "requests": after["requests"] - before["requests"],
        "by_service": counter("by_service"),
        "by_operation": counter("by_operation"),
        "by_status": counter("by_status"),
        "cpu_seconds": round(after["cpu_seconds"] - before["cpu_seconds"], 3),
    }


@dataclass
class Fake:
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    stats_file: Path
    startup_seconds: float


@contextlib.contextmanager
def run_fake(synthetic: str, workdir: Path, *, timeout: float) -> Iterator[Fake]:
    env_file = workdir / f"fake-{time.monotonic_ns()}.env"
    stats_file = env_file.with_suffix(".stats.json")
    log = (workdir / "fake.log").open("ab")
    command = [sys.executable, "-m", "tests.fakeazure", "serve", "--synthetic", synthetic]
    command += ["--env-file", str(env_file), "--stats-file", str(stats_file)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + timeout
        while not env_file.exists():
            if process.poll() is not None:
                raise RuntimeError(f"the fake Azure exited with {process.returncode}; see {workdir / 'fake.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the fake Azure was not ready within {timeout:.0f} s")
            time.sleep(0.05)
        lines = env_file.read_text(encoding="utf-8").splitlines()
        env = dict(line.split("=", 1) for line in lines if "=" in line)
        yield Fake(process, env, stats_file, time.perf_counter() - started)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


# --------------------------------------------------------------------------------------------------
# One measured scan, in a child process
# --------------------------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    vault_concurrency: int
    requests_per_vault: int
    sample: int = 0  # vaults; 0 = the whole estate
    store: bool = False
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def concurrency(self) -> int:
        return self.vault_concurrency * self.requests_per_vault


def child_env(fake: Fake, run: Run, storage: str | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("AZURE_", "MSI_", "IDENTITY_", "SCAN_", "FINDINGS_", "AZUREWEBJOBS"))
    }
    env.update(fake.env)
    env["SCAN_VAULT_CONCURRENCY"] = str(run.vault_concurrency)
    env["SCAN_REQUESTS_PER_VAULT"] = str(run.requests_per_vault)
    if storage:
        env["FINDINGS_STORAGE_CONNECTION"] = storage
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    return env


def measure(fake: Fake, run: Run, storage: str | None, workdir: Path, *, profile_raw: Path | None = None) -> None:
    config = workdir / f"child-{time.monotonic_ns()}.json"
    output = config.with_suffix(".result.json")
    config.write_text(
        json.dumps(
            {
                "mode": "scan",
                "sample": run.sample,
                "store": run.store,
                "result": str(output),
                "fake_pid": fake.process.pid,
                "stats_file": str(fake.stats_file),
            }
        ),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "bench.scan_bench", "--child", str(config)]
    if profile_raw is not None:
        command = [py_spy(), "record", "--rate", "25", "--gil", "--nonblocking", "--format", "raw"]
        command += [
            "--output",
            str(profile_raw),
            "--",
            sys.executable,
            "-m",
            "bench.scan_bench",
            "--child",
            str(config),
        ]
    env = child_env(fake, run, storage)
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0 or not output.exists():
        sys.stderr.write(completed.stderr[-4000:])
        raise RuntimeError(f"the {run.label} run failed (exit code {completed.returncode})")
    run.result = json.loads(output.read_text(encoding="utf-8"))


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.access(found, os.X_OK):
        raise SystemExit("--profile needs py-spy: pip install -r requirements-dev.txt")
    return found


def _usage() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss  # maxrss: KiB on Linux


def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def cli_json_writer() -> Any:
    """How the CLI of the tree under test prints its JSON: ``shared.cli.write_json`` (one write), or before
    it existed (main 50f6b8b, for the before/after runs of docs/BENCHMARKS.md) ``json.dump`` to the stream."""
    try:
        from shared.cli import write_json
    except ImportError:
        return _json_dump
    return write_json


def _json_dump(document: Any, out: TextIO) -> None:
    json.dump(document, out, indent=2, ensure_ascii=False)
    out.write("\n")


def child_scan(config: Mapping[str, Any]) -> dict[str, Any]:
    """What ``python -m shared scan --format json [--no-store]`` does, with a stopwatch on each phase."""
    from shared.azure import discovery
    from shared.azure.clients import AzureClients
    from shared.models import ScanResult
    from shared.run import run_scan
    from shared.scan import ScanTarget
    from shared.settings import Settings
    from shared.store import FindingsStore

    class TimedStore(FindingsStore):
        """The real store; the time spent in it is the store's share of the run."""

        wall = 0.0
        cpu = 0.0

        @contextlib.contextmanager
        def _timed(self) -> Iterator[None]:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                yield
            finally:
                self.wall += time.perf_counter() - wall
                self.cpu += time.process_time() - cpu

        def latest(self) -> ScanResult | None:
            with self._timed():
                return super().latest()

        def save(self, result: ScanResult) -> None:
            with self._timed():
                super().save(result)

        def purge(self, retention_days: int, now: Any = None) -> int:
            with self._timed():
                return super().purge(retention_days, now)

    settings = Settings.from_env()
    target = ScanTarget()
    if config["sample"]:
        # The sample's vault names, found before the stopwatch starts (its requests are not counted).
        lister = AzureClients(settings)
        try:
            names = sorted(
                vault.name
                for subscription in discovery.list_subscriptions(lister)
                for vault in discovery.list_vaults(lister, subscription.id)
            )
        finally:
            lister.close()
        target = ScanTarget(vault_names=tuple(names[: config["sample"]]))

    fake = FakeStats(int(config["fake_pid"]), Path(config["stats_file"]))
    before = fake.snapshot()
    rss_before = _rss_mb()
    cpu_start, _ = _usage()
    wall_start = time.perf_counter()
    clients = AzureClients(settings)
    store = TimedStore.from_settings(settings, clients.credential) if config["store"] else None
    try:
        outcome = run_scan(settings, clients, target=target, store=store)
    finally:
        clients.close()
        if store is not None:
            store.close()
    wall = time.perf_counter() - wall_start
    cpu_end, peak_kib = _usage()
    after = fake.snapshot()
    if outcome.store_error:
        raise RuntimeError(f"the store failed: {outcome.store_error}")

    # The CLI then prints the document (--format json): timed apart, it is not the scan. Unbuffered, as
    # stdout is under PYTHONUNBUFFERED=1 (containers, CI), so every write the CLI makes is a system call.
    output_wall, output_cpu = time.perf_counter(), time.process_time()
    raw = open(os.devnull, "wb", buffering=0)  # noqa: SIM115 - closed by the wrapper
    with io.TextIOWrapper(raw, encoding="utf-8", write_through=True) as sink:
        cli_json_writer()(outcome.result.to_document(), sink)
    output_wall, output_cpu = time.perf_counter() - output_wall, time.process_time() - output_cpu
    _, peak_with_output_kib = _usage()

    scan = outcome.result.scan
    return {
        "certificates": scan.certificate_count,
        "vaults": scan.vault_count,
        "findings": len(outcome.result.findings),
        "status": scan.status.value,
        "counts": scan.counts,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu_end - cpu_start, 3),
        "store_wall_seconds": round(store.wall, 3) if store else None,
        "store_cpu_seconds": round(store.cpu, 3) if store else None,
        "output_wall_seconds": round(output_wall, 3),
        "output_cpu_seconds": round(output_cpu, 3),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "peak_rss_with_output_mb": round(peak_with_output_kib / 1024, 1),
        "fake": stats_delta(before, after),
    }


# --------------------------------------------------------------------------------------------------
# The CPU floor: one policy GET through each layer, single-threaded
# --------------------------------------------------------------------------------------------------


def child_floor(config: Mapping[str, Any]) -> dict[str, Any]:
    """CPU per GET of a policy through each layer of the stack, one thread, one keep-alive connection."""
    from urllib.parse import quote, urlsplit

    import urllib3
    from azure.core.rest import HttpRequest

    from shared.azure import discovery
    from shared.azure.clients import AzureClients
    from shared.settings import Settings

    settings = Settings.from_env()
    clients = AzureClients(settings)
    subscription = discovery.list_subscriptions(clients)[0]
    vault = discovery.list_vaults(clients, subscription.id)[0]
    client = clients.certificates(vault.uri)
    names = [p.name for p in client.list_properties_of_certificates()][: config["gets"]]
    token = clients.credential.get_token("https://vault.azure.net/.default").token
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    api = client.api_version
    address = urlsplit(vault.uri)
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE")
    session = clients._shared_session()  # the very session the scan's transport uses
    pool = urllib3.HTTPSConnectionPool(address.hostname or "", address.port, ca_certs=ca_bundle, maxsize=1)
    import ssl

    connection = http.client.HTTPSConnection(
        address.hostname or "", address.port, context=ssl.create_default_context(cafile=ca_bundle)
    )

    def path(name: str) -> str:
        return f"/certificates/{quote(name, safe='')}/policy?api-version={api}"

    def with_http_client(name: str) -> None:
        connection.request("GET", path(name), headers=headers)
        json.loads(connection.getresponse().read())

    layers = [
        ("http.client + ssl (stdlib), keep-alive", with_http_client),
        ("urllib3 connection pool", lambda n: json.loads(pool.request("GET", path(n), headers=headers).data)),
        (
            "requests session (the scan's)",
            lambda n: session.get(f"{vault.uri.rstrip('/')}{path(n)}", headers=headers).json(),
        ),
        (
            "SDK sync pipeline: client.send_request + json (the scan's path before issue 19.8)",
            lambda n: json.loads(client.send_request(HttpRequest("GET", path(n).split("?")[0])).content),
        ),
        ("SDK: client.get_certificate_policy (model deserialisation)", client.get_certificate_policy),
    ]
    results = []
    for label, call in layers:
        call(names[0])  # connect, challenge, token: not measured
        cpu, wall = time.process_time(), time.perf_counter()
        for name in names:
            call(name)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        results.append(
            {
                "layer": label,
                "cpu_ms_per_get": round(1000 * cpu / len(names), 3),
                "wall_ms_per_get": round(1000 * wall / len(names), 2),
            }
        )
    if hasattr(client, "run_async"):  # the asyncio twin (issue 19.8): all GETs in one coroutine, as a vault's are
        from shared.azure.keyvault import _get_json_async

        async def gets(aio: Any) -> tuple[float, float]:
            await _get_json_async(aio, HttpRequest("GET", path(names[0]).split("?")[0]))  # challenge, token
            cpu, wall = time.process_time(), time.perf_counter()
            for name in names:
                await _get_json_async(aio, HttpRequest("GET", path(name).split("?")[0]))
            return time.process_time() - cpu, time.perf_counter() - wall

        cpu, wall = client.run_async(gets)
        results.append(
            {
                "layer": "SDK asyncio pipeline (aio client + aiohttp) + json (the scan's path now)",
                "cpu_ms_per_get": round(1000 * cpu / len(names), 3),
                "wall_ms_per_get": round(1000 * wall / len(names), 2),
            }
        )
    client.close()
    clients.close()
    return {"gets": len(names), "layers": results}


# --------------------------------------------------------------------------------------------------
# Profile summary (py-spy raw = collapsed stacks)
# --------------------------------------------------------------------------------------------------

# From the leaf upwards, the first frame whose file matches decides the layer of a sample. py-spy names
# files relative to their sys.path entry ("requests/sessions.py", "core/pipeline/_base.py").
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("requests", ("requests/",)),
    ("urllib3", ("urllib3/",)),
    ("http.client, ssl, socket (stdlib)", ("http/client.py", "ssl.py", "socket.py", "email/")),
    ("Key Vault SDK (generated client, models, challenge)", ("certificates/",)),
    ("management SDK", ("keyvault/", "subscriptions/", "mgmt/")),
    ("azure-identity, msal", ("identity/", "msal/")),
    ("azure-core pipeline", ("core/",)),
    ("app (shared/)", ("shared/",)),
    ("threads, futures (stdlib)", ("threading.py", "concurrent/futures/", "queue.py")),
    ("imports", ("<frozen importlib",)),
)


def _frame_file(frame: str) -> str:
    start = frame.rfind(" (")
    return frame[start + 2 :].rsplit(":", 1)[0] if start >= 0 else frame


def _frame_label(frame: str) -> str:
    start = frame.rfind(" (")
    return f"{frame[:start]} ({_frame_file(frame)})" if start >= 0 else frame


def summarise_profile(raw: Path, top: int = 25) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        labels = [_frame_label(f) for f in frames]
        for label in set(labels):
            inclusive[label] += count
        own[labels[-1]] += count
        layer = "other"
        for frame in reversed(frames):
            where = _frame_file(frame)
            match = next((name for name, prefixes in LAYERS if where.startswith(prefixes)), None)
            if match:
                layer = match
                break
        layers[layer] += count
    share = 100.0 / total if total else 0.0
    return {
        "samples": total,
        "layers": [(name, round(n * share, 1)) for name, n in layers.most_common()],
        "inclusive": [(name, round(n * share, 1)) for name, n in inclusive.most_common(top)],
        "self": [(name, round(n * share, 1)) for name, n in own.most_common(top)],
    }


def write_profile(summary: Mapping[str, Any], header: list[str], html_path: Path) -> Path:
    text_path = html_path.with_suffix(".txt")
    lines = [*header, ""]
    for title, key in (
        ("Share of GIL-holding samples by layer (the nearest layer to the leaf frame)", "layers"),
        ("Inclusive: the function or anything it calls", "inclusive"),
        ("Self: the leaf frame", "self"),
    ):
        lines += [title, "-" * len(title)]
        lines += [f"{pct:6.1f} %  {name}" for name, pct in summary[key]]
        lines.append("")
    text_path.write_text("\n".join(lines), encoding="utf-8")

    def table(key: str) -> str:
        rows = "".join(
            f"<tr><td class=n>{pct:.1f} %</td><td><code>{html.escape(name)}</code></td></tr>"
            for name, pct in summary[key]
        )
        return f"<table>{rows}</table>"

    page = f"""<!doctype html><html lang=en><meta charset=utf-8><title>Scan profile</title>
<style>body{{font:14px system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}}
td{{padding:.1em .6em;border-bottom:1px solid #ddd}}td.n{{text-align:right;white-space:nowrap}}
pre{{background:#f6f6f6;padding:.8em;white-space:pre-wrap}}</style>
<h1>Scan profile (py-spy, GIL-holding samples)</h1><pre>{html.escape(chr(10).join(header))}</pre>
<h2>By layer</h2>{table("layers")}<h2>Inclusive</h2>{table("inclusive")}<h2>Self</h2>{table("self")}</html>
"""
    html_path.write_text(page, encoding="utf-8")
    return text_path


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(ImportError):
        import psutil

        memory = f", {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    return (
        f"{model or platform.machine()}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def lower_bound(run: Run, latency_ms: float) -> float:
    services = run.result["fake"]["by_service"]
    delayed = int(services.get("keyvault", 0)) + int(services.get("arm", 0))  # the identity endpoint has none
    return delayed * latency_ms / 1000 / run.concurrency


def row(run: Run, latency_ms: float) -> dict[str, Any]:
    r = run.result
    scan_wall = r["wall_seconds"] - (r["store_wall_seconds"] or 0)
    scan_cpu = r["cpu_seconds"] - (r["store_cpu_seconds"] or 0)
    bound = lower_bound(run, latency_ms)
    certificates = max(1, r["certificates"])
    return {
        "run": run.label,
        "concurrency": f"{run.vault_concurrency}x{run.requests_per_vault}",
        "vaults": r["vaults"],
        "certificates": r["certificates"],
        "requests": r["fake"]["requests"],
        "throttled": r["fake"]["by_status"].get("429", 0),
        "wall_s": round(r["wall_seconds"], 2),
        "scan_wall_s": round(scan_wall, 2),
        "lower_bound_s": round(bound, 2),
        "wall_over_bound": round(scan_wall / bound, 2) if bound else None,
        "client_cpu_s": round(r["cpu_seconds"], 2),
        "cpu_ms_per_cert": round(1000 * scan_cpu / certificates, 2),
        "store_s": r["store_wall_seconds"],
        "output_s": r["output_wall_seconds"],
        "peak_rss_mb": r["peak_rss_mb"],
        "rss_before_mb": r["rss_before_mb"],
        "fake_cpu_s": r["fake"]["cpu_seconds"],
    }


COLUMNS = (
    ("run", "run", "{}"),
    ("concurrency", "vaults x GETs", "{}"),
    ("certificates", "certs", "{:,}"),
    ("requests", "requests", "{:,}"),
    ("throttled", "429s", "{:,}"),
    ("scan_wall_s", "scan wall s", "{:.1f}"),
    ("lower_bound_s", "lower bound s", "{:.2f}"),
    ("wall_over_bound", "wall/bound", "{:.1f}"),
    ("client_cpu_s", "client CPU s", "{:.1f}"),
    ("cpu_ms_per_cert", "CPU ms/cert", "{:.2f}"),
    ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
    ("store_s", "store s", "{:.1f}"),
    ("output_s", "JSON out s", "{:.1f}"),
    ("fake_cpu_s", "fake CPU s", "{:.1f}"),
)


def print_table(rows: list[dict[str, Any]], out: TextIO) -> None:
    def cell(value: Any, spec: str) -> str:
        return "-" if value is None else spec.format(value)

    cells = [[title for _, title, _ in COLUMNS]] + [[cell(r[key], spec) for key, _, spec in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    for number, line in enumerate(cells):
        out.write(
            "  ".join(
                text.ljust(w) if i == 0 else text.rjust(w) for i, (text, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        out.write("\n")
        if number == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def verdicts(args: argparse.Namespace, rows: dict[str, dict[str, Any]], baseline: Run | None) -> list[str]:
    lines: list[str] = []
    scan = rows.get("scan --no-store")
    if scan is None:
        return lines

    def verdict(ok: bool) -> str:
        return "reached" if ok else "NOT reached"

    lines.append(
        f"wall ≤ {TARGET_WALL_SECONDS:.0f} s: {scan['scan_wall_s']:.1f} s — "
        f"{verdict(scan['scan_wall_s'] <= TARGET_WALL_SECONDS)}"
    )
    if baseline is not None:
        per_cert = baseline.result["wall_seconds"] / max(1, baseline.result["certificates"])
        estimate = per_cert * scan["certificates"]
        speedup = estimate / scan["scan_wall_s"]
        lines.append(
            f"≥ {TARGET_SPEEDUP:.0f}× the sequential baseline: {speedup:.1f}× (baseline {1000 * per_cert:.1f} ms per "
            f"certificate on {baseline.result['certificates']:,} certificates, extrapolated to {estimate:.0f} s) — "
            f"{verdict(speedup >= TARGET_SPEEDUP)}"
        )
    lines.append(
        f"≤ {TARGET_CPU_MS_PER_CERT} ms client CPU per certificate: {scan['cpu_ms_per_cert']:.2f} ms — "
        f"{verdict(scan['cpu_ms_per_cert'] <= TARGET_CPU_MS_PER_CERT)}"
    )
    lines.append(
        f"peak RSS ≤ {TARGET_PEAK_RSS_MB:.0f} MB: {scan['peak_rss_mb']:.0f} MB — "
        f"{verdict(scan['peak_rss_mb'] <= TARGET_PEAK_RSS_MB)}"
    )
    stored = rows.get("scan + store (Azurite)")
    if stored is not None:
        lines.append(
            f"storing adds ≤ {TARGET_STORE_SECONDS:.0f} s: the store took {stored['store_s']:.1f} s (that run: "
            f"{stored['wall_s']:.1f} s in all, against {scan['scan_wall_s']:.1f} s without storing) — "
            f"{verdict(stored['store_s'] <= TARGET_STORE_SECONDS)}"
        )
    return lines


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scan_bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vaults", type=int, default=200)
    parser.add_argument("--certs", type=int, default=50, help="certificates per vault")
    parser.add_argument(
        "--services",
        type=int,
        default=0,
        help="service references (Application Gateway / App Service) to as many certificates (CertificateBinding)",
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added by the fake to every request")
    parser.add_argument("--throttle", type=float, default=0.05, help="share of Key Vault requests answered 429")
    parser.add_argument("--store", action="store_true", help="also run the scan storing into a fresh Azurite")
    parser.add_argument(
        "--baseline-sample", type=int, default=10, metavar="N", help="vaults in the sequential baseline (0: skip)"
    )
    parser.add_argument("--profile", type=Path, metavar="OUT.html", help="one more scan under py-spy; summary here")
    parser.add_argument("--vault-concurrency", type=int, help="SCAN_VAULT_CONCURRENCY (default: the app's)")
    parser.add_argument("--requests-per-vault", type=int, help="SCAN_REQUESTS_PER_VAULT (default: the app's)")
    parser.add_argument("--floor", type=int, default=0, metavar="N", help="only measure CPU per GET by layer (N GETs)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every figure here as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        config = json.loads(Path(args.child).read_text(encoding="utf-8"))
        result = child_floor(config) if config["mode"] == "floor" else child_scan(config)
        Path(config["result"]).write_text(json.dumps(result), encoding="utf-8")
        return 0

    from shared.settings import Settings

    defaults = Settings()
    vault_concurrency = args.vault_concurrency or defaults.vault_concurrency
    requests_per_vault = args.requests_per_vault or defaults.requests_per_vault
    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as tmp:
        workdir = Path(tmp)
        if args.floor:
            return floor(args, workdir, out)
        synthetic = f"vaults={args.vaults},certs={args.certs},latency_ms={args.latency_ms},throttle={args.throttle}"
        if args.services:
            synthetic += f",services={args.services}"
        certificates = args.vaults * args.certs
        out.write(f"AutoRenew Guard scan benchmark: {certificates:,} certificates in {args.vaults:,} vaults, ")
        out.write(
            f"{args.latency_ms:g} ms latency per request, {args.throttle:.0%} of Key Vault requests answered 429\n"
        )
        out.write(f"machine: {machine()}\n")
        runs: list[Run] = []
        baseline = None
        if args.baseline_sample:
            sample = min(args.baseline_sample, args.vaults)
            baseline = Run(f"sequential baseline ({sample} vaults)", 1, 1, sample=sample)
            runs.append(baseline)
        runs.append(Run("scan --no-store", vault_concurrency, requests_per_vault))
        if args.store:
            runs.append(Run("scan + store (Azurite)", vault_concurrency, requests_per_vault, store=True))

        with run_fake(synthetic, workdir, timeout=60 + args.vaults * 0.05) as fake:
            out.write(
                f"fake Azure: python -m tests.fakeazure serve --synthetic {synthetic} "
                f"(ready in {fake.startup_seconds:.1f} s)\n\n"
            )
            with contextlib.ExitStack() as stack:
                storage = None
                if args.store:
                    from tests.azurite import start_azurite

                    storage = stack.enter_context(start_azurite()).connection_string
                for run in runs:
                    out.write(f"running: {run.label} ...\n")
                    out.flush()
                    measure(fake, run, storage if run.store else None, workdir)
            profile_text = None
            if args.profile:
                out.write("running: scan --no-store under py-spy (profile; not timed) ...\n")
                out.flush()
                profiled = Run("scan --no-store (under py-spy)", vault_concurrency, requests_per_vault)
                raw = workdir / "profile.raw"
                measure(fake, profiled, None, workdir, profile_raw=raw)
                summary = summarise_profile(raw)
                header = [
                    f"python -m bench.scan_bench --vaults {args.vaults} --certs {args.certs} "
                    f"--latency-ms {args.latency_ms:g} --throttle {args.throttle:g} --profile {args.profile}",
                    f"machine: {machine()}",
                    f"py-spy record --rate 25 --gil: {summary['samples']:,} samples of the thread holding the GIL",
                    f"profiled run: {profiled.result['certificates']:,} certificates, "
                    f"{profiled.result['wall_seconds']:.1f} s wall, {profiled.result['cpu_seconds']:.1f} s CPU "
                    "(py-spy --nonblocking: the run is never paused)",
                ]
                args.profile.parent.mkdir(parents=True, exist_ok=True)
                profile_text = write_profile(summary, header, args.profile)

        rows = [row(run, args.latency_ms) for run in runs]
        out.write("\n")
        print_table(rows, out)
        out.write("\n")
        for line in verdicts(args, {r["run"]: r for r in rows}, baseline):
            out.write(f"  {line}\n")
        scan = next(r for r in runs if r.label == "scan --no-store").result
        growth = scan["peak_rss_mb"] - scan["rss_before_mb"]
        per_finding = growth * 2**20 / max(1, scan["findings"])
        out.write(
            f"\nmemory: {scan['rss_before_mb']:.0f} MB after imports, peak {scan['peak_rss_mb']:.0f} MB "
            f"(+{growth:.0f} MB for {scan['findings']:,} findings = {per_finding:,.0f} bytes per finding); "
            f"{scan['peak_rss_with_output_mb']:.0f} MB once the JSON document is written too\n"
        )
        out.write(
            "lower bound = Key Vault and Resource Manager requests x latency / (vaults in parallel x GETs per vault); "
            "scan wall excludes the store and the JSON output\n"
        )
        if baseline is not None:
            out.write(
                "baseline: the same scan with SCAN_VAULT_CONCURRENCY=1 SCAN_REQUESTS_PER_VAULT=1 (one policy GET at a "
                "time; a vault's next list page can overlap it), extrapolated per certificate\n"
            )
        if profile_text:
            out.write(f"profile: {args.profile} and {profile_text}\n")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            document = {"machine": machine(), "arguments": {k: str(v) for k, v in vars(args).items()}, "rows": rows}
            document["runs"] = [{"label": r.label, **r.result} for r in runs]
            args.json.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return 0


def floor(args: argparse.Namespace, workdir: Path, out: TextIO) -> int:
    gets = args.floor
    synthetic = f"vaults=1,certs={gets},latency_ms={args.latency_ms},throttle=0"
    out.write(f"CPU per policy GET, one thread, keep-alive, {args.latency_ms:g} ms latency; machine: {machine()}\n\n")
    with run_fake(synthetic, workdir, timeout=60) as fake:
        config = workdir / "floor.json"
        output = workdir / "floor.result.json"
        config.write_text(json.dumps({"mode": "floor", "gets": gets, "result": str(output)}), encoding="utf-8")
        env = child_env(fake, Run("floor", 1, 1), None)
        command = [sys.executable, "-m", "bench.scan_bench", "--child", str(config)]
        completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            sys.stderr.write(completed.stderr[-4000:])
            return 1
        result = json.loads(output.read_text(encoding="utf-8"))
    width = max(len(layer["layer"]) for layer in result["layers"])
    out.write(f"{'layer'.ljust(width)}  CPU ms/GET  wall ms/GET\n")
    for layer in result["layers"]:
        out.write(f"{layer['layer'].ljust(width)}  {layer['cpu_ms_per_get']:10.3f}  {layer['wall_ms_per_get']:11.2f}\n")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), **result}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
