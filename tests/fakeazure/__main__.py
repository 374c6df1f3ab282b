"""Run the fake Azure as a separate process (the demo and the benchmark do).

    python -m tests.fakeazure serve --estate tests/fakeazure/sample_estate.json --env-file /tmp/fake.env
    python -m tests.fakeazure serve --synthetic vaults=200,certs=50,latency_ms=20,throttle=0.05 --env-file F
    python -m tests.fakeazure generate --synthetic vaults=10,certs=5 > estate.json

``serve`` prints the environment (``KEY=VALUE`` lines) on stdout once every port listens, writes the
same lines to ``--env-file`` (atomically: the file appearing means "ready"), and runs until SIGTERM or
SIGINT; it then removes the env file. Logs go to stderr. With ``--stats-file``, SIGUSR1 (and the exit)
writes the request counters and the fake's own CPU time there as JSON (``write_stats``), so a benchmark can
count the requests a scan made without slowing the fake down.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .estate import SAMPLE_ESTATE_PATH, load_estate, synthetic_estate
from .server import FakeAzure

_SYNTHETIC_KEYS = {
    "vaults": ("vaults", int),
    "services": ("services", int),
    "certs": ("certs_per_vault", int),
    "certs_per_vault": ("certs_per_vault", int),
    "latency_ms": ("latency_ms", float),
    "latency": ("latency_ms", float),
    "throttle": ("throttle_ratio", float),
    "throttle_ratio": ("throttle_ratio", float),
    "seed": ("seed", int),
    "subscriptions": ("subscriptions", int),
    "forbidden": ("forbidden_vaults", int),
    "forbidden_vaults": ("forbidden_vaults", int),
    "page_size": ("page_size", int),
    "vault_page_size": ("vault_page_size", int),
}


def parse_synthetic(text: str) -> dict[str, Any]:
    """``vaults=200,certs=50,latency_ms=20,throttle=0.05`` -> keyword arguments of ``synthetic_estate``."""
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in _SYNTHETIC_KEYS:
            raise argparse.ArgumentTypeError(f"bad --synthetic item {item!r}; known keys: {', '.join(_SYNTHETIC_KEYS)}")
        name, kind = _SYNTHETIC_KEYS[key]
        try:
            options[name] = kind(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad value in --synthetic item {item!r}") from exc
    return options


def _estate_from_args(args: argparse.Namespace) -> dict[str, Any]:
    data = synthetic_estate(**args.synthetic) if args.synthetic is not None else load_estate(args.estate)
    for option, key in (
        ("page_size", "page_size"),
        ("vault_page_size", "vault_page_size"),
        ("latency_ms", "latency_ms"),
        ("throttle", "throttle_ratio"),
    ):
        value = getattr(args, option, None)
        if value is not None:
            data[key] = value
    return data


def _write_env_file(path: Path, lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(lines)
    os.replace(tmp, path)


def write_stats(azure: FakeAzure, path: Path, sequence: int) -> None:
    """Counters of every request answered so far, and this process's CPU seconds, as one JSON file
    (replaced atomically). ``sequence`` lets a reader tell a fresh file from an old one."""
    records = azure.requests.snapshot()
    stats = {
        "sequence": sequence,
        "requests": len(records),
        "by_service": dict(Counter(r.service for r in records)),
        "by_operation": dict(Counter(r.operation for r in records)),
        "by_status": {str(k): v for k, v in Counter(r.status for r in records).items()},
        "cpu_seconds": time.process_time(),
    }
    _write_env_file(path, json.dumps(stats, sort_keys=True) + "\n")


def serve(args: argparse.Namespace) -> int:
    data = _estate_from_args(args)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    azure = FakeAzure(data, identity_header=args.identity_header)
    stats_writes = 0

    def on_stats(signum: int, frame: FrameType | None) -> None:
        nonlocal stats_writes
        stats_writes += 1
        write_stats(azure, Path(args.stats_file), stats_writes)

    if args.stats_file and hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, on_stats)
    azure.start()
    try:
        env = azure.env
        lines = "".join(f"{key}={value}\n" for key, value in env.items())
        vault_count = sum(1 for _ in azure.estate.vaults())
        logging.info(
            "fake Azure ready: %d subscriptions, %d vaults, %d certificates; ARM at %s",
            len(azure.estate.subscriptions),
            vault_count,
            azure.estate.certificate_count(),
            env["ARM_ENDPOINT"],
        )
        sys.stdout.write(lines)
        sys.stdout.flush()
        if args.env_file:
            _write_env_file(Path(args.env_file), lines)
        while not stop.wait(1.0):
            pass
        logging.info("stopping after %d requests", len(azure.requests))
        if args.stats_file:
            write_stats(azure, Path(args.stats_file), stats_writes + 1)
    finally:
        azure.stop()
        if args.env_file:
            Path(args.env_file).unlink(missing_ok=True)
    return 0


def generate(args: argparse.Namespace) -> int:
    json.dump(_estate_from_args(args), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeazure", description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("serve", "run the fake until SIGTERM/SIGINT"), ("generate", "print an estate as JSON")):
        command = commands.add_parser(name, help=helptext)
        source = command.add_mutually_exclusive_group()
        source.add_argument("--estate", default=str(SAMPLE_ESTATE_PATH), help="estate JSON file (default: the demo)")
        source.add_argument(
            "--synthetic",
            type=parse_synthetic,
            metavar="K=V,...",
            help="synthetic estate: vaults, certs, latency_ms, throttle, seed, subscriptions, forbidden, page_size",
        )
        command.add_argument("--page-size", type=int, help="certificates per list page (default from the estate)")
        command.add_argument("--vault-page-size", type=int, help="vaults per ARM list page")
        command.add_argument("--latency-ms", type=float, help="latency added to every request")
        command.add_argument("--throttle", type=float, help="share of data-plane requests answered 429")
    serve_parser = commands.choices["serve"]
    serve_parser.add_argument("--env-file", help="write KEY=VALUE lines here once ready; removed on exit")
    serve_parser.add_argument("--identity-header", help="the X-IDENTITY-HEADER secret (default: random)")
    serve_parser.add_argument("--stats-file", help="on SIGUSR1 and at exit, write request counters here (JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s fakeazure %(message)s")
    return serve(args) if args.command == "serve" else generate(args)


if __name__ == "__main__":
    sys.exit(main())
