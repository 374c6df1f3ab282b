"""The app's own records: what every part of the pipeline speaks.

SDK objects are mapped into these in exactly one place (the readers of ``shared.azure``); rules, the
store, alerts and the HTTP API only ever see these plain, immutable records. Field names follow
SPEC §3 so a finding serialises to the documented JSON without a translation table.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

RULE_AUTORENEW = "KeyVault-006"
RULE_EXPIRY = "CertificateExpiry"
RULE_BINDING = "CertificateBinding"
RULE_SERVED = "ServedCertificate"
# The rules judged per certificate (a vault or subscription that cannot be listed gets one finding each).
CERTIFICATE_RULE_IDS: tuple[str, ...] = (RULE_AUTORENEW, RULE_EXPIRY)
# Every rule, in the order reports list them; CertificateBinding is judged per service reference and
# ServedCertificate per (service, hostname) (SPEC §2).
RULE_IDS: tuple[str, ...] = (RULE_AUTORENEW, RULE_EXPIRY, RULE_BINDING, RULE_SERVED)


class Status(StrEnum):
    """The verdict of one rule on one certificate (SPEC §2)."""

    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"
    EXEMPT = "exempt"
    NOT_APPLICABLE = "not_applicable"
    NOT_ASSESSED = "not_assessed"

    @property
    def is_problem(self) -> bool:
        """Problems are what alerts and the report lead with: something is wrong or unknown."""
        return self in (Status.NON_COMPLIANT, Status.NOT_ASSESSED)


# The order and words every report uses for statuses: problems first, then the rest.
STATUS_ORDER: tuple[Status, ...] = (
    Status.NON_COMPLIANT,
    Status.NOT_ASSESSED,
    Status.COMPLIANT,
    Status.EXEMPT,
    Status.NOT_APPLICABLE,
)
STATUS_LABEL: dict[Status, str] = {
    Status.NON_COMPLIANT: "non-compliant",
    Status.NOT_ASSESSED: "not assessed",
    Status.COMPLIANT: "compliant",
    Status.EXEMPT: "exempt",
    Status.NOT_APPLICABLE: "not applicable",
}


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 is the most severe; sort ascending to put the worst first."""
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)


class ScanStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"


class LifetimeActionType(StrEnum):
    AUTO_RENEW = "AutoRenew"
    EMAIL_CONTACTS = "EmailContacts"


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``: the one time format of every document we emit."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.isoformat(timespec="seconds" if value.microsecond == 0 else "milliseconds")
    return text.replace("+00:00", "Z")


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ReadError:
    """Why something could not be read: the service's error code, HTTP status and a short message.

    The message comes from the service's error body or the exception, never from a request URL or a
    header, so it carries no token and no secret.
    """

    code: str
    message: str
    status_code: int | None = None

    def describe(self) -> str:
        status = f"HTTP {self.status_code} " if self.status_code else ""
        message = self.message.strip().rstrip(".")
        return f"{status}{self.code}: {message}" if message else f"{status}{self.code}"


@dataclass(frozen=True, slots=True)
class Vault:
    subscription_id: str
    name: str
    uri: str
    resource_id: str | None = None
    resource_group: str | None = None
    location: str | None = None
    # The vault's Resource Manager tags: ALERT_ROUTE_TAG here routes the problems of every certificate in it.
    tags: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class LifetimeAction:
    """One entry of a policy's ``lifetime_actions``; ``action`` keeps unknown values as they came.

    ``unexplained`` is the entry's raw JSON when the reader met something in it that it could not take
    as an action type and a days-or-percentage trigger (a trigger in weeks, a fractional percentage, an
    entry that is not an object): the rules then say so instead of guessing (SPEC §2)."""

    action: str
    days_before_expiry: int | None = None
    lifetime_percentage: int | None = None
    unexplained: str | None = None

    @property
    def is_auto_renew(self) -> bool:
        return self.action.lower() == LifetimeActionType.AUTO_RENEW.lower()

    def describe_trigger(self) -> str:
        if self.days_before_expiry is not None:
            return f"{self.days_before_expiry} days before expiry"
        if self.lifetime_percentage is not None:
            return f"at {self.lifetime_percentage}% of its lifetime"
        return "with no trigger"


