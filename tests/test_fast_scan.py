"""Issue 19.8, a faster scan: what the speed-ups must not change, and what a user can see of them.

The Key Vault reads run on the SDK's asyncio client (shared/azure/aio.py); these tests check it trusts
what the sync clients trust (``REQUESTS_CA_BUNDLE``), keeps its connections instead of opening one per
request, and leaves nothing open behind it. The CLI prints its JSON in one write. No timing here: the
figures are in docs/BENCHMARKS.md (``python -m bench.scan_bench``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from shared.azure.clients import AzureClients
from shared.azure.keyvault import VaultRead, read_vault
from shared.cli import write_json
from shared.models import Vault
from shared.settings import Settings
from tests.fakeazure import FakeAzure, cert, estate, subscription, vault
from tests.test_scan import AUTO_80, decision_table_estate, run_cli

ROOT = Path(__file__).resolve().parent.parent


def one_vault(certificates: int) -> dict[str, object]:
    return estate(
        subscription("Prod", vault("busy-kv", *(cert(f"c{i:03}", "Self", AUTO_80) for i in range(certificates))))
    )


def read_busy_vault(azure: FakeAzure, requests_in_flight: int = 4) -> VaultRead:
    clients = AzureClients(Settings.from_env())
    record = Vault(subscription_id="s", name="busy-kv", uri=azure.vault_uri("busy-kv"))
    try:
        with clients.certificates(record.uri) as client:
            return read_vault(client, record, requests_in_flight=requests_in_flight)
    finally:
        clients.close()


def test_the_asyncio_reader_trusts_the_ca_bundle_the_sync_clients_trust(fake_azure, monkeypatch, tmp_path) -> None:
    azure = fake_azure(one_vault(3))
    read = read_busy_vault(azure)
    assert read.error is None
    assert [c.issuer for c in read.certificates] == ["Self"] * 3

    # Another CA in REQUESTS_CA_BUNDLE: the vault's certificate is no longer trusted, and the read says so.
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(stranger))
    refused = read_busy_vault(azure)
    assert refused.error is not None
    assert refused.error.code == "ConnectionFailed"
    assert "certificate verify failed" in refused.error.message.lower()


def test_a_vault_is_read_over_as_many_connections_as_requests_in_flight(fake_azure) -> None:
    azure = fake_azure(one_vault(60))
    read = read_busy_vault(azure, requests_in_flight=4)

    assert read.error is None
    assert len(read.certificates) == 60
    assert all(c.policy_error is None for c in read.certificates)
    requests = azure.requests.where(vault="busy-kv")
    assert len(requests) > 60  # the list (after its challenge) and 60 policies
    # Kept alive and reused: not one connection per request (the sync pipeline's pool used to churn).
    assert azure.connections_opened("busy-kv") <= 4


def test_a_scan_leaves_no_session_or_connection_open(fake_azure) -> None:
    fake_azure(decision_table_estate())
    env = {**os.environ, "PYTHONDEVMODE": "1", "PYTHONWARNINGS": "always"}
    process = subprocess.run(
        [sys.executable, "-m", "shared", "scan", "--format", "json", "--no-store"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )

    assert process.returncode == 1, process.stderr
    assert json.loads(process.stdout)["scan"]["certificate_count"] == 12
    for leak in ("Unclosed client session", "Unclosed connector", "ResourceWarning", "Task was destroyed"):
        assert leak not in process.stderr


class CountingStream(io.StringIO):
    """Stdout as ``PYTHONUNBUFFERED=1`` makes it: every write reaches the file at once."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_the_json_document_is_written_in_one_piece_with_the_same_bytes(fake_azure, monkeypatch) -> None:
    from shared import cli

    fake_azure(decision_table_estate())
    captured: list[CountingStream] = []

    def counted(document: object, out: io.StringIO) -> None:
        stream = CountingStream()
        write_json(document, stream)
        captured.append(stream)
        out.write(stream.getvalue())

    monkeypatch.setattr(cli, "write_json", counted)
    code, out, err = run_cli("scan", "--format", "json", "--no-store")

    assert code == 1, err
    assert captured[0].writes == 1
    document = json.loads(out)
    assert out == json.dumps(document, indent=2, ensure_ascii=False) + "\n"  # what json.dump printed before


@pytest.mark.parametrize(
    "document",
    [
        {"name": 'café ☃ \u2028 \x7f \x1f "q" \\', "n": [1, -(2**63), None, True, False], "empty": {}, "list": []},
        {"lone surrogate": "\ud800", "big": 2**70},  # orjson refuses both: the standard encoder still prints them
    ],
)
def test_write_json_prints_what_json_dumps_prints(document: dict[str, object]) -> None:
    out = CountingStream()
    write_json(document, out)
    assert out.writes == 1
    assert out.getvalue() == json.dumps(document, indent=2, ensure_ascii=False) + "\n"
