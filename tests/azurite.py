"""Azurite's table service as a child process: the real Table Storage emulator for tests, demo and bench.

``start_azurite()`` starts ``node_modules/.bin/azurite-table`` (pinned in ``package.json``; ``npm ci``
installs it) with in-memory persistence on a free port of 127.0.0.1, waits until it accepts connections
and stops it on exit. It is plain Python (no pytest) so the demo and the benchmark use the same code
as the test suite.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AZURITE_TABLE = ROOT / "node_modules" / ".bin" / "azurite-table"

# Azurite's well-known development account (public, documented; not a secret).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzuriteNotInstalled(RuntimeError):
    """``node_modules/.bin/azurite-table`` is missing: ``npm ci`` has not been run."""


class AzuriteFailed(RuntimeError):
    """Azurite was found but did not start; the message carries the tail of its output."""


@dataclass(frozen=True)
class Azurite:
    host: str
    port: int

    @property
    def table_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint={self.table_endpoint};"
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextmanager
def start_azurite(host: str = "127.0.0.1", *, startup_timeout: float = 20.0, attempts: int = 3) -> Iterator[Azurite]:
    """Run Azurite's table service for the duration of the ``with`` block.

    A free port is picked by binding port 0; if another process takes it before Azurite does, the
    start is retried on a new port.
    """
    if not os.access(AZURITE_TABLE, os.X_OK):
        raise AzuriteNotInstalled(
            f"Azurite is not installed ({AZURITE_TABLE.relative_to(ROOT)} is missing): run `npm ci` in {ROOT}"
        )
    last_output = ""
    for _ in range(attempts):
        port = free_port(host)
        with tempfile.TemporaryFile() as output:
            # --silent: no access log per request; --inMemoryPersistence: nothing written to disk
            # (Azurite 3.35 refuses --location with it, so none is passed).
            process = subprocess.Popen(
                [
                    str(AZURITE_TABLE),
                    "--inMemoryPersistence",
                    "--disableTelemetry",
                    "--silent",
                    "--tableHost",
                    host,
                    "--tablePort",
                    str(port),
                ],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                deadline = time.monotonic() + startup_timeout
                while process.poll() is None and time.monotonic() < deadline:
                    if _accepts_connections(host, port):
                        break
                    time.sleep(0.05)
                else:
                    output.seek(0)
                    last_output = output.read()[-2000:].decode("utf-8", "replace").strip()
                    if process.poll() is None:
                        raise AzuriteFailed(f"Azurite did not accept connections within {startup_timeout:.0f} s")
                    continue  # exited early (usually: the port was taken meanwhile); try another port
                yield Azurite(host, port)
                return
            finally:
                _stop(process)
    raise AzuriteFailed(f"Azurite did not start after {attempts} attempts; its last output: {last_output or '(none)'}")
