"""The deployment in infra/: every template parses, the Function App gets exactly the settings the app reads,
every role is the one it claims to be and no more than the scan needs, and checkov finds nothing unexplained.

No Bicep CLI can run here, so the templates are read with pycep-parser (the parser checkov uses too).
"""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from shared.settings import SETTING_NAMES, Settings

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"

# Settings the app reads that the deployment leaves unset on purpose, and why.
NOT_SET_IN_AZURE = {
    "FINDINGS_STORAGE_CONNECTION": "a shared-key connection string; Azure uses FINDINGS_TABLE_ENDPOINT instead",
    "AzureWebJobsStorage": "the host connects with the identity-based AzureWebJobsStorage__* settings instead",
    "KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false only for local Key Vault emulators; the default suits Azure",
}

# Settings for the Functions host, the Application Insights agent and azure-identity, not read by shared/settings.py.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AZURE_CLIENT_ID",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}

# App setting -> main.bicep parameter that sets it (the same name in app/api.bicep).
PARAMETER_OF_SETTING = {
    "AZURE_SUBSCRIPTION_IDS": "subscriptionIds",
    "ARM_ENDPOINT": "armEndpoint",
    "ALERT_WEBHOOK_URL": "alertWebhookUrl",
    "ALERT_WEBHOOK_KIND": "alertWebhookKind",
    "EXPIRY_WARNING_DAYS": "expiryWarningDays",
    "EXEMPT_TAGS": "exemptTags",
    "SCAN_SCHEDULE": "scanSchedule",
    "RETENTION_DAYS": "retentionDays",
    "ALERT_ON_CLEAN": "alertOnClean",
    "AUTO_REMEDIATE": "autoRemediate",
    "SCAN_VAULT_CONCURRENCY": "scanVaultConcurrency",
    "SCAN_REQUESTS_PER_VAULT": "scanRequestsPerVault",
}

