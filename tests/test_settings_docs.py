"""The docs match the code (issue 19.7): README's settings table against shared/settings.py and infra/,
the Python version everywhere, no spec document the repository does not hold, and what the deployment
does with a Key Vault reference that did not resolve."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from shared.settings import SETTING_NAMES, Settings
from tests.test_infra import PARAMETER_OF_SETTING

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

# What each setting's default reads as in the code; a setting added without an entry here still needs its
# row (and a Bicep column), only its default is not compared.
DEFAULT_ATTRIBUTE = {
    "ARM_ENDPOINT": "arm_endpoint",
    "KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "keyvault_verify_challenge_resource",
    "ALERT_WEBHOOK_KIND": "alert_webhook_kind",
    "EXPIRY_WARNING_DAYS": "expiry_warning_days",
    "SCAN_SCHEDULE": "scan_schedule",
    "RETENTION_DAYS": "retention_days",
    "ALERT_ON_CLEAN": "alert_on_clean",
    "AUTO_REMEDIATE": "auto_remediate",
    "SCAN_VAULT_CONCURRENCY": "vault_concurrency",
    "SCAN_REQUESTS_PER_VAULT": "requests_per_vault",
    "PORTAL_URL": "portal_url",
    "MAX_AUTO_REMEDIATIONS": "max_auto_remediations",
    "ALERT_ROUTE_TAG": "alert_route_tag",
    "ALERT_REMIND_DAYS": "alert_remind_days",
    "ALERT_MAX_ITEMS": "alert_max_items",
}
UNSET_BY_DEFAULT = {"FINDINGS_TABLE_ENDPOINT", "ALERT_WEBHOOK_URL", "ALERT_ROUTES", "REPORT_URL", "AzureWebJobsStorage"}


def settings_rows() -> dict[str, list[str]]:
    """README's Settings table: name -> cells (default, Bicep parameter, meaning)."""
    section = README.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([A-Za-z_]+)` \|(.*)\|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split(" | ")]
    return rows


def shown(value: object) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def test_the_settings_module_reads_exactly_the_names_it_declares() -> None:
    source = (ROOT / "shared" / "settings.py").read_text(encoding="utf-8")
    read = set(re.findall(r'get\("([A-Z][A-Za-z_]+)"\)', source)) | set(re.findall(r'"([A-Za-z_]+)" in env', source))
    read |= {"FINDINGS_STORAGE_CONNECTION", "AzureWebJobsStorage"}  # read in a loop over both names
    assert read == set(SETTING_NAMES), "SETTING_NAMES must list every setting the code reads, and only those"


@pytest.mark.parametrize("name", SETTING_NAMES)
def test_every_setting_has_a_readme_row_with_its_default_and_bicep_parameter(name: str) -> None:
    rows = settings_rows()
    assert name in rows, f"README's Settings table has no row for {name}"
    default, bicep, meaning = rows[name][0], rows[name][1], rows[name][-1]
    assert meaning, f"{name}: say what it means"
    if name in DEFAULT_ATTRIBUTE:
        expected = shown(getattr(Settings.from_env({}), DEFAULT_ATTRIBUTE[name]))
        assert default == expected, f"{name}: README says {default}, the code's default is {expected}"
    if name in UNSET_BY_DEFAULT:
        assert default.startswith("unset"), f"{name}: the code leaves it unset by default"
    parameter = PARAMETER_OF_SETTING.get(name)
    if parameter:
        assert bicep.startswith(f"`{parameter}`"), f"{name}: its Bicep parameter is {parameter}"
    else:
        assert bicep.startswith("no"), f"{name}: it is not a Bicep parameter; say 'no (why)'"


def test_the_readme_table_has_no_row_the_code_does_not_read() -> None:
    assert set(settings_rows()) <= set(SETTING_NAMES)


def test_python_311_or_newer_everywhere() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["requires-python"] == ">=3.11"
    for doc in ("README.md", "docs/DEPLOY.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert not re.search(r"Python 3\.10|3\.10[–-]", text), f"{doc} still mentions Python 3.10"
    assert "Python 3.11+" in README


def test_no_doc_refers_to_a_spec_the_repository_does_not_hold() -> None:
    docs = [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        ROOT / ".checkov.yaml",
        *(ROOT / "infra").rglob("*.bicep"),
    ]
    for path in docs:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"SPEC(\.md| §)|\bthe spec\b", text, re.IGNORECASE), f"{path.name} cites a spec"


def test_deploy_and_checkov_say_an_unresolved_key_vault_reference_stops_only_the_alerts() -> None:
    checkov = (ROOT / ".checkov.yaml").read_text(encoding="utf-8")
    deploy = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    assert "refuse to start" not in deploy
    assert "stop the app starting" not in checkov
    assert "turns off only the alerts" in checkov
    assert "turns off only the alerts" in deploy


def test_the_minimum_azd_version_is_named_and_declared() -> None:
    declared = re.search(r'^requiredVersions:\n  azd: ">= ([0-9.]+)"$', (ROOT / "azure.yaml").read_text(), re.M)
    assert declared is not None
    version = declared.group(1)
    assert f"{version} or newer" in README
    assert f"{version} or newer" in (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")


def test_the_readme_performance_table_carries_the_benchmarks_caveats() -> None:
    section = README.split("\n## Performance\n", 1)[1].split("\n## ", 1)[0]
    for caveat in ("docs/BENCHMARKS.md", "2-core", "same two cores", "alternating runs", "fake", "not re-measured"):
        assert caveat in section, f"README's Performance section should say: {caveat}"
