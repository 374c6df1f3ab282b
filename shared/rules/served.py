"""ServedCertificate (SPEC §2): is the certificate clients actually get the referenced certificate's current
version? Pure: a :class:`~shared.models.HostProbe` (what each address served) and what the vault holds in,
one finding per (service, hostname) out.

Each address is placed by thumbprint: the current version, an older version of the referenced certificate
(``ServedTarget.versions``, read only when some address serves something else), or none of its versions.
The first row of the SPEC table that some address matches decides, and that address is the finding's
``served_*``; the others are counted in the reason so a split frontend ("2 of 3 addresses ...") shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from shared.models import (
    RULE_SERVED,
    AddressProbe,
    Binding,
    Certificate,
    CertificateVersion,
    Finding,
    HostProbe,
    ReadError,
    ServedLeaf,
    Severity,
    Status,
    Vault,
)
from shared.rules.binding import describe_service, service_label, x5t_to_hex
from shared.rules.propagation import describe_window, propagation_window
from shared.text import escaped

SOON = timedelta(days=7)
_PRIVATE_HINT = (
    "If it is a private frontend, run the app with VNet integration, or map the name with PROBE_CONNECT_TO "
    "(HOST:443:ADDRESS:443); if the name is no longer in use, remove it from the service."
)


@dataclass(frozen=True, slots=True)
class ServedTarget:
    """What the vault holds for the certificate a binding references: its current version, and, when some
    address serves another thumbprint, every version (``versions``) or why they could not be listed."""

    vault: Vault
    current: CertificateVersion
    certificate: Certificate | None = None
    versions: tuple[CertificateVersion, ...] = ()
    versions_error: ReadError | None = None


@dataclass(frozen=True, slots=True)
class _Placed:
    probe: AddressProbe
    leaf: ServedLeaf
    kind: str  # "current", "older", "foreign", "unknown"
    version: CertificateVersion | None = None
    at: str = ""  # " (at 10.0.0.4)" when the name has several addresses


def needs_versions(probe: HostProbe, current: CertificateVersion) -> bool:
    """Whether placing what is served needs the certificate's version list: some address serves a
    thumbprint other than the current version's (SPEC §2: read only then)."""
    current_hex = x5t_to_hex(current.x5t)
    return any(a.leaf is not None and a.leaf.thumbprint != current_hex for a in probe.addresses)


