"""The Functions app as the host would drive it: the registered functions called with real
``func.HttpRequest``/``TimerRequest`` objects, against the fake Azure, Azurite and a webhook receiver."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables import TableServiceClient
from azure.functions.timer import TimerRequest

import function_app
from shared import alerts, api
from shared.cli import main
from shared.store import FindingsStore
from tests.fakeazure import cert, estate, fault, firewall_fault, subscription, vault
from tests.plugins.webhook_receiver import Reply
from tests.sample_results import sample_result

ROOT = Path(__file__).resolve().parent.parent
# get_functions() validates and indexes the app, as the host does: call it once.
REGISTERED = function_app.app.get_functions()
FUNCTIONS: dict[str | None, Callable[..., Any]] = {f.get_function_name(): f.get_user_function() for f in REGISTERED}


def small_estate() -> dict[str, Any]:
    return estate(
        subscription(
            "Production",
            vault(
                "cc-webapp-key-vault",
                cert("cloudconformity", "Self", [("EmailContacts", {"days_before_expiry": 3})]),
                cert("www", "Self", [("AutoRenew", {"lifetime_percentage": 80})]),
                cert("imported-legacy", "Unknown", [], expires_in_days=3),
            ),
            vault("walled-kv", cert("x"), fault={"list": firewall_fault()}),
        )
    )


@pytest.fixture
def app_env(fake_azure, app_store_connection: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The fake estate, Azurite as the store (default table names, emptied), a fresh app context."""
    azure = fake_azure(small_estate())
    for name in ("ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_KIND", "AUTO_REMEDIATE", "ALERT_ON_CLEAN"):
        monkeypatch.delenv(name, raising=False)
    function_app.context.reset()
    yield azure
    function_app.context.reset()


def http(name: str, path: str, method: str = "GET") -> func.HttpResponse:
    request = func.HttpRequest(method=method, url=f"http://localhost:7071{path}", body=b"", params={})
    response = FUNCTIONS[name](request)
    assert isinstance(response, func.HttpResponse)
    return response


def body(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def run_timer() -> None:
    FUNCTIONS["scan_certificates"](TimerRequest(past_due=False))


# --- bindings -----------------------------------------------------------------------------------------------


def test_the_functions_and_their_bindings_are_as_documented() -> None:
    bindings = {f.get_function_name(): f.get_bindings()[0].get_dict_repr() for f in REGISTERED}
    assert set(bindings) == {"scan_certificates", "get_findings", "list_scans", "get_report", "post_alerts"}
    timer = bindings["scan_certificates"]
    assert (timer["type"], timer["schedule"], timer["runOnStartup"], timer["useMonitor"]) == (
        "timerTrigger",
        "%SCAN_SCHEDULE%",
        False,
        True,
    )
    routes = {
        name: (b["route"], [str(m.value) for m in b["methods"]], str(b["authLevel"].value))
        for name, b in bindings.items()
        if name != "scan_certificates"
    }
    assert routes == {
        "get_findings": ("findings", ["GET"], "function"),
        "list_scans": ("scans", ["GET"], "function"),
        "get_report": ("report", ["GET"], "function"),
        "post_alerts": ("alerts", ["POST"], "function"),
    }


def test_importing_the_app_reads_no_setting_and_opens_no_connection() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE", "IDENTITY", "MSI", "FINDINGS"))}
    env.update({"EXPIRY_WARNING_DAYS": "not-a-number", "ARM_ENDPOINT": "https://192.0.2.1", "PYTHONPATH": str(ROOT)})
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise AssertionError('network used at import')\n"
        "socket.socket.connect = refuse\n"
        "import function_app\n"
        "print(len(function_app.app.get_functions()))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "5"


# --- HTTP before and after the first scan -------------------------------------------------------------------


def test_before_the_first_scan_the_api_says_so(app_env) -> None:
    for name, path in (("get_findings", "/api/findings"), ("get_report", "/api/report")):
        response = http(name, path)
        assert response.status_code == 404
        assert body(response)["error"]["code"] == "NoScan"
    scans = http("list_scans", "/api/scans")
    assert (scans.status_code, body(scans)) == (200, {"scans": []})


def test_the_timer_scans_and_stores_and_the_api_serves_the_latest(app_env) -> None:
    run_timer()

    response = http("get_findings", "/api/findings")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = body(response)
    assert document["scan"]["status"] == "partial"
    assert len(document["findings"]) == 2 * 3 + 2
    assert document["findings"][0]["severity"] == "high"  # most severe first (nothing expired here)

    only = body(http("get_findings", "/api/findings?status=non_compliant&rule_id=KeyVault-006&code=function-key"))
    assert {(f["certificate_name"], f["status"]) for f in only["findings"]} == {
        ("cloudconformity", "non_compliant"),
        ("imported-legacy", "non_compliant"),
    }
    assert only["filters"] == {"rule_id": ["KeyVault-006"], "status": ["non_compliant"]}
    assert "function-key" not in json.dumps(only)

    either = body(http("get_findings", "/api/findings?status=not_assessed,exempt&vault_name=WALLED-kv"))
    assert {f["vault_name"] for f in either["findings"]} == {"walled-kv"}
    repeated = body(http("get_findings", "/api/findings?vault_name=walled-kv&vault_name=cc-webapp-key-vault"))
    assert len(repeated["findings"]) == len(document["findings"])

    scans = body(http("list_scans", "/api/scans?limit=5"))["scans"]
    assert [s["id"] for s in scans] == [document["scan"]["id"]]


def test_findings_as_csv(app_env) -> None:
    run_timer()
    response = http("get_findings", "/api/findings?format=csv&rule_id=KeyVault-006")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_body().decode("utf-8"))))
    assert len(rows) == 4
    assert {"rule_id", "status", "vault_name", "certificate_name", "reason", "expires_on"} <= set(rows[0])
    assert {r["rule_id"] for r in rows} == {"KeyVault-006"}


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/api/findings?colour=red", "Unknown query parameter colour"),
        ("/api/findings?status=broken", "Unknown status broken"),
        ("/api/findings?rule_id=KeyVault-007", "Unknown rule_id KeyVault-007"),
        ("/api/findings?format=xml", "format must be one of json, csv"),
        ("/api/findings?subscription_id=prod", "subscription_id must be a subscription id"),
        ("/api/scans?limit=0", "limit must be a whole number from 1 to 1000"),
        ("/api/scans?limit=ten", "limit must be a whole number"),
        ("/api/report?theme=dark", "Unknown query parameter theme"),
    ],
)
def test_bad_parameters_are_400_with_a_json_error(app_env, path: str, says: str) -> None:
    name = {"findings": "get_findings", "scans": "list_scans", "report": "get_report"}[
        path.split("?", maxsplit=1)[0].rsplit("/", 1)[1]
    ]
    response = http(name, path)
    assert response.status_code == 400
    error = body(response)["error"]
    assert error["code"] in ("UnknownParameter", "InvalidParameter")
    assert says in error["message"]


