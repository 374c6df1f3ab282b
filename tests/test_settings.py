"""Settings: SPEC §4 defaults, and one clear message naming each bad setting, never echoing a secret."""

from __future__ import annotations

import pytest

from shared.runtime import AppContext
from shared.settings import Settings, SettingsError
from shared.store import FindingsStore, StoreError

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
SECRET_URL = "not a url but https-ish secret-token-123"


def test_defaults_follow_the_spec() -> None:
    settings = Settings.from_env({})
    assert settings.subscription_ids == ()
    assert settings.arm_endpoint == "https://management.azure.com"
    assert settings.arm_scope == "https://management.azure.com/.default"
    assert settings.keyvault_verify_challenge_resource is True
    assert settings.storage_connection is None
    assert settings.table_endpoint is None
    assert settings.alert_webhook_url is None
    assert settings.alert_webhook_kind == "auto"
    assert settings.expiry_warning_days == 30
    assert settings.exempt_tags == (("autorenew-exempt", "true"), ("Issuer", "Acmebot"))
    assert settings.scan_schedule == "0 0 6 * * *"
    assert settings.retention_days == 90
    assert settings.alert_on_clean is False
    assert settings.auto_remediate is False


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "AZURE_SUBSCRIPTION_IDS": f" {SUBSCRIPTION.upper()} , {SUBSCRIPTION}",
            "ARM_ENDPOINT": "https://management.usgovcloudapi.net/",
            "KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "False",
            "EXPIRY_WARNING_DAYS": "45",
            "EXEMPT_TAGS": "owner=pki, managed-by = venafi",
            "ALERT_WEBHOOK_KIND": "Slack",
            "ALERT_ON_CLEAN": "yes",
        }
    )
    assert settings.subscription_ids == (SUBSCRIPTION,)
    assert settings.arm_scope == "https://management.usgovcloudapi.net/.default"
    assert settings.keyvault_verify_challenge_resource is False
    assert settings.expiry_warning_days == 45
    assert settings.exempt_tags == (("owner", "pki"), ("managed-by", "venafi"))
    assert settings.alert_webhook_kind == "slack"
    assert settings.alert_on_clean is True


def test_empty_exempt_tags_turns_exemptions_off() -> None:
    assert Settings.from_env({"EXEMPT_TAGS": ""}).exempt_tags == ()


def test_findings_connection_falls_back_to_azurewebjobsstorage() -> None:
    connection = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"
    settings = Settings.from_env({"AzureWebJobsStorage": connection})
    assert settings.storage_connection == connection
    assert settings.storage_connection_setting == "AzureWebJobsStorage"
    assert connection not in repr(settings), "secrets stay out of reprs (and so out of logs)"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("AZURE_SUBSCRIPTION_IDS", "prod-subscription", "is not a subscription id"),
        ("ARM_ENDPOINT", "http://management.azure.com", "https:// URL"),
        ("KEYVAULT_VERIFY_CHALLENGE_RESOURCE", "maybe", "true or false"),
        ("FINDINGS_TABLE_ENDPOINT", "ftp://x", "https:// URL"),
        ("ALERT_WEBHOOK_KIND", "discord", "auto, teams, slack, generic"),
        ("EXPIRY_WARNING_DAYS", "thirty", "whole number from 0 to 3650"),
        ("EXPIRY_WARNING_DAYS", "-1", "whole number from 0 to 3650"),
        ("EXEMPT_TAGS", "autorenew-exempt", "key=value pairs"),
        ("SCAN_SCHEDULE", "0 6 * * *", "six fields"),
        ("RETENTION_DAYS", "0", "from 1 to 3650"),
        ("ALERT_ON_CLEAN", "2", "true or false"),
        ("AUTO_REMEDIATE", "sure", "true or false"),
        ("SCAN_VAULT_CONCURRENCY", "0", "from 1 to 256"),
    ],
)
def test_a_bad_setting_names_itself(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})
    assert raised.value.name == name
    assert str(raised.value).startswith(f"Setting {name}: ")
    assert says in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ALERT_WEBHOOK_URL", SECRET_URL),
        ("FINDINGS_STORAGE_CONNECTION", "AccountKey=secret-token-123"),
        ("AzureWebJobsStorage", "secret-token-123"),
    ],
)
def test_a_bad_secret_setting_is_named_without_showing_its_value(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})
    assert raised.value.name == name
    assert "secret-token-123" not in str(raised.value)


# --- secrets in URLs, alert-only failures, connection strings (issue 11) -------------------------------------