def check_served(binding: Binding, probe: HostProbe, target: ServedTarget, *, now: datetime) -> Finding:
    """The first row of SPEC §2's ServedCertificate table that matches decides."""
    subject = _Subject(binding, probe, target)
    host = escaped(probe.hostname)  # a refused name is shown as listed, its control characters visible
    # 'App Service site shop-web', not '... (hostname shop.contoso.com)' when the reference is the hostname.
    named_by_host = (binding.binding or "").lower().rstrip(".") == probe.hostname.lower().rstrip(".")
    service = describe_service(binding)
    if named_by_host:
        service = f"{service_label(binding.resource_type)} {binding.service_name}"
    where = f"hostname {host} ({service})"
    if probe.wildcard:
        return _finding(
            subject, Status.NOT_ASSESSED, Severity.LOW,
            f"{_cap(where)} is a wildcard name: there is no single name to connect to, so what clients get was not "
            "checked. The concrete names clients use are checked where a service lists them.",
            error_code="WildcardHostname",
        )  # fmt: skip
    answered = [a for a in probe.addresses if a.leaf is not None]
    failed = [a for a in probe.addresses if a.leaf is None]
    via = f" (reached at {probe.via}, as PROBE_CONNECT_TO maps the name)" if probe.via else ""
    if probe.error is not None or not answered:
        if probe.error is not None:
            what = probe.error
        else:
            what = "; ".join(f"{a.address}: {a.error}" for a in failed) or "the name has no address"
        return _finding(
            subject, Status.NOT_ASSESSED, Severity.LOW,
            f"Could not read the certificate that {where} serves{via}: {what}.{_skipped(probe)} {_PRIVATE_HINT}",
            error_code="NameRefused" if probe.error and "refused" in probe.error else "Unreachable",
        )  # fmt: skip

    total = len(probe.addresses)
    placed = [_place(a, target, at=f" (at {a.address})" if total > 1 else "") for a in answered]
    notes = _failed_note(failed, total) + _skipped(probe) + via
    current = target.current
    window = propagation_window(binding.resource_type)
    created = current.created_on
    after_window = created is None or now - created > window
    certificate = binding.certificate_name

    expired = [p for p in placed if p.leaf.not_after is not None and p.leaf.not_after <= now]
    if expired:
        worst = expired[0]
        return _finding(
            subject, Status.NON_COMPLIANT, Severity.CRITICAL,
            f"{_cap(_who(expired, total, where))} a certificate that expired "
            f"{worst.leaf.not_after:%Y-%m-%d}: {_describe(worst)}. Clients get certificate errors now. "
            f"{_current(target)}{notes}. {_fix(worst)}",
            worst=worst,
        )  # fmt: skip
    older = [p for p in placed if p.kind == "older"]
    if older and after_window:
        worst = min(older, key=lambda p: p.leaf.not_after or now)
        soon = worst.leaf.not_after is not None and worst.leaf.not_after - now <= SOON
        return _finding(
            subject, Status.NON_COMPLIANT, Severity.CRITICAL if soon else Severity.HIGH,
            f"{_cap(_who(older, total, where, still=True))} an older version of {certificate}: "
            f"{_describe(worst)}. {_current(target)}, longer ago than the service's "
            f"propagation window of {describe_window(window)}{notes}. The service did not pick up the renewal: "
            "check that it follows the latest version and that its identity can read the vault, then make it "
            "fetch the certificate again.",
            worst=worst,
        )  # fmt: skip
    foreign = [p for p in placed if p.kind == "foreign"]
    if foreign:
        worst = foreign[0]
        return _finding(
            subject, Status.NON_COMPLIANT, Severity.HIGH,
            f"{_cap(_who(foreign, total, where))} a certificate that is no version of "
            f"{certificate}: {_describe(worst)}. {_current(target)}{notes}. Typical causes: a managed or uploaded "
            "certificate overrides the Key Vault one on the service, or DNS points the name elsewhere.",
            worst=worst,
        )  # fmt: skip
    unknown = [p for p in placed if p.kind == "unknown"]
    if unknown:
        worst = unknown[0]
        error = target.versions_error.describe() if target.versions_error else "not read"
        return _finding(
            subject, Status.NOT_ASSESSED, Severity.MEDIUM,
            f"{_cap(_who(unknown, total, where))} {_describe(worst)}, not the current "
            f"version of {certificate}, and its versions could not be listed to place it ({error}).{notes}",
            worst=worst,
            error_code=target.versions_error.code if target.versions_error else None,
        )  # fmt: skip
    if older:
        worst = older[0]
        return _finding(
            subject, Status.COMPLIANT, Severity.LOW,
            f"{_cap(where)} is propagating: {_who(older, total, 'it', still=True)} {_describe(worst)}, and "
            f"{_uncap(_current(target))}, within the service's propagation window of "
            f"{describe_window(window)}{notes}.",
            worst=worst,
        )  # fmt: skip
    worst = placed[0]
    return _finding(
        subject, Status.COMPLIANT, Severity.LOW,
        f"{_cap(where)} serves the current version {current.version} of {certificate}{_until(worst.leaf)}"
        f"{_on_every(total)}{notes}.",
        worst=worst,
    )  # fmt: skip


def _place(address: AddressProbe, target: ServedTarget, *, at: str) -> _Placed:
    leaf = address.leaf
    assert leaf is not None  # noqa: S101 - callers pass answered addresses only
    if leaf.thumbprint == x5t_to_hex(target.current.x5t):
        return _Placed(address, leaf, "current", target.current, at)
    for version in target.versions:
        if version.version.lower() != target.current.version.lower() and x5t_to_hex(version.x5t) == leaf.thumbprint:
            return _Placed(address, leaf, "older", version, at)
    if target.versions_error is not None or not target.versions:
        return _Placed(address, leaf, "unknown", at=at)
    return _Placed(address, leaf, "foreign", at=at)


