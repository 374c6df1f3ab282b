"""``make demo``: the real command line against a sample estate, with no Azure account.

Starts the fake Azure (Key Vault, Resource Manager and a managed-identity endpoint over local HTTPS)
with ``sample_estate.json`` and Azurite as the findings store, then runs ``python -m shared scan``
unchanged in a child process pointed at them. Extra arguments go to the scan, e.g.
``make demo ARGS="--format json"``. Afterwards it writes the HTML report of the stored scan to
``.demo/report.html``. A fake Logs Ingestion endpoint stands in for Azure Monitor Logs (``LOGS_*`` set),
so the stored scan is also exported, and the demo says how many rows arrived.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

from shared.api import get_report
from shared.export.columns import COLUMNS_FILE
from shared.store import FindingsStore, StoreError
from tests.azurite import AzuriteNotInstalled, start_azurite
from tests.fakeazure import FakeAzure, sample_estate
from tests.fakeazure.ingestion import FakeLogsIngestion

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / ".demo"
EXPLAIN = {
    0: "exit code 0: everything was assessed and nothing is non-compliant.",
    1: "exit code 1: something is non-compliant (that is the point of the sample estate).",
    2: "exit code 2: a usage or configuration error.",
    3: "exit code 3: nothing non-compliant, but something could not be assessed.",
}


def main(argv: list[str]) -> int:
    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    estate = sample_estate()
    subscriptions = estate["subscriptions"]
    vaults = sum(len(s.get("vaults", [])) for s in subscriptions)
    say(f"AutoRenew Guard demo: a sample estate of {len(subscriptions)} subscriptions and {vaults} Key Vaults with the")
    say("services that use them, served by a local fake of Azure over HTTPS (and local TLS frontends for their")
    say("hostnames); the findings are stored in Azurite. Starting them...")
    with contextlib.ExitStack() as stack:
        try:
            azurite = stack.enter_context(start_azurite())
        except AzuriteNotInstalled as exc:
            say(f"demo: {exc}")
            return 2
        azure = stack.enter_context(FakeAzure(estate))
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("AZURE_", "MSI_", "IDENTITY_"))}
        env.update(azure.env)
        env["FINDINGS_STORAGE_CONNECTION"] = azurite.connection_string
        logs = stack.enter_context(FakeLogsIngestion(json.loads(COLUMNS_FILE.read_text(encoding="utf-8"))))
        env["LOGS_INGESTION_ENDPOINT"] = logs.endpoint
        env["LOGS_DCR_IMMUTABLE_ID"] = logs.rule_id
        env.setdefault("PYTHONPATH", str(ROOT))
        command = [sys.executable, "-m", "shared", "scan", *argv]
        say(f"\n$ python -m shared scan {' '.join(argv)}".rstrip() + "\n")
        code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        if "--no-store" not in argv:
            _write_report(azurite.connection_string)
            say(
                f"\nAzure Monitor Logs (a local fake of the Logs Ingestion endpoint) received {len(logs.rows)} rows "
                f"for table AutoRenewGuard_CL in {len(logs.batches)} request(s)."
            )
        say(f"\n{EXPLAIN.get(code, f'exit code {code}.')}")
        say("Try: make demo ARGS='--format json'   or   make demo ARGS='--vault payments-prod-kv'")
    # A non-compliant estate is the demo working; only usage errors fail `make demo`.
    return 0 if code in (0, 1, 3) else code


def _write_report(connection_string: str) -> None:
    try:
        with FindingsStore.from_connection_string(connection_string) as store:
            # The route's own code, trend and changes since the previous demo run included.
            response = get_report(
                store.latest, {}, portal_url="https://portal.azure.com", scans=store.list_scans, previous=store.previous
            )
    except StoreError as exc:
        print(f"demo: could not read the stored scan back: {exc}", file=sys.stderr)
        return
    if response.status != 200:
        return
    OUTPUT.mkdir(exist_ok=True)
    page = OUTPUT / "report.html"
    page.write_text(response.body, encoding="utf-8")
    print(f"\nThe HTML report of this scan (what GET /api/report serves): {page}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
