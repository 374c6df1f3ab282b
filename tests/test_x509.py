"""Who issued a certificate: decided by its signature, never by its names (issue 19.3, SPEC §2 and §4).

The certificates are real DER built with ``cryptography``; the forged one is what anyone can make: a CA's
key signs it, and its issuer name is written equal to its subject, so a name comparison calls it
self-signed. The scan's KeyVault-006 verdict and remediation's guard both use :mod:`shared.x509`.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.cli import main
from shared.x509 import UnreadableCertificateError, ca_that_issued
from tests.fakeazure import cert, estate, subscription, vault

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pay.contoso.com")])
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Contoso Issuing CA 1")])
AUTO_80 = [("AutoRenew", {"lifetime_percentage": 80})]
EMAIL_3D = [("EmailContacts", {"days_before_expiry": 3})]


def der(
    subject: x509.Name, issuer: x509.Name, *, signer: Any, key: Any, ski: bytes | None = None, aki: bytes | None = None
) -> str:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=365))
    )
    if ski is not None:
        builder = builder.add_extension(x509.SubjectKeyIdentifier(ski), critical=False)
    if aki is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(aki, authority_cert_issuer=None, authority_cert_serial_number=None),
            critical=False,
        )
    built = builder.sign(signer, hashes.SHA256())
    return base64.b64encode(built.public_bytes(serialization.Encoding.DER)).decode()


@pytest.fixture(scope="module")
def keys() -> tuple[Any, Any]:
    return ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())


def test_a_certificate_its_own_key_signed_is_self_signed(keys) -> None:
    own, _ = keys
    assert ca_that_issued(der(SUBJECT, SUBJECT, signer=own, key=own)) is None


def test_an_issuer_name_equal_to_the_subject_proves_nothing(keys) -> None:
    own, ca = keys
    forged = der(SUBJECT, SUBJECT, signer=ca, key=own)  # a CA signed it; the names say self-signed
    issued_by = ca_that_issued(forged)
    assert issued_by is not None
    assert "its own key did not sign it" in issued_by


def test_empty_names_prove_nothing_either_way(keys) -> None:
    own, ca = keys
    empty = x509.Name([])
    assert ca_that_issued(der(empty, empty, signer=own, key=own)) is None, "the signature decides"
    assert ca_that_issued(der(empty, empty, signer=ca, key=own)) is not None


def test_a_ca_issued_certificate_names_its_ca(keys) -> None:
    own, ca = keys
    assert ca_that_issued(der(SUBJECT, CA_NAME, signer=ca, key=own)) == "Contoso Issuing CA 1"


def test_key_identifiers_that_disagree_are_not_self_signed(keys) -> None:
    own, _ = keys
    mine = x509.SubjectKeyIdentifier.from_public_key(own.public_key()).digest
    agreeing = der(SUBJECT, SUBJECT, signer=own, key=own, ski=mine, aki=mine)
    disagreeing = der(SUBJECT, SUBJECT, signer=own, key=own, ski=mine, aki=b"\x01" * 20)
    assert ca_that_issued(agreeing) is None
    assert ca_that_issued(disagreeing) is not None


@pytest.mark.parametrize(
    "cer",
    [None, "", "not base64!", base64.b64encode(b"not a certificate").decode(), 42],
    ids=["missing", "empty", "not-base64", "not-der", "not-text"],
)
def test_an_unreadable_cer_is_refused_not_guessed(cer: Any) -> None:
    with pytest.raises(UnreadableCertificateError):
        ca_that_issued(cer)


# --- the same function decides the scan's verdict and remediation's guard ----------------------------------


def forged_estate() -> dict[str, Any]:
    return estate(
        subscription(
            "Prod",
            vault(
                "pay-kv",
                cert("forged-renewing", "Self", AUTO_80, forged_issuer_name=True),
                cert("forged-email", "Self", EMAIL_3D, forged_issuer_name=True),
                cert("genuine-renewing", "Self", AUTO_80),
                cert("genuine-email", "Self", EMAIL_3D),
            ),
        )
    )


def run(*args: str) -> tuple[int, Any]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*args], stdout=out, stderr=err)
    return code, json.loads(out.getvalue())


def test_the_scan_calls_autorenew_under_self_over_a_forged_self_signed_certificate_non_compliant(fake_azure) -> None:
    azure = fake_azure(forged_estate())

    _, document = run("scan", "--no-store", "--format", "json")

    verdicts = {
        f["certificate_name"]: (f["status"], f["severity"], f["reason"])
        for f in document["findings"]
        if f["rule_id"] == "KeyVault-006"
    }
    status, severity, reason = verdicts["forged-renewing"]
    assert (status, severity) == ("non_compliant", "high")
    assert "the next renewal replaces the CA-issued certificate with a self-signed one" in reason
    assert verdicts["genuine-renewing"][0] == "compliant"
    assert "would issue a self-signed replacement" in verdicts["forged-email"][2]
    assert "issued by" not in verdicts["genuine-email"][2]
    # No extra request: one bundle per enabled certificate, no policy GET.
    assert not azure.requests.where(operation="get_policy")
    assert len(azure.requests.where(operation="get_certificate", status=200)) == 4


def test_remediation_refuses_a_forged_self_signed_certificate_and_changes_the_genuine_one(
    fake_azure, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FINDINGS_STORAGE_CONNECTION", "AzureWebJobsStorage", "FINDINGS_TABLE_ENDPOINT", "AUTO_REMEDIATE"):
        monkeypatch.delenv(name, raising=False)
    azure = fake_azure(forged_estate())

    _, document = run("remediate", "--apply", "--no-store", "--format", "json")

    rows = {(r["vault_name"], r["certificate_name"]): r for r in document["plan"]}
    assert rows[("pay-kv", "genuine-email")]["status"] == "applied"
    refused = rows[("pay-kv", "forged-email")]
    assert refused["status"] == "refused"
    assert "AutoRenew would issue a self-signed replacement" in refused["outcome"]
    assert set(azure.patches) == {("pay-kv", "genuine-email")}
