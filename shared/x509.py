"""Who issued a certificate version, decided by its signature, never by its names (SPEC §2, §4 remediate).

Key Vault's ``Self`` issuer renews with a self-signed certificate. Putting AutoRenew on a ``Self`` policy
over a certificate a CA issued replaces the CA's certificate with a self-signed one at the next renewal:
the scan calls that policy non-compliant (KeyVault-006) and remediation refuses to make it. Both ask this
module, so they cannot disagree.

Names prove nothing: anyone who builds a certificate chooses its issuer name, so an issuer DN equal to the
subject (or two empty names) is what a forger writes too. A certificate is self-signed only when its own
public key verifies its signature (``cryptography``'s ``verify_directly_issued_by``), and, where both key
identifiers are present, its authority key identifier names its own subject key.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from shared.text import clean_text


class UnreadableCertificateError(ValueError):
    """The ``cer`` is missing or not a DER certificate: nobody can say who issued it, so a guard refuses."""


def ca_that_issued(cer: Any) -> str | None:
    """The CA that issued a certificate version, from a bundle's ``cer`` (base64 DER): ``None`` when the
    certificate verifiably signed itself, else the issuer's common name (else organisation, else the whole
    name; "an unnamed CA" when the name is empty).

    Raises :class:`UnreadableCertificateError` (a ``ValueError``) when ``cer`` is missing or unparsable."""
    from cryptography import x509  # noqa: PLC0415 - only Self policies need it; keeps the CLI's start quick
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    if not isinstance(cer, str) or not cer.strip():
        raise UnreadableCertificateError("the certificate came without its cer")
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(cer, validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UnreadableCertificateError(f"its cer is not a DER certificate ({clean_text(detail)[:200]})") from None
    if is_self_signed(certificate):
        return None
    named = "an unnamed CA"
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        names = certificate.issuer.get_attributes_for_oid(oid)
        if names and str(names[0].value).strip():
            named = clean_text(str(names[0].value)).strip()
            break
    else:
        named = clean_text(certificate.issuer.rfc4514_string()).strip() or named
    if certificate.issuer == certificate.subject:
        # The name says self-signed; the signature says otherwise. Say both, so nobody trusts the name.
        return f"{named} (its issuer name copies its subject, but its own key did not sign it)"
    return named


def is_self_signed(certificate: Any) -> bool:
    """Its own public key verifies its signature, and its key identifiers (where both are present) agree.

    ``verify_directly_issued_by(itself)`` checks the issuer name against the subject and then the signature
    with the certificate's own key: equal names alone fail at the signature, and a key type that cannot
    verify (``TypeError``, ``UnsupportedAlgorithm``) is not taken as proof either."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm  # noqa: PLC0415

    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    try:
        authority = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        subject = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except (x509.ExtensionNotFound, ValueError):
        return True  # the signature decided; the identifiers are optional
    return authority.key_identifier is None or authority.key_identifier == subject.digest
