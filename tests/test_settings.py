"""Settings: SPEC §4 defaults, and one clear message naming each bad setting, never echoing a secret."""

from __future__ import annotations

import pytest

from shared.settings import Settings, SettingsError

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