def _uncap(text: str) -> str:
    return text[:1].lower() + text[1:]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _who(placed: Sequence[object], total: int, where: str, *, still: bool = False) -> str:
    """The sentence's subject and verb ending: 'www.contoso.com (...) serves' for one address, 'All 2
    addresses of ... serve', '2 of 3 addresses of ... serve': a split frontend is named."""
    verb = "still serve" if still else "serve"
    if total == 1:
        return f"{where} {verb}s"
    if len(placed) == total:
        return f"all {total} addresses of {where} {verb}"
    return f"{len(placed)} of {total} addresses of {where} {verb}"


def _on_every(total: int) -> str:
    return "" if total == 1 else f" on all {total} addresses"


def _describe(placed: _Placed) -> str:
    leaf = placed.leaf
    version = f"version {placed.version.version}, " if placed.version is not None else ""
    subject = f"subject {leaf.subject}, issuer {leaf.issuer}, " if leaf.subject is not None else ""
    return f"{version}{subject}thumbprint {leaf.thumbprint}{_until(leaf)}{placed.at}"


def _until(leaf: ServedLeaf) -> str:
    return f", expiring {leaf.not_after:%Y-%m-%d}" if leaf.not_after is not None else ""


def _current(target: ServedTarget) -> str:
    current = target.current
    created = f", created {current.created_on:%Y-%m-%d %H:%M} UTC" if current.created_on else ""
    return f"The current version in vault {target.vault.name} is {current.version}{created}"


def _fix(worst: _Placed) -> str:
    if worst.kind == "current":
        return "The vault's current version has expired too: renew the certificate, then let the service pick it up."
    return "Make the service serve the vault's current version (check it follows the latest version)."


def _failed_note(failed: Sequence[AddressProbe], total: int) -> str:
    if not failed:
        return ""
    shown = "; ".join(f"{a.address}: {a.error}" for a in failed[:3])
    return f"; {len(failed)} of {total} addresses did not answer ({shown})"


def _skipped(probe: HostProbe) -> str:
    if not probe.addresses_skipped:
        return ""
    return f" ({probe.addresses_skipped} more addresses of the name were not probed: at most 8 per name)"


class _Subject(NamedTuple):
    """What a finding is about: the reference, the hostname's probe and the vault's side."""

    binding: Binding
    probe: HostProbe
    target: ServedTarget


def _finding(
    subject: _Subject,
    status: Status,
    severity: Severity,
    reason: str,
    *,
    worst: _Placed | None = None,
    error_code: str | None = None,
) -> Finding:
    binding, probe, target = subject
    vault, certificate = target.vault, target.certificate
    name = certificate.name if certificate else binding.certificate_name
    leaf = worst.leaf if worst else None
    return Finding(
        rule_id=RULE_SERVED,
        status=status,
        severity=severity,
        subscription_id=binding.subscription_id,
        vault_name=vault.name,
        vault_uri=vault.uri,
        certificate_name=name,
        certificate_id=certificate.id if certificate else f"{vault.uri.rstrip('/')}/certificates/{name}",
        issuer=certificate.issuer if certificate else None,
        lifetime_action=None,
        days_before_expiry=None,
        lifetime_percentage=None,
        expires_on=leaf.not_after if leaf else None,
        reason=reason,
        vault_id=vault.resource_id,
        error_code=error_code,
        resource_id=binding.resource_id,
        resource_type=binding.resource_type,
        binding=escaped(probe.hostname),
        bound_version=binding.version,
        current_version=target.current.version,
        served_thumbprint=leaf.thumbprint if leaf else None,
        served_version=worst.version.version if worst and worst.version else None,
        served_expires_on=leaf.not_after if leaf else None,
    )
