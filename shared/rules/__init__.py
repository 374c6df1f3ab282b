"""The rules as pure functions: records in, findings out, no I/O and no SDK types.

One module per rule, plus what they share:

- ``autorenew``: KeyVault-006, does the issuance policy renew the certificate (:func:`check_auto_renewal`),
  and the policy readings remediation asks too (:func:`unexplained_actions`, :func:`is_unknown_issuer`,
  :func:`matching_exempt_tag`);
- ``expiry``: CertificateExpiry, the expiry window and why a renewal did not happen (:func:`check_expiry`,
  :func:`renewal_looks_stuck`);
- ``binding``: CertificateBinding, whether each service that references a certificate picks up its
  renewals (:func:`check_binding` over a :class:`BindingTarget`), judged after each service's
  propagation window (``propagation``: :data:`PROPAGATION_WINDOWS`, shared with ServedCertificate) and
  with a reason and fix per App Service ``keyVaultSecretStatus`` (``secret_status``);
- ``served``: ServedCertificate, whether what a hostname's addresses serve is the referenced certificate's
  current version (:func:`check_served` over a :class:`ServedTarget`), judged after the same windows;
- ``unassessed``: the ``not_assessed`` findings for a vault, subscription or service type that could not be
  read, and :func:`error_hint`, what to do about a service's error code;
- ``findings``: :class:`RuleOptions` and the one builder of a certificate's finding.

Every certificate listed yields exactly one finding per certificate rule, so nothing is silently dropped;
a vault or subscription that could not be listed yields one ``not_assessed`` finding per rule in its place.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from shared.models import Certificate, Finding
from shared.rules.autorenew import (
    ISSUER_SELF,
    ISSUER_UNKNOWN,
    KNOWN_ACTION_TYPES,
    UNSUPPORTED_POLICY,
    check_auto_renewal,
    is_unknown_issuer,
    matching_exempt_tag,
    unexplained_actions,
    unexplained_policy,
)
from shared.rules.binding import (
    BindingTarget,
    check_binding,
    describe_service,
    service_label,
    unlistable_service_type,
    x5t_to_hex,
)
from shared.rules.expiry import check_expiry, renewal_looks_stuck, renewal_point
from shared.rules.findings import RuleOptions, primary_action
from shared.rules.propagation import PROPAGATION_WINDOWS, propagation_window
from shared.rules.served import ServedTarget, check_served, needs_versions
from shared.rules.unassessed import error_hint, unreadable_subscription, unreadable_vault

__all__ = [
    "ISSUER_SELF",
    "ISSUER_UNKNOWN",
    "KNOWN_ACTION_TYPES",
    "PROPAGATION_WINDOWS",
    "UNSUPPORTED_POLICY",
    "BindingTarget",
    "RuleOptions",
    "ServedTarget",
    "check_auto_renewal",
    "check_binding",
    "check_expiry",
    "check_served",
    "describe_service",
    "error_hint",
    "evaluate",
    "evaluate_all",
    "is_unknown_issuer",
    "matching_exempt_tag",
    "needs_versions",
    "primary_action",
    "propagation_window",
    "renewal_looks_stuck",
    "renewal_point",
    "service_label",
    "unexplained_actions",
    "unexplained_policy",
    "unlistable_service_type",
    "unreadable_subscription",
    "unreadable_vault",
    "x5t_to_hex",
]


def evaluate(certificate: Certificate, *, now: datetime, options: RuleOptions) -> list[Finding]:
    """Both certificate rules on one certificate, in rule order."""
    return [check_auto_renewal(certificate, options), check_expiry(certificate, now=now, options=options)]


def evaluate_all(certificates: Iterable[Certificate], *, now: datetime, options: RuleOptions) -> Iterable[Finding]:
    for certificate in certificates:
        yield from evaluate(certificate, now=now, options=options)