def test_the_report_is_a_self_contained_html_page(app_env) -> None:
    run_timer()
    response = http("get_report", "/api/report")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_body().decode("utf-8")
    assert "cloudconformity" in page
    assert "imported-legacy" in page
    assert "<script" not in page
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_a_bad_setting_fails_the_request_with_one_message_naming_it(app_env, monkeypatch) -> None:
    monkeypatch.setenv("RETENTION_DAYS", "forever")
    function_app.context.reset()
    response = http("get_findings", "/api/findings")
    assert response.status_code == 500
    assert body(response)["error"] == {
        "code": "ConfigurationError",
        "message": "Setting RETENTION_DAYS: must be a whole number from 1 to 3650, got 'forever'",
    }


def test_an_unreachable_store_is_a_503_without_the_key(app_env, monkeypatch) -> None:
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    monkeypatch.setenv(
        "FINDINGS_STORAGE_CONNECTION",
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
    )
    function_app.context.reset()
    response = http("get_findings", "/api/findings")
    assert response.status_code == 503
    assert body(response)["error"]["code"] == "StoreUnavailable"
    assert key not in response.get_body().decode()


# --- the timer's alerts and failures ------------------------------------------------------------------------


def test_the_timer_posts_the_digest_and_post_alerts_reposts_it(app_env, webhook_receiver, monkeypatch) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook_receiver.url)
    monkeypatch.setenv("ALERT_WEBHOOK_KIND", "slack")
    function_app.context.reset()
    run_timer()
    assert len(webhook_receiver.bodies) == 1
    digest = json.dumps(webhook_receiver.bodies[0])
    assert "cloudconformity" in digest
    assert "walled-kv" in digest

    response = http("post_alerts", "/api/alerts", method="POST")
    assert response.status_code == 200
    assert body(response)["delivered"] == 1
    assert len(webhook_receiver.bodies) == 2


def test_post_alerts_without_a_webhook_is_409(app_env) -> None:
    run_timer()
    response = http("post_alerts", "/api/alerts", method="POST")
    assert response.status_code == 409
    assert body(response)["error"]["code"] == "NoWebhook"


