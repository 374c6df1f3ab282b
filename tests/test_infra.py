"""The deployment in infra/: every template parses, the Function App gets exactly the settings the app reads,
secrets reach it only through Key Vault and never through an output, it deploys only where Flex Consumption
exists and talks to storage in the cloud it is deployed to, every role is the one it claims to be and no more
than the scan needs, checkov finds nothing unexplained, and `pip install .` (azd's restore) builds the package
with exactly the runtime dependencies of requirements.txt.

No Bicep CLI can run here, so the templates are read with pycep-parser (the parser checkov uses too).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
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
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
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
    "MAX_AUTO_REMEDIATIONS": "maxAutoRemediations",
    "ALERT_ROUTES": "alertRoutes",
    "ALERT_ROUTE_TAG": "alertRouteTag",
    "ALERT_REMIND_DAYS": "alertRemindDays",
    "ALERT_MAX_ITEMS": "alertMaxItems",
    "REPORT_URL": "reportUrl",
}
# Secret settings: a @secure() parameter of main.bicep, stored in the app's Key Vault (entry, keyvault.bicep
# output) and set on the app as a Key Vault reference.
SECRET_SETTINGS = {
    "ALERT_WEBHOOK_URL": ("alertWebhookUrl", "alertWebhookReferenceUri"),
    "ALERT_ROUTES": ("alertRoutes", "alertRoutesReferenceUri"),
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


@pytest.mark.parametrize("setting", sorted(SECRET_SETTINGS))
def test_a_secret_setting_is_a_key_vault_reference_resolved_with_the_user_assigned_identity(setting: str) -> None:
    value = app_settings()[setting]["operator"]
    assert value["type"] == "conditional"
    assert value["operands"]["true_value"] == "", f"without a value {setting} must stay empty"
    assert value["operands"]["false_value"].startswith("@Microsoft.KeyVault(SecretUri=")
    assert function_app()["properties"]["keyVaultReferenceIdentity"] == "identityId"


@pytest.mark.parametrize("setting", sorted(SECRET_SETTINGS))
def test_a_secret_setting_goes_from_a_secure_parameter_through_the_vault(setting: str) -> None:
    parameter, reference = SECRET_SETTINGS[setting]
    main = template("main.bicep")
    assert {"type": "secure"} in main["parameters"][parameter]["decorators"], f"{parameter} must be @secure()"
    vault_module = unwrap(main["modules"]["keyVault"])["params"]
    assert vault_module[parameter] == parameter
    keyvault = template("app/keyvault.bicep")
    assert {"type": "secure"} in keyvault["parameters"][parameter]["decorators"]
    # The vault entry is written only when a value is given, and its URI is the keyvault module's output ...
    [entry] = [m for m in keyvault["modules"].values() if m["config"]["config"]["params"]["value"] == parameter]
    flag = entry["config"]["condition"]
    assert json.dumps(vault_module[flag]).count(f'"item_to_test": "{parameter}"') == 1, f"{flag} is !empty({parameter})"
    assert flag in json.dumps(keyvault["outputs"][reference]["value"]), f"{reference} must be empty without {flag}"
    # ... which main.bicep hands to the app, never the value itself.
    api_params = unwrap(main["modules"]["api"])["params"]
    assert any(reference in json.dumps(value) for value in api_params.values())
    assert parameter not in api_params


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
        if setting in SECRET_SETTINGS:  # goes through Key Vault: main -> keyvault -> reference URI -> api
            assert unwrap(template("main.bicep")["modules"]["keyVault"])["params"][parameter] == parameter
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


# The custom role definitions of scan-access.bicep, by the variable that names them.
CUSTOM_ROLES = {"scanRoleName": "custom scan role", "remediateRoleName": "custom remediation role"}


def granted_role(path: Path, body: dict[str, Any]) -> str:
    definition = body["properties"]["roleDefinitionId"]["function"]
    assert definition["type"] == "subscription_resource_id"
    name = definition["parameters"]["resource_name_1"]
    if name in CUSTOM_ROLES:
        return CUSTOM_ROLES[name]
    return KNOWN_ROLES[variables(path)[name]]


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
        "scan-access.bicep": {
            "custom scan role",
            "custom remediation role",
            "Reader",
            "Key Vault Reader",
            "Key Vault Certificates Officer",
        },
        "rbac.bicep": {
            "Storage Blob Data Owner",
            "Storage Table Data Contributor",
            "Key Vault Secrets User",
            "Monitoring Metrics Publisher",
        },
    }
    # Least privilege by default: the custom roles unless useBuiltInRoles; remediation only with autoRemediate.
    custom = {"operator": {"type": "not", "operands": {"bool_value": "useBuiltInRoles"}}}
    assert conditions["custom scan role"] == custom
    assert conditions["Reader"] == conditions["Key Vault Reader"] == "useBuiltInRoles"
    for role, option in (("custom remediation role", custom), ("Key Vault Certificates Officer", "useBuiltInRoles")):
        assert conditions[role] == {
            "operator": {"type": "and", "operands": {"operand_1": "autoRemediate", "operand_2": option}}
        }, f"{role}: only with autoRemediate"
    assert all(
        condition is None
        for role, condition in conditions.items()
        if role not in {"custom scan role", "custom remediation role", "Reader", "Key Vault Reader"}
        and role != "Key Vault Certificates Officer"
    )


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
        assert module["params"]["useBuiltInRoles"] == "useBuiltInRoles"


# --- the custom roles: exactly the reads the scan makes, and remediation's one change (issue 19.6) ----------

# Every Resource Manager read the app makes (shared/azure/discovery.py, shared/azure/services.py and the
# served-certificate readers: SPEC's service table), each checked against Microsoft's published operations
# (MicrosoftDocs/azure-docs, articles/role-based-access-control/permissions/*.md) and covered by Reader's */read.
SCAN_ACTIONS = {
    "Microsoft.Resources/subscriptions/read",
    "Microsoft.KeyVault/vaults/read",
    "Microsoft.Network/applicationGateways/read",
    "Microsoft.Network/frontDoors/read",
    "Microsoft.Cdn/profiles/read",
    "Microsoft.Cdn/profiles/secrets/read",
    "Microsoft.Cdn/profiles/customdomains/read",
    "Microsoft.Cdn/profiles/endpoints/read",
    "Microsoft.Cdn/profiles/endpoints/customdomains/read",
    "Microsoft.ApiManagement/service/read",
    "Microsoft.Web/certificates/Read",
    "Microsoft.Web/sites/Read",
    "Microsoft.App/managedEnvironments/read",
    "Microsoft.App/managedEnvironments/certificates/read",
    "Microsoft.App/containerApps/read",
}
SCAN_DATA_ACTIONS = {
    "Microsoft.KeyVault/vaults/certificates/read",  # list, get (policy, cer), versions, pending
    "Microsoft.KeyVault/vaults/secrets/readMetadata/action",  # a plain secret's metadata, never its value
}
REMEDIATE_DATA_ACTIONS = {
    "Microsoft.KeyVault/vaults/certificates/read",
    "Microsoft.KeyVault/vaults/certificates/update/action",
}


def custom_role(symbol: str) -> dict[str, Any]:
    resources = template("app/scan-access.bicep")["resources"]
    block = resources[symbol]
    assert block["type"] == "Microsoft.Authorization/roleDefinitions"
    return unwrap(block)


def permissions_of(symbol: str) -> dict[str, set[str]]:
    resolved = variables(INFRA / "app" / "scan-access.bicep")
    [permission] = custom_role(symbol)["properties"]["permissions"]
    return {
        key: set(resolved.get(value, value) if isinstance(value, str) else value) for key, value in permission.items()
    }


def test_the_custom_scan_role_holds_exactly_the_reads_the_scan_makes() -> None:
    permissions = permissions_of("scanRole")
    assert permissions["actions"] == SCAN_ACTIONS
    assert permissions["dataActions"] == SCAN_DATA_ACTIONS
    assert permissions["notActions"] == permissions["notDataActions"] == set()
    everything = permissions["actions"] | permissions["dataActions"]
    assert all(action.lower().endswith(("/read", "/readmetadata/action")) for action in everything)
    assert not any("*" in action for action in everything), "no wildcard: exactly the reads"


def test_the_custom_remediation_role_reads_and_updates_certificates_and_nothing_else() -> None:
    permissions = permissions_of("remediateRole")
    assert permissions["actions"] == set()
    assert permissions["dataActions"] == REMEDIATE_DATA_ACTIONS
    forbidden = ("create", "import", "delete", "purge", "backup", "restore", "recover", "getsecret", "*")
    assert not any(word in action.lower() for action in permissions["dataActions"] for word in forbidden)


def test_each_custom_role_is_assignable_only_in_its_subscription_and_named_uniquely() -> None:
    for symbol in ("scanRole", "remediateRole"):
        properties = custom_role(symbol)["properties"]
        assert properties["type"] == "CustomRole"
        assert json.dumps(properties["assignableScopes"]).count('"subscription"') == 1
        assert "uniqueString" in json.dumps(properties["roleName"]) or "unique_string" in json.dumps(
            properties["roleName"]
        ), f"{symbol}: a role name is unique in the tenant, so it carries the subscription and principal"


def test_azure_yaml_declares_the_python_function_service() -> None:
    lines = [line.rstrip() for line in (ROOT / "azure.yaml").read_text().splitlines()]
    block = lines[lines.index("services:") :]
    assert "  api:" in block
    for entry in ("project: .", "language: python", "host: function"):
        assert f"    {entry}" in block, f"azure.yaml: service api needs {entry}"


# Regions with Flex Consumption in Microsoft's own azd template for it (Azure-Samples/
# functions-quickstart-python-http-azd, infra/main.bicep), less its canary region eastus2euap.
FLEX_CONSUMPTION_REGIONS = {
    "australiaeast", "australiasoutheast", "brazilsouth", "canadacentral", "centralindia", "centralus",
    "eastasia", "eastus", "eastus2", "francecentral", "germanywestcentral", "italynorth", "japaneast",
    "koreacentral", "northcentralus", "northeurope", "norwayeast", "southafricanorth", "southcentralus",
    "southeastasia", "southindia", "spaincentral", "swedencentral", "uaenorth", "uksouth", "ukwest",
    "westcentralus", "westeurope", "westus", "westus2", "westus3",
}  # fmt: skip


def allowed_locations() -> list[str]:
    decorators = template("main.bicep")["parameters"]["location"]["decorators"]
    [allowed] = [d["argument"] for d in decorators if d["type"] == "allowed"] or [[]]
    return list(allowed)


def test_location_offers_only_flex_consumption_regions() -> None:
    allowed = allowed_locations()
    assert allowed, "main.bicep: location needs @allowed([...]) with the Flex Consumption regions"
    assert len(allowed) == len(set(allowed))
    assert set(allowed) == FLEX_CONSUMPTION_REGIONS, (
        f"differs from the cited list: {set(allowed) ^ FLEX_CONSUMPTION_REGIONS}"
    )
    assert "functions-quickstart-python-http-azd" in (INFRA / "main.bicep").read_text(), "cite where the list is from"
    # azd still offers the list as its region picker.
    assert {"type": "metadata", "argument": {"azd": {"type": "location"}}} in template("main.bicep")["parameters"][
        "location"
    ]["decorators"]


def test_every_region_the_docs_deploy_to_is_allowed() -> None:
    """A reader who copies a command from the docs must not hit the @allowed list."""
    pattern = re.compile(r"(?:--location\s+|\blocation=)([a-z0-9]+)\b")
    found = []
    for doc in (ROOT / "README.md", ROOT / "docs" / "DEPLOY.md"):
        for region in pattern.findall(doc.read_text()):
            found.append(region)
            assert region in allowed_locations(), f"{doc.name} deploys to {region}, which main.bicep does not allow"
    assert found, "the docs show no deployment command with a region"


IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INTERPOLATION = re.compile(r"\$\{(.*?)\}")


def leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, str):
        yield value


def names_used(value: Any) -> set[str]:
    """Every name an expression may refer to. pycep gives a reference and a string literal alike as a plain
    string, so this over-approximates, which is the safe side for a secrets check."""
    names: set[str] = set()
    for leaf in leaves(value):
        names.add(leaf)
        for expression in INTERPOLATION.findall(leaf):
            names.update(IDENTIFIER.findall(expression))
    return names


def functions_used(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("function"), dict):
            found.add(str(value["function"].get("type", "")))
        for item in value.values():
            found |= functions_used(item)
    elif isinstance(value, list):
        for item in value:
            found |= functions_used(item)
    return found | {f for leaf in leaves(value) for f in re.findall(r"\b(list\w*)\(", leaf)}


def secret_names(parsed: dict[str, Any]) -> set[str]:
    """The @secure() parameters and every variable computed from one."""
    tainted = {
        name
        for name, parameter in (parsed.get("parameters") or {}).items()
        if {"type": "secure"} in parameter["decorators"]
    }
    variables_ = {name: var["value"] for name, var in (parsed.get("variables") or {}).items()}
    changed = True
    while changed:
        changed = False
        for name, value in variables_.items():
            if name not in tainted and names_used(value) & tainted:
                tainted.add(name)
                changed = True
    return tainted


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_no_output_holds_a_secure_value(path: Path) -> None:
    """Outputs stay in the deployment history, which anyone with Reader can read (the rule of the Bicep
    linter, outputs-should-not-contain-secrets: no secure parameter, no list*() call, no 'password' name)."""
    parsed = parse(path)
    secrets = secret_names(parsed)
    for name, output in (parsed.get("outputs") or {}).items():
        leaked = names_used(output["value"]) & secrets
        assert not leaked, f"{path.name}: output {name} is computed from the secure value(s) {sorted(leaked)}"
        listing = {f for f in functions_used(output["value"]) if f.lower().startswith("list")}
        assert not listing, f"{path.name}: output {name} calls {sorted(listing)}"
        assert "password" not in name.lower(), f"{path.name}: output {name} is named like a secret"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_parameter_named_like_a_secret_is_secure(path: Path) -> None:
    """The Bicep linter's secure-secrets-in-params: a name with password, pwd, secret or accountkey must be
    @secure(), so such names are kept for values that are secrets."""
    for name, parameter in (parse(path).get("parameters") or {}).items():
        if re.search(r"password|pwd|secret|accountkey|acctkey", name, flags=re.IGNORECASE):
            assert {"type": "secure"} in parameter["decorators"], (
                f"{path.name}: {name} looks secret but is not @secure()"
            )


def test_secure_values_reach_the_app_only_through_key_vault() -> None:
    main = template("main.bicep")
    secrets = secret_names(main)
    assert secrets >= {"alertWebhookUrl", "alertRoutes"}
    for name, module in main["modules"].items():
        params = unwrap(module)["params"]
        for param, value in params.items():
            used = names_used(value) & secrets
            if not used:
                continue
            # Only the vault gets a value, and only as a secure parameter of its own ...
            assert name == "keyVault", f"main.bicep passes {sorted(used)} to the module {name}"
            if isinstance(value, str):
                assert {"type": "secure"} in template("app/keyvault.bicep")["parameters"][param]["decorators"], (
                    f"keyvault.bicep takes {value} as {param}, which is not @secure()"
                )
            else:  # ... or whether one was given: !empty(value)
                assert value["operator"]["type"] == "not", f"keyVault.{param} is computed from {sorted(used)}"
                assert function_name(value["operator"]["operands"]["bool_value"]) == "empty", param


STORAGE_SERVICES = ("blob", "queue", "table")


def test_storage_endpoints_follow_the_cloud_the_app_is_deployed_to() -> None:
    """Sovereign clouds have other storage suffixes: endpoints come from environment().suffixes.storage, and
    the Functions host gets them as service URIs (the account name alone means core.windows.net)."""
    outputs = template("app/storage.bicep")["outputs"]
    for service in STORAGE_SERVICES:
        value = outputs[f"{service}Endpoint"]["value"]
        assert value == f"https://${{storage.name}}.{service}.${{environment().suffixes.storage}}/", value
    settings = app_settings()
    api_module = unwrap(template("main.bicep")["modules"]["api"])["params"]
    for service, parameter in (
        ("blob", "storageBlobEndpoint"),
        ("queue", "storageQueueEndpoint"),
        ("table", "storageTableEndpoint"),
    ):
        assert settings[f"AzureWebJobsStorage__{service}ServiceUri"] == parameter
        assert json.dumps(api_module[parameter]).count(f"{service}Endpoint") == 1
    assert settings["FINDINGS_TABLE_ENDPOINT"] == "storageTableEndpoint"
    deployment = function_app()["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert deployment["value"].startswith("${storageBlobEndpoint}")


def test_no_template_names_a_cloud_specific_host() -> None:
    hosts = re.compile(
        r"core\.windows\.net|core\.usgovcloudapi\.net|core\.chinacloudapi\.cn|vault\.azure\.net|"
        r"management\.azure\.com|portal\.azure\.com|azurewebsites\.net",
        flags=re.IGNORECASE,
    )
    for path in BICEP_FILES:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("//", 1)[0]
            assert not hosts.search(code), (
                f"{path.relative_to(INFRA)}:{number} names a host of one cloud: {line.strip()}"
            )


def requirement_set(lines: list[str]) -> dict[str, str]:
    requirements = [Requirement(line) for line in lines]
    return {canonicalize_name(r.name): str(r.specifier) for r in requirements}


def requirements_txt() -> dict[str, str]:
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    return requirement_set([line for line in lines if line])


# Local state beside the project files (virtual environments, caches, build output), never part of what azd packs.
NOT_IN_THE_PROJECT = (
    ".git", ".venv", ".venv-*", "node_modules", "__pycache__", "*.pyc", ".*_cache", "artifacts", ".demo",
    ".azure", "build", "dist", "*.egg-info",
)  # fmt: skip


def test_pip_install_dot_builds_the_package_with_the_runtime_dependencies(tmp_path: Path) -> None:
    """azd restores a Python service with `pip install .`: pyproject.toml must build, ship every module and
    data file of shared/, and require exactly what requirements.txt (the file the remote build installs) does.
    Built from a copy of the project root as azd sees it (tests/ and bench/ beside shared/ would stop
    setuptools' automatic discovery), so no build/ or egg-info is left in the work tree."""
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*NOT_IN_THE_PROJECT))
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path / "dist"), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("autorenew_guard-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [
            line.removeprefix("Requires-Dist:").strip()
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    shipped = {path.relative_to(source).as_posix() for path in (source / "shared").rglob("*") if path.is_file()}
    assert shipped, "shared/ is empty"
    assert not shipped - names, f"the package leaves out {sorted(shipped - names)}"
    assert requirement_set(requires) == requirements_txt(), (
        "pyproject.toml's dependencies differ from requirements.txt:\n"
        f"package: {sorted(requires)}\nrequirements.txt: {requirements_txt()}"
    )


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
