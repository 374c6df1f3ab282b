"""Issue 18's infra, read with pycep-parser (no Bicep CLI here): the table and the rule's stream come from the
one columns file, the rule is Direct with transform ``source`` into the table, the app may send to it and
gets its two settings, the alert and its action group exist only with ``alertEmails``, and the deployed
package carries the columns file the export reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pathspec
from pycep import BicepParser

from shared.export.columns import COLUMNS_FILE
from shared.settings import DEFAULT_LOGS_STREAM_NAME, Settings

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"


def parse(relative: str) -> dict[str, Any]:
    return dict(BicepParser().parse(file_path=INFRA / relative))


def body(block: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = block["config"]
    return config["config"] if "condition" in config else config


MONITOR = parse("app/monitor.bicep")
MAIN = parse("main.bicep")


def variable(name: str) -> Any:
    return MONITOR["variables"][name]["value"]


def test_the_table_and_the_stream_are_declared_from_the_columns_file() -> None:
    loaded = variable("columns")["function"]
    assert loaded["type"] == "load_json_content"
    assert (INFRA / "app" / loaded["parameters"]["file_path"]).resolve() == COLUMNS_FILE
    table = body(MONITOR["resources"]["table"])
    assert variable("tableName") == "AutoRenewGuard_CL"
    assert table["properties"]["schema"] == {"name": "tableName", "columns": "columns"}
    rule = body(MONITOR["resources"]["rule"])
    assert rule["kind"] == "Direct"
    assert rule["properties"]["streamDeclarations"] == {"'${streamName}'": {"columns": "columns"}}
    assert variable("streamName") == DEFAULT_LOGS_STREAM_NAME == Settings().logs_stream_name
    (flow,) = rule["properties"]["dataFlows"]
    assert flow["transformKql"] == "source"
    assert flow["outputStream"] == "Custom-${tableName}"
    assert flow["streams"] == ["streamName"]


def test_the_app_may_send_to_the_rule_and_nothing_more() -> None:
    assignment = body(MONITOR["resources"]["publisher"])
    assert assignment["scope"] == "rule"
    assert variable("monitoringMetricsPublisher") == "3913510d-42f4-4e42-8a64-420c390055eb"


def test_the_export_is_on_by_default_and_feeds_the_two_settings() -> None:
    assert MAIN["parameters"]["enableLogsExport"]["default"] is True
    module = MAIN["modules"]["monitorExport"]["config"]
    assert module["condition"] == "enableLogsExport"
    params = body(MAIN["modules"]["api"])["params"]
    for param, output in (
        ("logsIngestionEndpoint", "logsIngestionEndpoint"),
        ("logsDcrImmutableId", "dataCollectionRuleImmutableId"),
    ):
        conditional = params[param]["operator"]["operands"]
        assert conditional["condition"] == "enableLogsExport"
        assert conditional["false_value"] == ""
        assert output in json.dumps(conditional["true_value"])
    outputs = MONITOR["outputs"]
    assert "endpoints" in json.dumps(outputs["logsIngestionEndpoint"])
    assert "logsIngestion" in json.dumps(outputs["logsIngestionEndpoint"])
    assert "immutableId" in json.dumps(outputs["dataCollectionRuleImmutableId"])


def test_the_alert_and_its_action_group_exist_only_with_alert_emails() -> None:
    assert MAIN["parameters"]["alertEmails"]["default"] == ""  # comma-separated, so azd can set it (ALERT_EMAILS)
    assert "alertEmailAddresses" in json.dumps(body(MAIN["modules"]["monitorExport"])["params"]["alertEmails"])
    for name in ("alert", "actionGroup"):
        condition = MONITOR["resources"][name]["config"]["condition"]
        assert condition["operator"]["type"] == "not", name
        assert "alertEmails" in json.dumps(condition), name
    alert = body(MONITOR["resources"]["alert"])["properties"]
    assert alert["evaluationFrequency"] == "PT1H"
    (criterion,) = alert["criteria"]["allOf"]
    assert "alertCriticalHigh" in json.dumps(criterion["query"])
    assert (criterion["operator"], criterion["threshold"]) == ("GreaterThan", 0)
    group = body(MONITOR["resources"]["actionGroup"])["properties"]
    assert "alertEmails" in json.dumps(group["emailReceivers"])
    assert len(group["groupShortName"]) <= 12


def test_the_deployed_package_carries_the_columns_file_and_no_other_infra() -> None:
    ignore = pathspec.GitIgnoreSpec.from_lines((ROOT / ".funcignore").read_text().splitlines())
    assert not ignore.match_file("infra/monitor/findings-columns.json")
    for other in (
        "infra/main.bicep",
        "infra/app/monitor.bicep",
        "infra/monitor/workbook.json",
        "infra/monitor/queries/alert-critical-high.kql",
    ):
        assert ignore.match_file(other), other