def test_a_failing_webhook_loses_nothing_and_is_recorded_on_the_scan(app_env, webhook_receiver, monkeypatch) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook_receiver.url)
    webhook_receiver.default = Reply(400, b"invalid_payload")
    function_app.context.reset()
    run_timer()  # does not raise: the scan itself succeeded

    document = body(http("get_findings", "/api/findings"))
    assert len(document["findings"]) == 8
    problems = document["scan"]["problems"]
    assert any("webhook" in p for p in problems)
    assert webhook_receiver.url not in json.dumps(document)
    assert "HTTP 400" in " ".join(problems)


def test_a_scan_that_reads_nothing_fails_the_invocation(fake_azure, app_env, monkeypatch) -> None:
    fake_azure(estate(subscription("Locked", fault=fault(403, "AuthorizationFailed"))))
    function_app.context.reset()
    with pytest.raises(RuntimeError, match="failed"):
        run_timer()


# --- the CLI against the same store -------------------------------------------------------------------------


def test_the_cli_stores_by_default_and_the_api_serves_its_scan(app_env) -> None:
    out = io.StringIO()
    assert main(["scan"], stdout=out, stderr=io.StringIO()) == 1
    assert "Stored as scan " in out.getvalue()
    scan_id = out.getvalue().split("Stored as scan ")[1].split(".")[0]
    assert body(http("get_findings", "/api/findings"))["scan"]["id"] == scan_id


def test_the_cli_without_a_reachable_store_still_prints_its_findings(app_env, monkeypatch) -> None:
    monkeypatch.setenv(
        "FINDINGS_STORAGE_CONNECTION",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["scan", "--format", "json"], stdout=out, stderr=err)
    assert code == 2
    document = json.loads(out.getvalue())
    assert len(document["findings"]) == 8
    assert "the scan was not stored" in err.getvalue()
    assert "c2VjcmV0" not in err.getvalue() + out.getvalue()


def test_scan_notify_posts_the_digest_from_the_command_line(app_env, webhook_receiver, monkeypatch) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook_receiver.url)
    monkeypatch.setenv("ALERT_WEBHOOK_KIND", "teams")
    out, err = io.StringIO(), io.StringIO()
    assert main(["scan", "--notify"], stdout=out, stderr=err) == 1
    assert "Posted 1 alert message(s) to the webhook." in out.getvalue()
    (card,) = webhook_receiver.bodies
    assert card["type"] == "message"
    assert card["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert webhook_receiver.url not in out.getvalue() + err.getvalue()


def test_scan_notify_without_a_webhook_is_a_usage_error(app_env) -> None:
    err = io.StringIO()
    assert main(["scan", "--notify"], stdout=io.StringIO(), stderr=err) == 2
    assert "--notify needs the setting ALERT_WEBHOOK_URL" in err.getvalue()


def test_auto_remediate_turns_on_autorenew_after_the_scan_and_the_digest_says_so(
    app_env, webhook_receiver, monkeypatch
) -> None:
    monkeypatch.setenv("AUTO_REMEDIATE", "true")
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook_receiver.url)
    monkeypatch.setenv("ALERT_WEBHOOK_KIND", "generic")
    function_app.context.reset()
    run_timer()

    patches = app_env.patches
    assert set(patches) == {("cc-webapp-key-vault", "cloudconformity")}, "never the Unknown-issuer certificate"
    (patch_body,) = patches[("cc-webapp-key-vault", "cloudconformity")]
    assert patch_body == {
        "lifetime_actions": [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "AutoRenew"}}]
    }
    (digest,) = webhook_receiver.bodies
    assert [(r["certificate_name"], r["outcome"]) for r in digest["remediations"]] == [("cloudconformity", "applied")]


def test_without_auto_remediate_the_timer_changes_nothing(app_env) -> None:
    run_timer()
    assert app_env.patches == {}
    assert not app_env.requests.where(method="PATCH")


# --- bad input and hostile estate text (issue 11) ------------------------------------------------------------

HUGE_LIMIT = "9" * 5000


@pytest.mark.parametrize(
    "limit",
    ["²", HUGE_LIMIT, "-1", "0", "1e3", "99999999999", "1001", "٣", "0x10", "", "5&limit=6"],
    ids=[
        "superscript-two",
        "5000-digits",
        "minus-one",
        "zero",
        "1e3",
        "huge",
        "over-1000",
        "arabic-three",
        "hex",
        "empty",
        "twice",
    ],
)
def test_every_bad_limit_is_a_400_with_a_short_json_error(app_env, limit: str) -> None:
    response = http("list_scans", f"/api/scans?limit={limit}")
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    error = body(response)["error"]
    assert error["code"] == "InvalidParameter"
    assert len(error["message"]) < 200, "a 5,000-digit value is not echoed back"