@dataclass(frozen=True, slots=True)
class PendingOperation:
    """A certificate's pending operation (``GET {vault}/certificates/{name}/pending``), read only when its
    renewal looks stuck. ``exists`` False is the service's 404 (``PendingCertificateNotFound``): no renewal
    was even attempted. ``error_code``/``error_message`` are the issuer's error on the operation;
    ``read_error`` set means the operation itself could not be read (then nothing else is known)."""

    exists: bool
    status: str | None = None
    status_details: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    read_error: ReadError | None = None

    @property
    def failed(self) -> bool:
        return self.exists and ((self.status or "").lower() == "failed" or bool(self.error_code or self.error_message))


@dataclass(frozen=True, slots=True)
class Certificate:
    """A certificate as the rules see it: list properties plus its issuance policy.

    ``error`` set means the certificate's own list entry (or its vault) could not be read: nothing about it
    is known. ``policy_error`` set means only its issuance policy could not be read: the list still gave its
    expiry, so the expiry rule can judge it while KeyVault-006 cannot (SPEC §2).
    """

    vault: Vault
    name: str
    id: str
    enabled: bool | None = True
    tags: Mapping[str, str] = field(default_factory=dict)
    not_before: datetime | None = None
    expires_on: datetime | None = None
    issuer: str | None = None
    lifetime_actions: tuple[LifetimeAction, ...] = ()
    validity_months: int | None = None
    error: ReadError | None = None
    policy_error: ReadError | None = None
    # Read only when renewal looks stuck (SPEC §2, CertificateExpiry).
    pending: PendingOperation | None = None
    newest_version_disabled: bool | None = None
    # Known only when the current version was read anyway (a service references it): the CA that issued
    # it, when that is not the certificate itself. Under a Self policy, AutoRenew would self-sign the next one.
    issued_by_ca: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict on one certificate (or on a vault/subscription that could not be listed)."""

    rule_id: str
    status: Status
    severity: Severity
    subscription_id: str | None
    vault_name: str | None
    vault_uri: str | None
    certificate_name: str | None
    certificate_id: str | None
    issuer: str | None
    lifetime_action: str | None
    days_before_expiry: int | None
    lifetime_percentage: int | None
    expires_on: datetime | None
    reason: str
    # Extra fields (SPEC §3 welcomes them): where to click, and what the service said.
    vault_id: str | None = None
    error_code: str | None = None
    # CertificateBinding (SPEC §2): the service that serves the certificate, and which version it serves.
    resource_id: str | None = None
    resource_type: str | None = None
    binding: str | None = None
    bound_version: str | None = None
    current_version: str | None = None
    # ServedCertificate only (SPEC §2): what the worst address of the hostname served, as a hex SHA-1
    # thumbprint, the certificate version it matches (None: no version of the referenced certificate),
    # and its expiry.
    served_thumbprint: str | None = None
    served_version: str | None = None
    served_expires_on: datetime | None = None
    # The value of the ALERT_ROUTE_TAG tag of the certificate, else of its vault (for a binding: of the
    # referenced certificate, else vault): the route of ALERT_ROUTES whose webhook gets this problem too.
    route: str | None = None

    @property
    def key(self) -> str:
        """Identity of this finding across scans: the same certificate under the same rule (and, for
        CertificateBinding, the same reference inside the same service)."""
        parts = [
            self.rule_id,
            (self.subscription_id or "").lower(),
            (self.vault_name or "").lower(),
            (self.certificate_name or "").lower(),
        ]
        if self.resource_id or self.binding or self.resource_type:
            parts += [(self.resource_id or self.resource_type or "").lower(), (self.binding or "").lower()]
        return "|".join(parts)

    def to_dict(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict: asdict deep-copies every value, and at 100,000
        # findings that alone took seconds in the JSON output and the store.
        data = {name: getattr(self, name) for name in _FINDING_FIELDS}
        data["status"] = self.status.value
        data["severity"] = self.severity.value
        data["expires_on"] = isoformat(self.expires_on)
        data["served_expires_on"] = isoformat(self.served_expires_on)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["status"] = Status(values["status"])
        values["severity"] = Severity(values["severity"])
        values["expires_on"] = parse_time(values.get("expires_on"))
        values["served_expires_on"] = parse_time(values.get("served_expires_on"))
        for name in names - values.keys():
            values[name] = None
        return cls(**values)


_FINDING_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Finding))


def entry_key(finding: Finding) -> str:
    """What a person reads as one thing: the certificate (vault names are unique across Azure, so a binding
    in another subscription joins its certificate), else the vault, else the subscription (and the service
    type, for a service type that could not be listed). The digest's entries and the report's changes are
    grouped by it."""
    vault = (finding.vault_name or "").lower()
    if finding.certificate_name is not None:
        return f"certificate|{vault}|{finding.certificate_name.lower()}"
    if finding.vault_name is not None:
        return f"vault|{vault}"
    return f"subscription|{(finding.subscription_id or '').lower()}|{(finding.resource_type or '').lower()}"


def sort_by_severity(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then problems before the rest, then by place, so lists read the same way."""
    return sorted(
        findings,
        key=lambda f: (
            not f.status.is_problem,
            f.severity.rank,
            f.status != Status.NON_COMPLIANT,
            f.expires_on or datetime.max.replace(tzinfo=UTC),
            f.vault_name or "",
            f.certificate_name or "",
            f.rule_id,
        ),
    )


