"""Every setting that holds a URL, malformed the ways ``urlsplit`` chokes on (issue 19.1, SPEC §6): one
settings error naming the setting and never the secret, exit 2 in the CLI, and in the Functions app only
the feature that needs the setting stops."""

from __future__ import annotations

import io
import json
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from shared.cli import main
from shared.settings import Settings, SettingsError, parse_url
from tests.fakeazure import cert, estate, subscription, vault
from tests.test_function_app import FUNCTIONS  # the app indexes once per process

# urlsplit raises on the first, `.port` on the next two, ipaddress on the fourth: each was a traceback.
MALFORMED = {
    "unbalanced-bracket": "https://[ops.example.net/SECRET",
    "port-out-of-range": "https://ops.example.net:99999/SECRET",
    "port-not-a-number": "https://ops.example.net:https/SECRET",
    "bad-ipv6-literal": "https://[::zz]/SECRET",
    "space-in-host": "https://ops example.net/SECRET",
}

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def value_for(name: str, url: str) -> str:
    """The setting's value holding the malformed URL where that setting keeps its URL."""
    if name == "ALERT_ROUTES":
        return f"ops=https://hooks.slack.com/services/T0/B0/fine;payments={url}"
    if name in ("FINDINGS_STORAGE_CONNECTION", "AzureWebJobsStorage"):
        return f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};TableEndpoint={url};"
    if name in ("ARM_ENDPOINT", "PORTAL_URL", "FINDINGS_TABLE_ENDPOINT"):
        return url.removesuffix("/SECRET")  # an endpoint takes no path: only the malformation is under test
    return url


URL_SETTINGS = (
    "ARM_ENDPOINT",
    "PORTAL_URL",
    "FINDINGS_TABLE_ENDPOINT",
    "FINDINGS_STORAGE_CONNECTION",
    "AzureWebJobsStorage",
    "ALERT_WEBHOOK_URL",
    "ALERT_ROUTES",
    "REPORT_URL",
)


@pytest.mark.parametrize("name", URL_SETTINGS)
@pytest.mark.parametrize("url", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_url_setting_is_one_settings_error_naming_it(name: str, url: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value_for(name, url)})
    message = str(raised.value)
    assert raised.value.name == name
    assert message.startswith(f"Setting {name}: ")
    assert "\n" not in message
    assert "SECRET" not in message
    assert KEY not in message


@pytest.mark.parametrize("name", URL_SETTINGS)
def test_the_cli_exits_2_with_one_line_naming_the_setting(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value_for(name, MALFORMED["unbalanced-bracket"]))
    out, err = io.StringIO(), io.StringIO()
    assert main(["scan", "--no-store", "--format", "json"], stdout=out, stderr=err) == 2
    assert out.getvalue() == ""
    lines = err.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"python -m shared: error: Setting {name}: ")
    assert "SECRET" not in lines[0]
    assert KEY not in lines[0]


def test_good_urls_still_pass_with_ports_and_ipv6_literals() -> None:
    assert parse_url("X", "https://[::1]:8443/") == "https://[::1]:8443"
    assert parse_url("X", "https://127.0.0.1:10002") == "https://127.0.0.1:10002"
    assert parse_url("X", "http://127.0.0.1:10002/devstoreaccount1", schemes=("https", "http")).endswith("account1")
    with pytest.raises(SettingsError, match="port from 1 to 65535"):
        parse_url("X", "https://example.net:0/")


# --- the Functions app: only the feature that needs the setting stops --------------------------------------


def small_estate() -> dict[str, Any]:
    return estate(subscription("Production", vault("cc-webapp-key-vault", cert("www", "Self"))))


@pytest.fixture
def app_env(fake_azure, app_store_connection: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    azure = fake_azure(small_estate())
    for name in ("ALERT_WEBHOOK_URL", "ALERT_ROUTES", "REPORT_URL", "AUTO_REMEDIATE"):
        monkeypatch.delenv(name, raising=False)
    function_app.context.reset()
    yield azure
    function_app.context.reset()


def http(name: str, path: str, method: str = "GET") -> func.HttpResponse:
    response = FUNCTIONS[name](func.HttpRequest(method=method, url=f"http://localhost:7071{path}", body=b"", params={}))
    assert isinstance(response, func.HttpResponse)
    return response


def run_timer() -> None:
    FUNCTIONS["scan_certificates"](TimerRequest(past_due=False))


@pytest.mark.parametrize("name", ["ALERT_WEBHOOK_URL", "ALERT_ROUTES", "REPORT_URL"])
@pytest.mark.parametrize("url", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_alert_url_stops_only_the_alerts(app_env, monkeypatch, name: str, url: str) -> None:
    monkeypatch.setenv(name, value_for(name, url))
    function_app.context.reset()

    run_timer()  # the scan runs and is stored

    findings = http("get_findings", "/api/findings")
    assert findings.status_code == 200
    document = json.loads(findings.get_body())
    assert document["findings"], "the scan's findings are served"
    assert any(p.startswith(f"Setting {name}: ") for p in document["scan"]["problems"])
    assert http("get_report", "/api/report").status_code == 200
    posted = http("post_alerts", "/api/alerts", method="POST")
    assert posted.status_code == 500
    error = json.loads(posted.get_body())["error"]
    assert error["code"] == "ConfigurationError"
    assert error["message"].startswith(f"Setting {name}: ")
    assert "SECRET" not in findings.get_body().decode() + posted.get_body().decode()


@pytest.mark.parametrize("url", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_arm_endpoint_stops_only_the_scan(app_env, monkeypatch, url: str) -> None:
    run_timer()  # a scan stored while the setting was good
    monkeypatch.setenv("ARM_ENDPOINT", value_for("ARM_ENDPOINT", url))
    function_app.context.reset()

    with pytest.raises(Exception, match=r"^Setting ARM_ENDPOINT: ") as raised:
        run_timer()
    assert "Traceback" not in str(raised.value)
    for name, path in (("get_findings", "/api/findings"), ("list_scans", "/api/scans"), ("get_report", "/api/report")):
        assert http(name, path).status_code == 200, path


@pytest.mark.parametrize("name", ["PORTAL_URL", "FINDINGS_TABLE_ENDPOINT", "FINDINGS_STORAGE_CONNECTION"])
def test_a_malformed_setting_every_function_needs_is_a_json_configuration_error(app_env, monkeypatch, name) -> None:
    monkeypatch.setenv(name, value_for(name, MALFORMED["port-out-of-range"]))
    function_app.context.reset()
    response = http("get_findings", "/api/findings")
    assert response.status_code == 500
    error = json.loads(response.get_body())["error"]
    assert error["code"] == "ConfigurationError"
    assert error["message"].startswith(f"Setting {name}: ")
    assert "SECRET" not in error["message"]
    assert KEY not in error["message"]