def test_a_good_limit_is_still_served(app_env) -> None:
    run_timer()
    run_timer()
    assert len(body(http("list_scans", "/api/scans?limit=1"))["scans"]) == 1
    assert len(body(http("list_scans", "/api/scans?limit=1000"))["scans"]) == 2


def test_a_second_post_alerts_within_ten_minutes_is_429_with_retry_after(
    app_env, webhook_receiver, monkeypatch
) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook_receiver.url)
    monkeypatch.setenv("ALERT_WEBHOOK_KIND", "slack")
    function_app.context.reset()
    run_timer()
    posted_by_timer = len(webhook_receiver.bodies)

    first = http("post_alerts", "/api/alerts", method="POST")
    assert first.status_code == 200, "the timer's own post does not count against the manual one"
    second = http("post_alerts", "/api/alerts", method="POST")

    assert second.status_code == 429
    assert second.mimetype == "application/json"
    assert body(second)["error"]["code"] == "AlreadyPosted"
    retry_after = int(second.headers["Retry-After"])
    assert 0 < retry_after <= 600
    assert f"try again in {retry_after} seconds" in body(second)["error"]["message"]
    assert len(webhook_receiver.bodies) == posted_by_timer + 1, "the second request posted nothing"


def test_a_post_alerts_that_fails_with_a_bug_does_not_block_the_next_try_for_ten_minutes(
    app_env, webhook_receiver, monkeypatch
) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook_receiver.url)
    function_app.context.reset()
    run_timer()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the digest")

    with monkeypatch.context() as patched:
        patched.setattr(alerts, "notify", broken)  # jobs calls alerts.notify through the module
        failed = http("post_alerts", "/api/alerts", method="POST")
    retried = http("post_alerts", "/api/alerts", method="POST")

    assert failed.status_code == 500
    assert body(failed)["error"]["code"] == "InternalError"
    assert retried.status_code == 200, body(retried)


def test_a_webhook_failing_on_every_post_is_recorded_on_the_scan_once(app_env, webhook_receiver, monkeypatch) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook_receiver.url)
    function_app.context.reset()
    run_timer()
    webhook_receiver.default = Reply(400, b"invalid_payload")

    answers = [http("post_alerts", "/api/alerts", method="POST") for _ in range(3)]

    assert [a.status_code for a in answers] == [502, 502, 502], "a post that delivered nothing may be retried"
    problems = body(http("get_findings", "/api/findings"))["scan"]["problems"]
    webhook_problems = [p for p in problems if "webhook" in p]
    assert len(webhook_problems) == 1, problems


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("http://hooks.slack.com/services/T0/B0/SECRETTOKEN", "must be an https:// URL (got http://hooks.slack.com"),
        (
            "@Microsoft.KeyVault(SecretUri=https://ops-kv.vault.azure.net/secrets/webhook/SECRETTOKEN)",
            "did not resolve",
        ),
    ],
    ids=["http-webhook", "unresolved-keyvault-reference"],
)
def test_a_bad_webhook_setting_stops_only_the_alerts(app_env, monkeypatch, caplog, value: str, says: str) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", value)
    function_app.context.reset()

    run_timer()  # does not raise: the scan ran and is stored

    for name, path in (("get_findings", "/api/findings"), ("list_scans", "/api/scans"), ("get_report", "/api/report")):
        assert http(name, path).status_code == 200, path
    document = body(http("get_findings", "/api/findings"))
    assert len(document["findings"]) == 8
    assert any(says in p and "ALERT_WEBHOOK_URL" in p for p in document["scan"]["problems"])
    assert any(says in r.getMessage() for r in caplog.records), "the timer logs why nothing was posted"

    response = http("post_alerts", "/api/alerts", method="POST")
    assert response.status_code == 500
    error = body(response)["error"]
    assert error["code"] == "ConfigurationError"
    assert says in error["message"]
    assert "ALERT_WEBHOOK_URL" in error["message"]

    everything = json.dumps(document) + response.get_body().decode() + "\n".join(r.getMessage() for r in caplog.records)
    assert "SECRETTOKEN" not in everything