def count_by_status(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {status.value: 0 for status in Status}
    for finding in findings:
        counts[finding.status.value] += 1
    return counts


def new_scan_id(started_at: datetime) -> str:
    """Sortable and unique even when two scans start in the same second."""
    return f"{started_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


@dataclass(slots=True)
class Scan:
    """The scan's own record. ``problems`` are things a person should know that are not findings:
    a webhook that failed, a store that refused a write."""

    id: str
    started_at: datetime
    finished_at: datetime | None = None
    status: ScanStatus = ScanStatus.RUNNING
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    vault_count: int = 0
    certificate_count: int = 0
    # ServedCertificate's TLS probe: "on", or "off" when PROBE_ENDPOINTS=false (SPEC §2); None: not recorded.
    probing: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started_at": isoformat(self.started_at),
            "finished_at": isoformat(self.finished_at),
            "status": self.status.value,
            "counts": dict(self.counts),
            "problems": list(self.problems),
            "subscriptions": list(self.subscriptions),
            "vault_count": self.vault_count,
            "certificate_count": self.certificate_count,
            "probing": self.probing,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scan:
        started = parse_time(data["started_at"])
        if started is None:
            raise ValueError("a scan record needs started_at")
        return cls(
            id=data["id"],
            started_at=started,
            finished_at=parse_time(data.get("finished_at")),
            status=ScanStatus(data.get("status", ScanStatus.RUNNING)),
            counts=dict(data.get("counts") or {}),
            problems=list(data.get("problems") or []),
            subscriptions=list(data.get("subscriptions") or []),
            vault_count=int(data.get("vault_count") or 0),
            certificate_count=int(data.get("certificate_count") or 0),
            probing=data.get("probing") if data.get("probing") in ("on", "off") else None,
        )


@dataclass(slots=True)
class ScanResult:
    """A scan and its findings: the scan document of SPEC §3."""

    scan: Scan
    findings: list[Finding]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in sort_by_severity(self.findings) if f.status.is_problem]

    def to_document(self) -> dict[str, Any]:
        return {
            "scan": self.scan.to_dict(),
            "findings": [f.to_dict() for f in sort_by_severity(self.findings)],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ScanResult:
        return cls(
            scan=Scan.from_dict(document["scan"]),
            findings=[Finding.from_dict(f) for f in document.get("findings", [])],
        )


# --- CertificateBinding (SPEC §2): services that serve a Key Vault certificate --------------------------------


@dataclass(frozen=True, slots=True)
class Binding:
    """One Key Vault reference inside a service (an Application Gateway's sslCertificate, a Front Door
    secret, an API Management hostname, an App Service certificate or a site's TLS binding, a Front Door
    classic endpoint, a classic CDN custom domain, a Container Apps certificate), as Resource Manager
    described it.

    The reference is kept as found (``reference``) and read into the vault it names (``vault_uri`` for a
    secret URI, ``vault_resource_id`` for a resource id), the certificate (a certificate's secret shares
    its name and versions) and the version it is pinned to (``None`` when it follows the latest).
    ``problem`` set means the reference is missing or malformed: nothing else about it can be trusted.
    """

    subscription_id: str
    resource_id: str
    resource_type: str
    service_name: str
    binding: str | None
    reference: str | None = None
    vault_uri: str | None = None
    vault_resource_id: str | None = None
    vault_name: str | None = None
    certificate_name: str | None = None
    version: str | None = None
    # What the service reports serving (SPEC §2 "What the service reports serving"): the hex SHA-1
    # thumbprint and its expiry (App Service, API Management, Front Door, Container Apps), and App
    # Service's keyVaultSecretStatus.
    thumbprint: str | None = None
    secret_status: str | None = None
    problem: str | None = None
    served_expires_on: datetime | None = None
    # The hostnames this reference serves clients on (ServedCertificate probes each one), as the service
    # lists them: a wildcard is kept (the rule says it cannot be probed), IDN names as written.
    hostnames: tuple[str, ...] = ()

    @property
    def follows_latest(self) -> bool:
        return self.version is None

    @property
    def is_app_service(self) -> bool:
        return self.resource_type.lower() == "microsoft.web/certificates"


@dataclass(frozen=True, slots=True)
class CertificateVersion:
    """One version of a certificate (``GET {vault}/certificates/{name}[/{version}]``): what a service
    serves, or what the vault would serve next."""

    version: str
    x5t: str | None = None
    created_on: datetime | None = None
    expires_on: datetime | None = None
    enabled: bool | None = None
    # The CA named as its X.509 issuer when that is not its own subject (None: self-issued, or no cer).
    issued_by_ca: str | None = None


# --- ServedCertificate (SPEC §2): what clients are actually served ---------------------------------------------


@dataclass(frozen=True, slots=True)
class ServedLeaf:
    """The leaf certificate one address sent in its TLS handshake: its SHA-1 thumbprint (upper-case hex,
    as App Service shows thumbprints and ``x5t_to_hex`` gives Key Vault's), and what ``cryptography`` read
    from it (``None`` when the DER did not parse: the thumbprint still identifies it)."""

    thumbprint: str
    subject: str | None = None
    issuer: str | None = None
    not_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class AddressProbe:
    """One address of a hostname: the leaf it served, or why no handshake completed (``error``)."""

    address: str
    leaf: ServedLeaf | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HostProbe:
    """What a TLS handshake with every address of one hostname gave.

    ``error`` set means no address was tried (the name did not resolve, or it was refused: control
    characters, not a valid IDN); ``wildcard`` means there is no single name to connect to. ``sni`` is the
    name sent (punycode for an IDN), ``via`` the ``PROBE_CONNECT_TO`` target when one mapped the name, and
    ``addresses_skipped`` how many resolved addresses were left out by the per-name cap."""

    hostname: str
    sni: str | None = None
    addresses: tuple[AddressProbe, ...] = ()
    error: str | None = None
    wildcard: bool = False
    via: str | None = None
    addresses_skipped: int = 0


@dataclass(frozen=True, slots=True)
class PlainSecret:
    """A Key Vault secret that a service references and that is no certificate's (an uploaded PFX, an
    App Service Certificate order's secret): read from its metadata only, never its value. Key Vault
    cannot renew it, so CertificateBinding calls it ``not_applicable`` rather than deleted."""

    name: str
    version: str | None = None
    content_type: str | None = None
    created_on: datetime | None = None
    expires_on: datetime | None = None
    enabled: bool | None = None
