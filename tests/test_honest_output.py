"""Output that says what happened (issue 19.5, the harden part): a remediation after a scan that could not
run names the failure instead of "Nothing to change"; a usage error names its subcommand; the demo's JSON
is the only thing on stdout."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.cli import main
from tests.fakeazure import cert, estate, fault, firewall_fault, subscription, vault

ROOT = Path(__file__).resolve().parent.parent
EMAIL_3D = [("EmailContacts", {"days_before_expiry": 3})]


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def no_store(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FINDINGS_STORAGE_CONNECTION", "AzureWebJobsStorage", "FINDINGS_TABLE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("output", ["table", "json"])
def test_remediate_after_a_scan_that_could_not_run_names_the_failure(fake_azure, no_store, output: str) -> None:
    fake_azure(
        estate(subscription("Only", vault("kv", cert("a", "Self", EMAIL_3D))), faults={"subscriptions": fault(403)})
    )

    code, out, err = cli("remediate", "--format", output)

    assert code != 0
    assert "Nothing to change" not in out
    assert out == "", "no plan is printed: there is none"
    [line] = err.splitlines()
    assert line.startswith("python -m shared remediate: error: scan ")
    assert "could not run, so nothing was planned or changed" in line
    assert "AuthorizationFailed" in line, "the service's own code names the failure"


def test_remediate_with_unreadable_vaults_does_not_claim_nothing_to_change(fake_azure, no_store) -> None:
    fake_azure(
        estate(
            subscription(
                "Only",
                vault("open-kv", cert("fine", "Self", [("AutoRenew", {"lifetime_percentage": 80})])),
                vault("walled-kv", cert("x", "Self", EMAIL_3D), fault={"list": firewall_fault()}),
            )
        )
    )

    code, out, _ = cli("remediate")

    assert code == 3
    assert "Nothing to change:" not in out
    assert "Nothing to change among the certificates the scan could read" in out
    assert "walled-kv (whole vault)" in out


@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        (["scan", "--format", "xml"], "python -m shared scan: error: argument --format"),
        (["scan", "--bogus"], "python -m shared scan: error: unrecognized arguments: --bogus"),
        (["remediate", "--bogus"], "python -m shared remediate: error: unrecognized arguments: --bogus"),
        (["remediate", "--lifetime-percentage", "100"], "python -m shared remediate: error: argument"),
        (["bogus"], "python -m shared: error: argument COMMAND: invalid choice"),
        ([], "python -m shared: error: the following arguments are required: COMMAND"),
    ],
)
def test_a_usage_error_names_its_subcommand_and_its_help(argv: list[str], prefix: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith(prefix)
    command = prefix.split(":", maxsplit=1)[0]
    assert line.endswith(f"(see {command} --help)")


def test_make_demo_with_format_json_prints_only_the_scan_document() -> None:
    # The Makefile recipe is silent (make would echo it on stdout), and the demo says everything else on stderr.
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe is not None
    assert all(line.startswith("\t@") for line in recipe.group(1).splitlines())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FINDINGS_"))}
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakeazure.demo", "--format", "json", "--no-store"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert set(document) == {"scan", "findings"}
    assert "exit code" in done.stderr
