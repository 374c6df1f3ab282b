"""Estate text is untrusted (SPEC §4): what a log line and the policy reader make of hostile or odd input."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from shared.azure import keyvault
from shared.azure.keyvault import parse_policy
from shared.cli import _configure_logging as configure_logging
from shared.models import LifetimeAction, Severity, Status
from shared.report.text import render
from shared.rules import unexplained_actions
from tests.alert_examples import finding, result_of


@pytest.fixture
def keyvault_log() -> Iterator[io.StringIO]:
    """What the Key Vault module's log lines look like in a plain text log."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("shared.azure.keyvault")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_log_argument_cannot_forge_a_second_log_line(keyvault_log: io.StringIO) -> None:
    keyvault.log.warning(
        "Could not list certificates of vault %s: %s", "kv\nERROR shared.scan: forged", ValueError("a\r\nb\u202ec")
    )
    lines = keyvault_log.getvalue().splitlines()
    assert lines == [
        "WARNING shared.azure.keyvault: Could not list certificates of vault kv ERROR shared.scan: forged: a bc"
    ]


def test_a_lone_surrogate_in_a_log_argument_does_not_break_the_log(keyvault_log: io.StringIO) -> None:
    keyvault.log.info("vault %s has %d certificates (%.1f s)", "odd\ud800", 3, 1.25)
    line = keyvault_log.getvalue()
    line.encode("utf-8")  # a handler writing UTF-8 would have failed on the raw surrogate
    assert line == "INFO shared.azure.keyvault: vault odd\ufffd has 3 certificates (1.2 s)\n"


def test_every_lifetime_action_is_read_and_odd_ones_keep_their_raw_value() -> None:
    fields = parse_policy(
        {
            "issuer": {"name": "Self"},
            "lifetime_actions": [
                {"trigger": {"days_before_expiry": 30}, "action": {"action_type": "AutoRenew"}},
                {"trigger": {"weeks_before_expiry": 2}, "action": {"action_type": "AutoRenew"}},
                {"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "Renew"}},
                {"trigger": {"days_before_expiry": 3}, "action": {}},
                "EmailContacts",
            ],
        }
    )
    assert fields.lifetime_actions == (
        LifetimeAction("AutoRenew", days_before_expiry=30),
        LifetimeAction("AutoRenew", unexplained='the trigger {"weeks_before_expiry":2}'),
        LifetimeAction("Renew", lifetime_percentage=80),
        LifetimeAction("(none)", days_before_expiry=3, unexplained="the lifetime action {}"),
        LifetimeAction("(unreadable)", unexplained='the lifetime action "EmailContacts"'),
    )
    assert unexplained_actions(fields.lifetime_actions) == (
        'the trigger {"weeks_before_expiry":2}; the action type "Renew"; the lifetime action {}; '
        'the lifetime action "EmailContacts"'
    )


def test_the_policy_of_the_rest_spec_example_is_understood() -> None:
    # The 200 body of Azure/azure-rest-api-specs,
    # specification/keyvault/data-plane/Microsoft.KeyVault/stable/7.4/examples/GetCertificatePolicy-example.json
    example = {
        "id": "https://myvault.vault.azure.net/certificates/updateCert01/policy",
        "key_props": {"exportable": True, "kty": "RSA", "key_size": 2048, "reuse_key": False},
        "secret_props": {"contentType": "application/x-pkcs12"},
        "x509_props": {"subject": "CN=KeyVaultTest", "ekus": [], "key_usage": [], "validity_months": 297},
        "lifetime_actions": [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "EmailContacts"}}],
        "issuer": {"name": "Unknown"},
        "attributes": {"enabled": True, "created": 1482188947, "updated": 1482188947},
    }
    fields = parse_policy(example)
    assert unexplained_actions(fields.lifetime_actions) is None
    assert fields.lifetime_actions == (LifetimeAction("EmailContacts", lifetime_percentage=80),)
    assert (fields.issuer, fields.validity_months) == ("Unknown", 297)


def test_a_policy_with_no_lifetime_actions_is_understood_as_none() -> None:
    assert parse_policy({"issuer": {"name": "Self"}, "lifetime_actions": None}).lifetime_actions == ()
    assert parse_policy({"issuer": {"name": "Self"}}).lifetime_actions == ()


# --- issue 19.4: names from the estate are one line wherever they are printed --------------------------------

FORGED = "\nCRITICAL non-compliant     KeyVault-006        forged-kv / forged-cert"


def test_the_cli_table_prints_a_name_with_a_line_break_on_one_line() -> None:
    """A certificate, vault or problem text holding a line break must not print a second, forged row."""
    problems = [
        finding("pay\nments-kv", "web" + FORGED),
        finding("pay\nments-kv", None, status=Status.NOT_ASSESSED, reason="Could not list: denied" + FORGED),
        finding("ok-kv\r\nERROR", "fine", status=Status.COMPLIANT, severity=Severity.INFO),
    ]
    result = result_of(problems, problems=["The webhook failed" + FORGED])
    text = render(result, width=200)
    forged = [line for line in text.splitlines() if "forged" in line]
    assert forged
    assert all(not line.lstrip().startswith("CRITICAL") for line in forged), text
    assert all(not line.startswith("  ERROR") for line in text.splitlines()), text
    assert "payments-kv" not in text  # the name is kept as written, only its line break became a space
    assert "pay ments-kv / web CRITICAL" in text


def test_the_command_lines_log_keeps_every_record_on_one_line() -> None:
    """The CLI's log handler folds line breaks itself, so a module that forgot the per-logger filter (or a
    library logging estate text) cannot forge a record either."""
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging(stream, verbose=True)
        logging.getLogger("shared.somewhere.new").error("Could not read %s", "kv\nERROR shared.scan: forged")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert stream.getvalue().splitlines() == ["ERROR shared.somewhere.new: Could not read kv ERROR shared.scan: forged"]