def test_a_connection_string_the_sdk_refuses_is_a_configuration_error_naming_the_setting(app_env, monkeypatch) -> None:
    monkeypatch.setenv("FINDINGS_STORAGE_CONNECTION", "TableEndpoint=https://acct.table.core.windows.net;Sig=SECRET")
    function_app.context.reset()
    response = http("get_findings", "/api/findings")
    assert response.status_code == 500
    error = body(response)["error"]
    assert error["code"] == "ConfigurationError"
    assert error["message"].startswith("Setting FINDINGS_STORAGE_CONNECTION: ")
    assert "SECRET" not in error["message"]


def surrogate_estate() -> dict[str, Any]:
    return estate(
        subscription(
            "Production",
            vault(
                "odd-text-kv",
                cert("lone-surrogate", "Digi\ud800Cert \u202eevil", [("EmailContacts", {"days_before_expiry": 3})]),
                cert(
                    "forged-error",
                    fault={
                        "policy": fault(403, "Forbidden\nINFO forged", message="Denied\ud800 \u202e\r\nINFO forged")
                    },
                ),
            ),
        )
    )


def test_a_certificate_whose_issuer_carries_a_lone_surrogate_is_served_as_json_csv_and_html(
    app_env, fake_azure
) -> None:
    fake_azure(surrogate_estate())
    function_app.context.reset()
    run_timer()

    response = http("get_findings", "/api/findings")
    assert response.status_code == 200
    document = body(response)
    issuers = {f["issuer"] for f in document["findings"] if f["certificate_name"] == "lone-surrogate"}
    assert issuers == {"Digi\ufffdCert evil"}, "the surrogate is U+FFFD, the bidirectional override is gone"
    forged = next(f for f in document["findings"] if f["certificate_name"] == "forged-error")
    assert "\n" not in forged["reason"]
    assert "\u202e" not in forged["reason"]
    assert "\n" not in (forged["error_code"] or "")

    csv_text = http("get_findings", "/api/findings?format=csv").get_body().decode("utf-8")
    assert "Digi\ufffdCert evil" in csv_text
    page = http("get_report", "/api/report")
    assert page.status_code == 200
    assert "lone-surrogate" in page.get_body().decode("utf-8")


def test_a_stored_scan_from_an_older_version_with_raw_surrogates_is_still_served(app_env, app_store_connection) -> None:
    result = sample_result()
    result.findings[0] = dataclasses.replace(result.findings[0], issuer="Self\ud800", reason="Bad\ud800 \u202ereason.")
    result.scan.problems.append("webhook said \ud800")
    with FindingsStore.from_connection_string(app_store_connection) as store:
        store.save(result)  # as an older version stored it: the raw text, escaped in the page's JSON

    for path in ("/api/findings", "/api/findings?format=csv"):
        response = http("get_findings", path)
        assert response.status_code == 200, response.get_body()
        assert "\ufffd" in response.get_body().decode("utf-8")
    assert http("get_report", "/api/report").status_code == 200
    assert http("list_scans", "/api/scans").status_code == 200


def test_a_response_that_cannot_be_encoded_is_the_apps_json_error_not_the_hosts() -> None:
    response = function_app._respond(lambda: api.ApiResponse(200, "text with a lone surrogate \ud800"))
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert body(response)["error"]["code"] == "InternalError"


@pytest.mark.parametrize("cell", [" =1+1", "\t=1+1", "\r=1+1", "\n=1+1", "=1+1", "+1", "-1", "@SUM(A1)", "\u3000=1"])
def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_quoted(cell: str) -> None:
    one = dataclasses.replace(sample_result().findings[0], certificate_name=cell)
    row = next(csv.DictReader(io.StringIO(api.findings_csv([one]))))
    assert row["certificate_name"] == "'" + cell


@pytest.mark.parametrize("route", [("get_findings", "/api/findings"), ("get_report", "/api/report")])
def test_a_stored_count_that_is_not_a_finite_number_is_an_unreadable_row_503(
    app_env, app_store_connection, route
) -> None:
    """Issue 19.4: a scan row whose counts say 1e999 (JSON for infinity, which no integer holds) is as
    unreadable as any other damaged row: the page and the API answer 503 and name the row, never a 500."""
    with FindingsStore.from_connection_string(app_store_connection) as store:
        store.save(sample_result())
    with TableServiceClient.from_connection_string(app_store_connection) as service:
        scans = service.get_table_client("scans")
        for row in scans.query_entities("PartitionKey eq 'scans'"):
            scans.update_entity({"PartitionKey": "scans", "RowKey": row["RowKey"], "counts": '{"compliant": 1e999}'})
    name, path = route
    response = http(name, path)
    assert response.status_code == 503
    text = response.get_body().decode("utf-8")
    assert "not readable" in text