# Built-in role definition ids (the same in every tenant and cloud) that the templates may use.
KNOWN_ROLES = {
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "21090545-7ca7-4776-b22c-e363652d74d2": "Key Vault Reader",
    "a4417e6f-fecd-4de8-b567-7b0420556985": "Key Vault Certificates Officer",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@cache
def parse(path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = dict(BicepParser().parse(file_path=path))
    return parsed


def template(relative: str) -> dict[str, Any]:
    return parse(INFRA / relative)


def unwrap(block: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's body; `= if (...)` and `= [for ...]` nest it one level deeper."""
    config: dict[str, Any] = block["config"]
    return config["config"] if "condition" in config or "loop_type" in config else config


def resources_of_type(resource_type: str) -> list[tuple[Path, str, dict[str, Any]]]:
    return [
        (path, name, block)
        for path in BICEP_FILES
        for name, block in (parse(path).get("resources") or {}).items()
        if block["type"] == resource_type and not block["existing"]
    ]


def function_app() -> dict[str, Any]:
    [(_, _, site)] = resources_of_type("Microsoft.Web/sites")
    return unwrap(site)


def app_settings() -> dict[str, Any]:
    settings = function_app()["properties"]["siteConfig"]["appSettings"]
    names = [setting["name"] for setting in settings]
    assert len(names) == len(set(names)), f"an app setting is set twice: {sorted(names)}"
    return {setting["name"]: setting["value"] for setting in settings}


def variables(path: Path) -> dict[str, Any]:
    return {name: var["value"] for name, var in (parse(path).get("variables") or {}).items()}


def function_name(value: Any) -> str | None:
    return value["function"]["type"] if isinstance(value, dict) and "function" in value else None


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_template_parses(path: Path) -> None:
    parsed = parse(path)
    assert parsed.get("resources") or parsed.get("modules"), f"{path.name} declares nothing"


def test_every_module_path_exists() -> None:
    for path in BICEP_FILES:
        for name, module in (parse(path).get("modules") or {}).items():
            assert module["type"] == "local", f"{path.name}: module {name} must be a local file (no registry here)"
            assert (path.parent / module["detail"]["path"]).is_file(), f"{path.name}: module {name} not found"


def test_main_and_scan_access_deploy_at_subscription_scope() -> None:
    assert template("main.bicep")["globals"]["scope"]["value"] == "subscription"
    assert template("app/scan-access.bicep")["globals"]["scope"]["value"] == "subscription"


def test_the_function_app_gets_exactly_the_settings_the_app_reads() -> None:
    expected = (set(SETTING_NAMES) - set(NOT_SET_IN_AZURE)) | PLATFORM_SETTINGS
    assert set(NOT_SET_IN_AZURE) <= set(SETTING_NAMES), "NOT_SET_IN_AZURE names a setting the app no longer reads"
    actual = set(app_settings())
    assert not actual - expected, f"templates set names the app does not read: {sorted(actual - expected)}"
    assert not expected - actual, f"templates miss settings: {sorted(expected - actual)}"


def test_no_setting_holds_a_shared_key() -> None:
    for path in BICEP_FILES:
        text = path.read_text()
        assert "listKeys(" not in text, f"{path.name} reads an account key"
        assert "AccountKey=" not in text, f"{path.name} builds a shared-key connection string"
    settings = app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AZURE_CLIENT_ID"] == settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert "Authorization=AAD" in settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]


def test_webhook_url_is_a_key_vault_reference_resolved_with_the_user_assigned_identity() -> None:
    value = app_settings()["ALERT_WEBHOOK_URL"]["operator"]
    assert value["type"] == "conditional"
    assert value["operands"]["true_value"] == "", "without a webhook the setting must stay empty"
    assert value["operands"]["false_value"].startswith("@Microsoft.KeyVault(SecretUri=")
    assert function_app()["properties"]["keyVaultReferenceIdentity"] == "identityId"


def test_every_setting_parameter_defaults_to_what_the_app_assumes_when_unset() -> None:
    """Feed main.bicep's defaults, as the app settings would carry them, to the app's own parser."""
    parameters = template("main.bicep")["parameters"]
    env: dict[str, str] = {}
    for setting, parameter in PARAMETER_OF_SETTING.items():
        default = parameters[parameter]["default"]
        if isinstance(default, bool):
            env[setting] = "true" if default else "false"
        elif isinstance(default, int | str):
            env[setting] = str(default)
    # ARM_ENDPOINT follows the cloud; in Azure public, environment().resourceManager is this:
    assert json.dumps(parameters["armEndpoint"]["default"]).count('"resourceManager"') == 1
    env["ARM_ENDPOINT"] = "https://management.azure.com/"
    assert set(env) == set(PARAMETER_OF_SETTING)
    assert Settings.from_env(env) == Settings.from_env({})


def test_settings_are_wired_from_main_through_api_to_the_app_setting() -> None:
    api_module = unwrap(template("main.bicep")["modules"]["api"])
    settings = app_settings()
    for setting, parameter in PARAMETER_OF_SETTING.items():
        if setting == "ALERT_WEBHOOK_URL":  # goes through Key Vault: main -> keyvault -> secret URI -> api
            assert unwrap(template("main.bicep")["modules"]["keyVault"])["params"]["alertWebhookUrl"] == parameter
            continue
        assert api_module["params"][parameter] == parameter, f"main.bicep passes something else as {parameter}"
        assert parameter in json.dumps(settings[setting]), f"{setting} is not set from the {parameter} parameter"


def test_azd_parameter_defaults_agree_with_the_template() -> None:
    parameters = template("main.bicep")["parameters"]
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert mapped["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert mapped["location"]["value"] == "${AZURE_LOCATION}"
    for name, entry in mapped.items():
        assert name in parameters, f"main.parameters.json sets {name}, which main.bicep does not declare"
        match = re.fullmatch(r"\$\{(\w+)(?:=(.*))?\}", entry["value"])
        assert match, f"{name}: {entry['value']!r} is not an azd ${{VARIABLE}} reference"
        if name in ("environmentName", "location"):
            continue
        default = parameters[name]["default"]
        given = match.group(2) if match.group(2) is not None else ""
        rendered = ("true" if default else "false") if isinstance(default, bool) else str(default)
        assert given == rendered, f"{name}: main.parameters.json falls back to {given!r}, main.bicep to {rendered!r}"


def test_flex_consumption_python_311_with_identity_based_deployment_storage() -> None:
    [(_, _, plan)] = resources_of_type("Microsoft.Web/serverfarms")
    assert unwrap(plan)["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    config = function_app()["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    authentication = config["deployment"]["storage"]["authentication"]
    assert authentication == {"type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "identityId"}
    assert function_app()["identity"]["type"] == "UserAssigned"
    assert function_app()["properties"]["httpsOnly"] is True


def test_storage_accepts_only_entra_id_over_tls12() -> None:
    [(_, _, storage)] = resources_of_type("Microsoft.Storage/storageAccounts")
    properties = unwrap(storage)["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True


def test_key_vault_uses_rbac_soft_delete_and_purge_protection() -> None:
    [(_, _, vault)] = resources_of_type("Microsoft.KeyVault/vaults")
    properties = unwrap(vault)["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["enablePurgeProtection"] is True


def test_every_role_guid_is_a_known_role_named_in_a_comment() -> None:
    for path in BICEP_FILES:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for guid in GUID.findall(line):
                where = f"{path.relative_to(INFRA)}:{number}"
                assert guid.lower() in KNOWN_ROLES, f"{where}: {guid} is not a role the deployment should grant"
                assert f"// {KNOWN_ROLES[guid.lower()]}" in line, f"{where}: name the role in a // comment"


def role_assignments() -> list[tuple[Path, str, dict[str, Any], dict[str, Any]]]:
    """(file, symbol, body, the whole block) of every role assignment."""
    return [
        (path, name, unwrap(block), block)
        for path, name, block in resources_of_type("Microsoft.Authorization/roleAssignments")
    ]


def granted_role(path: Path, body: dict[str, Any]) -> str:
    definition = body["properties"]["roleDefinitionId"]["function"]
    assert definition["type"] == "subscription_resource_id"
    return KNOWN_ROLES[variables(path)[definition["parameters"]["resource_name_1"]]]


def test_every_role_assignment_is_named_guid_of_scope_principal_role() -> None:
    assignments = role_assignments()
    assert assignments
    for path, name, body, _ in assignments:
        where = f"{path.name}:{name}"
        assert function_name(body["name"]) == "guid", f"{where}: name it guid(scope, principal, role)"
        arguments = [a for a in body["name"]["function"]["parameters"].values() if a is not None]
        assert len(arguments) == 3, f"{where}: guid() takes scope, principal and role, got {len(arguments)}"
        scope, principal, role = arguments
        assert principal == body["properties"]["principalId"] == "principalId", where
        role_definition = body["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        assert role == role_definition, f"{where}: guid() names another role than the one granted"
        accessor = scope["operator"]["operands"]
        assert accessor["operand_2"] == "id", f"{where}: the first guid() argument is the scope's id"
        if "scope" in body:
            assert accessor["operand_1"] == body["scope"], f"{where}: guid() is of another scope than the assignment"
        else:
            assert function_name(accessor["operand_1"]) == "subscription", f"{where}: subscription().id expected"
        assert body["properties"]["principalType"] == "ServicePrincipal", where


def test_least_privilege_grants() -> None:
    grants: dict[str, set[str]] = {}
    conditions: dict[str, Any] = {}
    for path, _, body, block in role_assignments():
        role = granted_role(path, body)
        grants.setdefault(path.name, set()).add(role)
        conditions[role] = block["config"].get("condition")
    assert grants == {
        "scan-access.bicep": {"Reader", "Key Vault Reader", "Key Vault Certificates Officer"},
        "rbac.bicep": {
            "Storage Blob Data Owner",
            "Storage Table Data Contributor",
            "Key Vault Secrets User",
            "Monitoring Metrics Publisher",
        },
    }
    assert conditions["Key Vault Certificates Officer"] == "autoRemediate", "only granted for auto-remediation"
    assert all(condition is None for role, condition in conditions.items() if role != "Key Vault Certificates Officer")


def test_scan_access_covers_the_home_and_every_additional_subscription() -> None:
    modules = template("main.bicep")["modules"]
    scan_modules = {name: m for name, m in modules.items() if m["detail"]["path"] == "app/scan-access.bicep"}
    assert set(scan_modules) == {"scanAccess", "additionalScanAccess"}
    home = unwrap(scan_modules["scanAccess"])
    assert "scope" not in home, "the home subscription is main.bicep's own scope"
    loop = scan_modules["additionalScanAccess"]["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "additionalScanSubscriptions"
    variables = template("main.bicep")["variables"]
    assert "additionalScanSubscriptionList" in json.dumps(variables["additionalScanSubscriptions"])
    assert "additionalScanSubscriptionIds" in json.dumps(variables["additionalScanSubscriptionList"])
    extra = unwrap(scan_modules["additionalScanAccess"])
    assert function_name(extra["scope"]) == "subscription"
    for module in (home, extra):
        assert module["params"]["autoRemediate"] == "autoRemediate"


def test_azure_yaml_declares_the_python_function_service() -> None:
    lines = [line.rstrip() for line in (ROOT / "azure.yaml").read_text().splitlines()]
    block = lines[lines.index("services:") :]
    assert "  api:" in block
    for entry in ("project: .", "language: python", "host: function"):
        assert f"    {entry}" in block, f"azure.yaml: service api needs {entry}"


def checkov_skips() -> list[str]:
    text = (ROOT / ".checkov.yaml").read_text()
    return re.findall(r"^\s*-\s*(CKV2?_[A-Z]+_\d+)\s*#\s*\S", text, flags=re.MULTILINE)


def test_every_checkov_skip_is_justified_in_the_config_and_the_docs() -> None:
    text = (ROOT / ".checkov.yaml").read_text()
    listed = re.findall(r"^\s*-\s*(CKV2?_[A-Z]+_\d+)", text, flags=re.MULTILINE)
    assert listed == checkov_skips(), "every skipped check needs a '# reason' on its line"
    docs = (ROOT / "docs" / "DEPLOY.md").read_text()
    for check in listed:
        assert check in docs, f"{check} is skipped but docs/DEPLOY.md does not explain it"


@pytest.mark.skipif(
    not CHECKOV.exists(),
    reason="checkov is not installed in .venv-checkov (python3 -m venv .venv-checkov && "
    ".venv-checkov/bin/pip install -r requirements-checkov.txt); CI installs it",
)
def test_checkov_reports_no_failed_check() -> None:
    completed = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            "infra",
            "--framework",
            "bicep",
            "--skip-download",
            "--config-file",
            ".checkov.yaml",
            "--compact",
            "--quiet",
            "-o",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(completed.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for one in reports
        for check in one.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert sum(one["summary"]["parsing_errors"] for one in reports) == 0
    assert sum(one["summary"]["passed"] for one in reports) > 0, "checkov checked nothing"
    assert completed.returncode == 0, completed.stderr[-2000:]