@pytest.mark.parametrize("name", ["ARM_ENDPOINT", "PORTAL_URL", "FINDINGS_TABLE_ENDPOINT", "REPORT_URL"])
@pytest.mark.parametrize(
    "value",
    [
        "http://example.net/path?sig=SECRET",
        "ftp://example.net/?sig=SECRET",
        "example.net/?sig=SECRET",
    ],
    ids=["http", "ftp", "no-scheme"],
)
def test_a_url_setting_that_is_not_https_is_named_without_its_query(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})
    message = str(raised.value)
    assert message.startswith(f"Setting {name}: must be an https:// URL")
    assert "SECRET" not in message
    assert "sig=" not in message
    assert "/path" not in message


@pytest.mark.parametrize("name", ["ARM_ENDPOINT", "PORTAL_URL", "FINDINGS_TABLE_ENDPOINT"])
@pytest.mark.parametrize(
    "value",
    ["https://example.net/?sig=SECRET", "https://example.net#sig=SECRET", "https://user:SECRET@example.net"],
    ids=["query", "fragment", "credentials"],
)
def test_an_endpoint_with_a_sas_in_its_query_is_refused_without_showing_it(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})
    message = str(raised.value)
    assert (
        message
        == f"Setting {name}: must be an https:// URL without a query string or credentials, got https://example.net"
    )
    assert "SECRET" not in message


def test_a_report_url_with_a_function_key_is_kept_but_never_shown() -> None:
    settings = Settings.from_env({"REPORT_URL": "https://guard.azurewebsites.net/api/report?code=SECRET"})
    assert settings.report_url == "https://guard.azurewebsites.net/api/report?code=SECRET"
    assert "SECRET" not in repr(settings)


def test_an_http_webhook_is_refused_showing_only_scheme_and_host() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"ALERT_WEBHOOK_URL": "http://hooks.slack.com/services/T0/B0/SECRET?code=SECRET"})
    assert raised.value.name == "ALERT_WEBHOOK_URL"
    message = str(raised.value)
    assert "got http://hooks.slack.com;" in message
    assert "SECRET" not in message
    assert "/services" not in message


def test_in_the_functions_app_a_bad_webhook_only_turns_the_alerts_off() -> None:
    env = {"ALERT_WEBHOOK_URL": "http://hooks.slack.com/services/SECRET", "EXPIRY_WARNING_DAYS": "45"}
    settings = Settings.from_env(env, strict_alerts=False)
    assert settings.alert_webhook_url is None
    assert settings.expiry_warning_days == 45, "every other setting is read as usual"
    assert settings.alert_setting_error is not None
    assert settings.alert_setting_error.startswith("Setting ALERT_WEBHOOK_URL: must be an https:// URL")
    assert "alerts are off" in settings.alert_setting_error
    assert "SECRET" not in settings.alert_setting_error


def test_the_functions_runtime_reads_alert_settings_leniently() -> None:
    context = AppContext({"ALERT_WEBHOOK_URL": "http://hooks.slack.com/services/SECRET"})
    assert "ALERT_WEBHOOK_URL" in (context.settings.alert_setting_error or "")


def test_an_unresolved_keyvault_reference_never_stops_start_up_even_strictly() -> None:
    reference = "@Microsoft.KeyVault(SecretUri=https://ops-kv.vault.azure.net/secrets/webhook/SECRET)"
    settings = Settings.from_env({"ALERT_WEBHOOK_URL": reference})
    assert settings.alert_webhook_url is None
    assert "Key Vault reference" in (settings.alert_setting_error or "")
    assert "SECRET" not in (settings.alert_setting_error or "")


@pytest.mark.parametrize("name", ["FINDINGS_STORAGE_CONNECTION", "AzureWebJobsStorage"])
@pytest.mark.parametrize(
    "value",
    [
        "TableEndpoint=https://acct.table.core.windows.net;Sig=SECRET",
        "AccountName=acct;AccountKey=SECRET!!not-base64",
    ],
    ids=["no-credential", "key-not-base64"],  # a broken TableEndpoint is a settings error: tests/test_url_settings.py
)
def test_a_connection_string_the_sdk_refuses_names_the_setting(name: str, value: str) -> None:
    settings = Settings.from_env({name: value})  # the shape is right; the SDK refuses it
    with pytest.raises(StoreError) as raised:
        FindingsStore.from_settings(settings)
    message = str(raised.value)
    assert message.startswith(f"Setting {name}: the storage connection string is incomplete or malformed")
    assert raised.value.code == "ConfigurationError"
    assert "SECRET" not in message
