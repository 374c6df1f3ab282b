"""Scenarios for the fake Azure: JSON-serialisable estate dicts, builders for them, and the live model.

A scenario is a plain dict (loadable from a JSON file) describing a tenant: subscriptions, their Key
Vaults, the certificates in each vault (with their issuance policy in the Key Vault REST shape), and
faults to inject. Builders (``estate``, ``subscription``, ``vault``, ``cert``, ``policy``, ``fault``)
make those dicts short to write in tests; ``synthetic_estate`` makes large ones for the benchmark.

The fake server turns a scenario into the live model (``Estate``, ``Subscription``, ``Vault``,
``Certificate``, ``Fault``), which keeps mutable state: stored policies (a PATCH really changes them),
fault counters, ports.

Times of a certificate are absolute (``not_before`` / ``expires_on``, ISO 8601) or relative to the
moment the scenario is loaded (``not_before_days_ago`` / ``expires_in_days``, negative = expired), so
a committed estate stays meaningful forever.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import math
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Json = dict[str, Any]

DEFAULT_TENANT_ID = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
DEFAULT_IDENTITY: Json = {
    "name": "autorenew-guard",
    "object_id": "0b7e4c1a-5d2f-4e8b-9a3c-6f1d2e3b4a5c",
    "client_id": "3c9d2e1f-7a6b-4c5d-8e9f-0a1b2c3d4e5f",
}
SAMPLE_ESTATE_PATH = Path(__file__).with_name("sample_estate.json")

EXEMPT_TAG = ("autorenew-exempt", "true")
ACMEBOT_TAG = ("Issuer", "Acmebot")

DEFAULT_PAGE_SIZE = 25
DEFAULT_VAULT_PAGE_SIZE = 100
DEFAULT_SUBSCRIPTION_PAGE_SIZE = 100

# Where a fault may be attached, and what it makes fail.
FAULT_FIELDS = frozenset(
    {"status", "code", "inner_code", "message", "times", "retry_after", "body", "delay_ms", "drop", "page", "seconds"}
)
ESTATE_FAULT_OPS = ("subscriptions", "token")
SUBSCRIPTION_FAULT_OPS = ("vaults", "get")
# Resource Manager lists of the services that serve certificates (tests/fakeazure/services.py).
SERVICE_FAULT_OPS = ("applicationGateways", "cdnProfiles", "cdnSecrets", "apiManagement", "webCertificates")
VAULT_FAULT_OPS = ("any", "list", "list_page", "policy", "get", "patch", "update", "versions", "pending")
CERTIFICATE_FAULT_OPS = ("any", "policy", "get", "patch", "update", "versions", "pending")

_NAMESPACE = uuid.UUID("5a1c0f4e-2b7d-4e39-9c1a-8d6e5f4b3a21")


def stable_uuid(*parts: str) -> str:
    """A GUID derived from names, so an estate written without ids gets the same ids every run."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


# --------------------------------------------------------------------------------------------------
# Builders: small functions returning scenario dicts
# --------------------------------------------------------------------------------------------------

Trigger = Mapping[str, int]
ActionSpec = tuple[str, Trigger] | Mapping[str, Any]
DEFAULT_ACTIONS: tuple[ActionSpec, ...] = (("AutoRenew", {"lifetime_percentage": 80}),)


def lifetime_action(action_type: str, trigger: Trigger) -> Json:
    """One entry of ``lifetime_actions`` in the REST shape."""
    return {"trigger": dict(trigger), "action": {"action_type": action_type}}


def _lifetime_actions(actions: Iterable[ActionSpec] | None) -> list[Json]:
    result = []
    for action in actions or ():
        if isinstance(action, Mapping):
            result.append(copy.deepcopy(dict(action)))
        else:
            action_type, trigger = action
            result.append(lifetime_action(action_type, trigger))
    return result


def policy(
    issuer: str = "Self",
    actions: Iterable[ActionSpec] | None = DEFAULT_ACTIONS,
    *,
    subject: str = "CN=www.contoso.com",
    dns_names: Sequence[str] | None = None,
    validity_months: int = 12,
    key_type: str = "RSA",
    key_size: int = 2048,
    content_type: str = "application/x-pkcs12",
    certificate_type: str | None = None,
) -> Json:
    """A certificate issuance policy in the Key Vault REST shape (snake_case keys)."""
    x509: Json = {
        "subject": subject,
        "ekus": ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"],
        "key_usage": ["digitalSignature", "keyEncipherment"],
        "validity_months": validity_months,
        "basic_constraints": {"ca": False},
    }
    if dns_names:
        x509["sans"] = {"dns_names": list(dns_names)}
    issuer_json: Json = {"name": issuer}
    if certificate_type:
        issuer_json["cty"] = certificate_type
    return {
        "key_props": {"exportable": True, "kty": key_type, "key_size": key_size, "reuse_key": False},
        "secret_props": {"contentType": content_type},
        "x509_props": x509,
        "lifetime_actions": _lifetime_actions(actions),
        "issuer": issuer_json,
    }


def fault(
    status: int | None = None,
    code: str | None = None,
    *,
    inner_code: str | None = None,
    message: str | None = None,
    times: int | None = None,
    retry_after: float | None = None,
    body: str | None = None,
    delay_ms: float | None = None,
    drop: bool = False,
    page: int | None = None,
    seconds: float | None = None,
) -> Json:
    """A fault spec (see ``Fault``); ``None`` arguments are left out of the dict."""
    spec: Json = {
        "status": status,
        "code": code,
        "inner_code": inner_code,
        "message": message,
        "times": times,
        "retry_after": retry_after,
        "body": body,
        "delay_ms": delay_ms,
        "page": page,
        "seconds": seconds,
    }
    spec = {key: value for key, value in spec.items() if value is not None}
    if drop:
        spec["drop"] = True
    return spec


def firewall_fault(**kwargs: Any) -> Json:
    """403 Forbidden / ForbiddenByFirewall, as a vault with a network ACL answers a caller outside it."""
    return fault(403, "Forbidden", inner_code="ForbiddenByFirewall", **kwargs)


def rbac_fault(**kwargs: Any) -> Json:
    """403 Forbidden / ForbiddenByRbac: the identity lacks a data-plane role on the vault."""
    return fault(403, "Forbidden", inner_code="ForbiddenByRbac", **kwargs)


def access_policy_fault(**kwargs: Any) -> Json:
    """403 Forbidden / AccessDenied: an access-policy vault has no entry for the identity."""
    return fault(403, "Forbidden", inner_code="AccessDenied", **kwargs)


def throttle_fault(times: int | None = 1, retry_after: float | None = None, **kwargs: Any) -> Json:
    """429 Throttled for the first ``times`` matching requests, as Key Vault sends it: without Retry-After
    unless ``retry_after`` asks for the header."""
    return fault(429, "Throttled", times=times, retry_after=retry_after, **kwargs)


def throttle_window(seconds: float, **kwargs: Any) -> Json:
    """429 Throttled (no Retry-After) for every matching request during ``seconds`` of real time from the
    first one: Key Vault counts its limits per 10-second window, so a busy vault refuses for a while."""
    return fault(429, "Throttled", seconds=seconds, **kwargs)


def cert(
    name: str,
    issuer: str = "Self",
    actions: Iterable[ActionSpec] | None = DEFAULT_ACTIONS,
    *,
    enabled: bool = True,
    tags: Mapping[str, str] | None = None,
    expires_in_days: float | None = None,
    not_before_days_ago: float | None = None,
    expires_on: str | None = None,
    not_before: str | None = None,
    validity_months: int = 12,
    subject: str | None = None,
    fault: Mapping[str, Any] | None = None,
    policy_json: Mapping[str, Any] | None = None,
    issued_by: str | None = None,
    pending: Mapping[str, Any] | None = None,
    forged_issuer_name: bool = False,
) -> Json:
    """A certificate spec. Without any time, it expires in 200 days; ``policy_json`` replaces the policy.

    ``issued_by``: the X.509 issuer (common name) of the current version's DER certificate; without it the
    certificate issued itself, as Key Vault's ``Self`` issuer makes it. ``forged_issuer_name``: the CA of
    ``issued_by`` (default "Forging CA") signs it but writes the certificate's own subject as its issuer, so
    the names say self-signed and only the signature tells the truth. ``pending``: its pending operation
    (``GET /certificates/{name}/pending``) as ``{"status", "status_details", "error": {"code", "message"}}``;
    without it the fake answers 404 ``PendingCertificateNotFound``, as Key Vault does when there is none."""
    spec: Json = {"name": name, "enabled": enabled}
    if tags:
        spec["tags"] = dict(tags)
    if expires_on is not None:
        spec["expires_on"] = expires_on
    elif expires_in_days is not None:
        spec["expires_in_days"] = expires_in_days
    elif not_before is None and not_before_days_ago is None:
        spec["expires_in_days"] = 200
    if not_before is not None:
        spec["not_before"] = not_before
    elif not_before_days_ago is not None:
        spec["not_before_days_ago"] = not_before_days_ago
    host = f"{name}.contoso.com"
    spec["policy"] = (
        copy.deepcopy(dict(policy_json))
        if policy_json is not None
        else policy(issuer, actions, subject=subject or f"CN={host}", dns_names=[host], validity_months=validity_months)
    )
    if fault:
        spec["fault"] = copy.deepcopy(dict(fault))
    if issued_by or forged_issuer_name:
        spec["issued_by"] = issued_by or "Forging CA"
    if forged_issuer_name:
        spec["forged_issuer_name"] = True
    if pending is not None:
        spec["pending"] = copy.deepcopy(dict(pending))
    return spec


def vault(
    name: str,
    *certificates: Mapping[str, Any],
    resource_group: str | None = None,
    location: str = "westeurope",
    tags: Mapping[str, str] | None = None,
    fault: Mapping[str, Any] | None = None,
    page_size: int | None = None,
    latency_ms: float | None = None,
    properties: Mapping[str, Any] | None = None,
) -> Json:
    """A Key Vault spec; ``properties`` are merged into the ARM resource's ``properties``."""
    spec: Json = {
        "name": name,
        "resource_group": resource_group or f"rg-{name}",
        "location": location,
        "certificates": [dict(c) for c in certificates],
    }
    if tags:
        spec["tags"] = dict(tags)
    if fault:
        spec["fault"] = copy.deepcopy(dict(fault))
    if page_size is not None:
        spec["page_size"] = page_size
    if latency_ms is not None:
        spec["latency_ms"] = latency_ms
    if properties:
        spec["properties"] = copy.deepcopy(dict(properties))
    return spec


def subscription(
    display_name: str,
    *vaults: Mapping[str, Any],
    subscription_id: str | None = None,
    state: str = "Enabled",
    fault: Mapping[str, Any] | None = None,
) -> Json:
    """A subscription spec; its id is derived from the display name unless given."""
    spec: Json = {
        "subscription_id": subscription_id or stable_uuid("subscription", display_name),
        "display_name": display_name,
        "state": state,
        "vaults": [dict(v) for v in vaults],
    }
    if fault:
        spec["fault"] = copy.deepcopy(dict(fault))
    return spec


def estate(
    *subscriptions: Mapping[str, Any],
    tenant_id: str = DEFAULT_TENANT_ID,
    latency_ms: float = 0,
    throttle_ratio: float = 0.0,
    page_size: int = DEFAULT_PAGE_SIZE,
    vault_page_size: int = DEFAULT_VAULT_PAGE_SIZE,
    subscription_page_size: int = DEFAULT_SUBSCRIPTION_PAGE_SIZE,
    seed: int = 1,
    identity: Mapping[str, Any] | None = None,
    faults: Mapping[str, Any] | None = None,
) -> Json:
    """A whole scenario: the tenant, its subscriptions, paging, latency, throttling and global faults."""
    spec: Json = {
        "tenant_id": tenant_id,
        "latency_ms": latency_ms,
        "throttle_ratio": throttle_ratio,
        "page_size": page_size,
        "vault_page_size": vault_page_size,
        "subscription_page_size": subscription_page_size,
        "seed": seed,
        "subscriptions": [dict(s) for s in subscriptions],
    }
    if identity:
        spec["identity"] = dict(identity)
    if faults:
        spec["faults"] = copy.deepcopy(dict(faults))
    return spec


def load_estate(path: str | Path) -> Json:
    """Read a scenario from a JSON file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an estate is a JSON object")
    return data


def sample_estate() -> Json:
    """A fresh copy of the demo estate (``sample_estate.json``)."""
    return load_estate(SAMPLE_ESTATE_PATH)


# --------------------------------------------------------------------------------------------------
# Synthetic estates for the benchmark
# --------------------------------------------------------------------------------------------------

_TEAMS = ("app", "pay", "data", "web", "api", "ops", "iot", "ml", "crm", "erp", "hr", "sec")
_ENVIRONMENTS = ("prod", "dev", "test", "stage")
_SERVICES = ("portal", "api", "gateway", "ingest", "auth", "cdn", "mtls", "signing", "broker", "admin", "www", "sso")
_LOCATIONS = ("westeurope", "northeurope", "eastus", "eastus2", "uksouth", "swedencentral")


def synthetic_estate(
    vaults: int = 200,
    certs_per_vault: int = 50,
    latency_ms: float = 20,
    throttle_ratio: float = 0.0,
    seed: int = 1,
    *,
    subscriptions: int | None = None,
    forbidden_vaults: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
    vault_page_size: int = DEFAULT_VAULT_PAGE_SIZE,
    services: int = 0,
) -> Json:
    """A large, deterministic estate with a realistic mix of certificates.

    ``services`` references (CertificateBinding) to as many distinct certificates, spread evenly over the
    estate: 60 % as Application Gateway SSL certificates (three per gateway; two of three versionless,
    one pinned to the current version), 40 % as App Service certificates serving the current thumbprint.

    Issuers: ~55% Self, ~20% DigiCert, ~5% GlobalSign, ~20% Unknown (imported). Lifetime actions:
    ~50% AutoRenew (by percentage or days), ~10% AutoRenew after EmailContacts, ~25% EmailContacts
    only, the rest none. About 3% disabled, 3% exempt by tag, 2% expired, 8% expiring within 30 days.
    ``forbidden_vaults`` vaults refuse their certificate list with 403 ForbiddenByFirewall.

    Certificates of one kind share one policy dict (the fake never mutates a stored policy in place),
    which keeps a 100,000-certificate estate small in memory; thumbprints are synthetic (not the hash
    of the ``cer`` a GET returns) so the fake never has to build 100,000 X.509 certificates.
    """
    rng = random.Random(seed)
    subscription_count = subscriptions or max(1, math.ceil(vaults / 40))
    templates: dict[tuple[str, str], Json] = {}

    def shared_policy(issuer: str, kind: str) -> Json:
        key = (issuer, kind)
        if key not in templates:
            actions: Sequence[ActionSpec] = {
                "renew_pct": [("AutoRenew", {"lifetime_percentage": 80})],
                "renew_days": [("AutoRenew", {"days_before_expiry": 30})],
                "email_then_renew": [
                    ("EmailContacts", {"days_before_expiry": 60}),
                    ("AutoRenew", {"days_before_expiry": 30}),
                ],
                "email": [("EmailContacts", {"lifetime_percentage": 90})],
                "none": [],
            }[kind]
            templates[key] = policy(
                issuer,
                actions,
                subject="CN=service.contoso.com",
                certificate_type="OV-SSL" if issuer in ("DigiCert", "GlobalSign") else None,
            )
        return templates[key]

    subs: list[Json] = []
    for index in range(subscription_count):
        team = _TEAMS[index % len(_TEAMS)]
        subs.append(subscription(f"Contoso {team.upper()} {index + 1:03d}"))
    forbidden = set(rng.sample(range(vaults), min(forbidden_vaults, vaults)))
    for index in range(vaults):
        team = _TEAMS[index % len(_TEAMS)]
        env = _ENVIRONMENTS[(index // len(_TEAMS)) % len(_ENVIRONMENTS)]
        name = f"{team}-{env}-{index:04d}-kv"
        certificates: list[Json] = []
        for number in range(certs_per_vault):
            roll = rng.random()
            issuer = (
                "Self" if roll < 0.55 else "DigiCert" if roll < 0.75 else "GlobalSign" if roll < 0.80 else "Unknown"
            )
            roll = rng.random()
            kind = (
                "renew_pct"
                if roll < 0.30
                else "renew_days"
                if roll < 0.50
                else "email_then_renew"
                if roll < 0.60
                else "email"
                if roll < 0.85
                else "none"
            )
            if issuer == "Unknown" and kind.startswith(("renew", "email_then")):
                kind = "email"
            roll = rng.random()
            expires_in = (
                rng.randint(-60, -1) if roll < 0.02 else rng.randint(1, 30) if roll < 0.10 else rng.randint(31, 700)
            )
            spec: Json = {
                "name": f"{_SERVICES[number % len(_SERVICES)]}-{number:03d}",
                "enabled": rng.random() >= 0.03,
                "expires_in_days": expires_in,
                "not_before_days_ago": max(1, 365 - expires_in) if expires_in < 365 else rng.randint(1, 60),
                "policy": shared_policy(issuer, kind),
            }
            roll = rng.random()
            if roll < 0.02:
                spec["tags"] = {"autorenew-exempt": "true", "owner": team}
            elif roll < 0.03:
                spec["tags"] = {"Issuer": "Acmebot"}
            elif roll < 0.30:
                spec["tags"] = {"owner": team, "env": env}
            certificates.append(spec)
        vault_spec = vault(
            name,
            *certificates,
            resource_group=f"rg-{team}-{env}",
            location=_LOCATIONS[index % len(_LOCATIONS)],
            tags={"team": team, "env": env},
        )
        if index in forbidden:
            vault_spec["fault"] = {"any": firewall_fault()}
        subs[index % subscription_count]["vaults"].append(vault_spec)
    _synthetic_services(subs, services)
    result = estate(
        *subs,
        latency_ms=latency_ms,
        throttle_ratio=throttle_ratio,
        seed=seed,
        page_size=page_size,
        vault_page_size=vault_page_size,
    )
    result["thumbprints"] = "synthetic"
    return result


def _synthetic_services(subs: list[Json], count: int) -> None:
    """Add ``count`` service references to distinct certificates, in the subscription of their vault."""
    if count <= 0:
        return
    pool = [(sub, v, c) for sub in subs for v in sub["vaults"] for c in v["certificates"]]
    step = max(1, len(pool) // count)
    chosen = pool[::step][:count]
    gateways: dict[str, Json] = {}
    for index, (sub, vault_spec, cert_spec) in enumerate(chosen):
        services = sub.setdefault("services", [])
        if index % 5 < 3:
            number = index // 5
            key = f"{sub['subscription_id']}/{number}"
            if key not in gateways:
                gateways[key] = {"type": "applicationGateway", "name": f"appgw-{number:04d}", "sslCertificates": []}
                services.append(gateways[key])
            reference: Json = {
                "name": f"tls-{index:05d}",
                "vault": vault_spec["name"],
                "certificate": cert_spec["name"],
            }
            if index % 5 == 2:
                reference["version"] = "current"
            gateways[key]["sslCertificates"].append(reference)
        else:
            services.append(
                {
                    "type": "appServiceCertificate",
                    "name": f"app-{index:05d}",
                    "vault": vault_spec["name"],
                    "certificate": cert_spec["name"],
                    "thumbprint": "current",
                    "status": "Succeeded",
                }
            )


# --------------------------------------------------------------------------------------------------
# The live model
# --------------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """What to do instead of (or before) the normal answer.

    ``status`` (default 500, or 200 when only ``body`` is given), ``code`` / ``inner_code`` /
    ``message`` for the error body in the service's shape, ``body`` raw text sent instead of JSON
    (malformed responses), ``retry_after`` seconds (header), ``delay_ms`` extra latency, ``drop`` to
    reset the connection, ``times`` = only the first N matching requests fail (omitted = always),
    ``page`` = only that page of a list (1-based; ``list_page`` defaults to every page after the first),
    ``seconds`` = every matching request fails for that long from the first one, then none does.
    A fault with only ``delay_ms`` slows the answer down without failing it.
    """

    status: int | None = None
    code: str | None = None
    inner_code: str | None = None
    message: str | None = None
    times: int | None = None
    retry_after: float | None = None
    body: str | None = None
    delay_ms: float = 0.0
    drop: bool = False
    page: int | None = None
    seconds: float | None = None
    fired: int = 0
    started: float | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Fault:
        unknown = set(spec) - FAULT_FIELDS
        if unknown:
            raise ValueError(f"unknown fault field(s) {sorted(unknown)}; known: {sorted(FAULT_FIELDS)}")
        return cls(
            status=int(spec["status"]) if spec.get("status") is not None else None,
            code=spec.get("code"),
            inner_code=spec.get("inner_code"),
            message=spec.get("message"),
            times=int(spec["times"]) if spec.get("times") is not None else None,
            retry_after=spec.get("retry_after"),
            body=spec.get("body"),
            delay_ms=float(spec.get("delay_ms") or 0.0),
            drop=bool(spec.get("drop", False)),
            page=int(spec["page"]) if spec.get("page") is not None else None,
            seconds=float(spec["seconds"]) if spec.get("seconds") is not None else None,
        )

    @property
    def fails(self) -> bool:
        """False for a delay-only fault."""
        return self.drop or self.status is not None or self.body is not None or self.code is not None

    @property
    def response_status(self) -> int:
        if self.status is not None:
            return self.status
        return 200 if self.body is not None and self.code is None else 500

    def fire(self) -> bool:
        """Consume one occurrence: True when this request is affected."""
        if self.seconds is not None:
            now = time.monotonic()
            if self.started is None:
                self.started = now
            if now - self.started >= self.seconds:
                return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True


def parse_faults(spec: Mapping[str, Any] | None, ops: Sequence[str], bare_op: str) -> dict[str, Fault]:
    """``{"op": fault, ...}``; a bare fault spec (fields at the top) applies to ``bare_op``."""
    if not spec:
        return {}
    if set(spec) & FAULT_FIELDS:
        return {bare_op: Fault.from_spec(spec)}
    faults = {}
    for op, fault_spec in spec.items():
        if op not in ops:
            raise ValueError(f"unknown fault operation {op!r}; known: {list(ops)}")
        if fault_spec:
            faults[op] = Fault.from_spec(fault_spec)
    return faults


def parse_time(value: str | float | int | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _validity_days(policy_json: Mapping[str, Any] | None) -> float:
    months = 12
    if isinstance(policy_json, Mapping):
        x509 = policy_json.get("x509_props")
        if isinstance(x509, Mapping) and isinstance(x509.get("validity_months"), int):
            months = x509["validity_months"]
    return months * 365.25 / 12


@dataclass(slots=True)
class Certificate:
    """A certificate's current version, with its stored policy (the REST dict, never mutated in place)."""

    name: str
    enabled: bool
    tags: dict[str, str]
    not_before: dt.datetime
    expires_on: dt.datetime
    created_on: dt.datetime
    updated_on: dt.datetime
    policy: Json | None
    policy_updated_on: dt.datetime
    version: str
    faults: dict[str, Fault] = field(default_factory=dict)
    content_type: str = "application/x-pkcs12"
    recovery_level: str = "Recoverable+Purgeable"
    recoverable_days: int = 90
    thumbprint: bytes | None = None
    der: bytes | None = None
    # Attributes sent as they are in the list item, over the computed ones: malformed list data in tests.
    list_attributes: Json = field(default_factory=dict)
    # The CA named as the X.509 issuer of the current version (None: it issued itself, as ``Self`` does).
    issued_by: str | None = None
    # The CA signs, but the X.509 issuer name is the certificate's own subject (a forged "self-signed").
    forged_issuer_name: bool = False
    # The pending operation (``GET .../pending``), None when there is none (404 PendingCertificateNotFound).
    pending: Json | None = None
    # Versions before the current one, oldest first (GET .../{name}/{version}, .../versions).
    older_versions: list[CertificateVersion] = field(default_factory=list)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], vault_name: str, now: dt.datetime, synthetic: bool) -> Certificate:
        name = spec["name"]
        policy_json = spec["policy"] if "policy" in spec else _shorthand_policy(spec)
        validity = dt.timedelta(days=_validity_days(policy_json))
        expires = (
            parse_time(spec["expires_on"])
            if spec.get("expires_on") is not None
            else now + dt.timedelta(days=spec["expires_in_days"])
            if spec.get("expires_in_days") is not None
            else None
        )
        not_before = (
            parse_time(spec["not_before"])
            if spec.get("not_before") is not None
            else now - dt.timedelta(days=spec["not_before_days_ago"])
            if spec.get("not_before_days_ago") is not None
            else None
        )
        if expires is None:
            expires = (not_before + validity) if not_before else now + dt.timedelta(days=200)
        if not_before is None:
            not_before = expires - validity
        not_before = not_before.replace(microsecond=0)
        expires = expires.replace(microsecond=0)
        version = (
            spec.get("version")
            or hashlib.sha256(f"{vault_name}/{name}/{not_before.isoformat()}".lower().encode()).hexdigest()[:32]
        )
        certificate = cls(
            name=name,
            enabled=bool(spec.get("enabled", True)),
            tags=dict(spec.get("tags") or {}),
            not_before=not_before,
            expires_on=expires,
            created_on=not_before,
            updated_on=not_before,
            policy=policy_json,
            policy_updated_on=not_before,
            version=version,
            faults=parse_faults(spec.get("fault"), CERTIFICATE_FAULT_OPS, "any"),
            content_type=spec.get("content_type", "application/x-pkcs12"),
            recovery_level=spec.get("recovery_level", "Recoverable+Purgeable"),
            list_attributes=dict(spec.get("list_attributes") or {}),
            issued_by=spec.get("issued_by"),
            forged_issuer_name=bool(spec.get("forged_issuer_name")),
            pending=copy.deepcopy(dict(spec["pending"])) if spec.get("pending") is not None else None,
        )
        if synthetic:
            certificate.thumbprint = hashlib.sha256(f"{vault_name}/{name}/{version}".encode()).digest()[:20]
        for older in spec.get("older_versions") or []:
            certificate.older_versions.append(CertificateVersion.from_spec(older, vault_name, name, now))
        certificate.older_versions.sort(key=lambda v: v.created_on)
        return certificate

    def version_named(self, version: str) -> CertificateVersion | None:
        """An older version by id (case-insensitive); ``None`` for the current one or an unknown id."""
        return next((v for v in self.older_versions if v.version.lower() == version.lower()), None)

    @property
    def subject(self) -> str:
        if isinstance(self.policy, Mapping):
            x509 = self.policy.get("x509_props")
            if isinstance(x509, Mapping) and isinstance(x509.get("subject"), str) and x509["subject"]:
                return str(x509["subject"])
        return f"CN={self.name}"


@dataclass(slots=True)
class CertificateVersion:
    """A version before the current one: what a service pinned to it serves.

    Spec: ``{"version": id (derived when absent), "created_days_ago": 400, "expires_in_days": -35,
    "validity_days": 365, "enabled": true}``; ``not_before`` is its creation."""

    version: str
    enabled: bool
    not_before: dt.datetime
    expires_on: dt.datetime
    created_on: dt.datetime
    thumbprint: bytes | None = None
    der: bytes | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], vault_name: str, name: str, now: dt.datetime) -> CertificateVersion:
        created = (now - dt.timedelta(days=float(spec.get("created_days_ago", 400)))).replace(microsecond=0)
        expires = (
            now + dt.timedelta(days=float(spec["expires_in_days"]))
            if spec.get("expires_in_days") is not None
            else created + dt.timedelta(days=float(spec.get("validity_days", 365)))
        ).replace(microsecond=0)
        version = (
            spec.get("version") or hashlib.sha256(f"{vault_name}/{name}/{created}".lower().encode()).hexdigest()[:32]
        )
        return cls(str(version), bool(spec.get("enabled", True)), created, expires, created)


def _shorthand_policy(spec: Mapping[str, Any]) -> Json:
    """A cert spec without ``policy``: built from ``issuer`` (default Self) and ``actions``."""
    actions = [tuple(a) if isinstance(a, list) else a for a in spec.get("actions", [])]
    host = f"{spec['name']}.contoso.com"
    return policy(
        spec.get("issuer", "Self"),
        actions,
        subject=f"CN={host}",
        dns_names=[host],
        validity_months=int(spec.get("validity_months", 12)),
    )


@dataclass
class Vault:
    name: str
    subscription_id: str
    resource_group: str
    location: str
    tags: dict[str, str]
    properties: Json
    faults: dict[str, Fault]
    page_size: int | None
    latency_ms: float | None
    certificates: dict[str, Certificate] = field(default_factory=dict)
    port: int | None = None
    # Scheme, host and port its list's nextLink points to instead of its own (a hostile or broken vault).
    next_link_base: str | None = None
    _sorted: list[Certificate] | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], subscription_id: str, now: dt.datetime, synthetic: bool) -> Vault:
        name = spec["name"]
        result = cls(
            name=name,
            subscription_id=subscription_id,
            resource_group=spec.get("resource_group") or f"rg-{name}",
            location=spec.get("location", "westeurope"),
            tags=dict(spec.get("tags") or {}),
            properties=dict(spec.get("properties") or {}),
            faults=parse_faults(spec.get("fault"), VAULT_FAULT_OPS, "any"),
            page_size=spec.get("page_size"),
            latency_ms=spec.get("latency_ms"),
            next_link_base=spec.get("next_link_base"),
        )
        for cert_spec in spec.get("certificates", []):
            result.add(Certificate.from_spec(cert_spec, name, now, synthetic))
        return result

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.KeyVault/vaults/{self.name}"
        )

    def add(self, certificate: Certificate) -> None:
        key = certificate.name.lower()
        if key in self.certificates:
            raise ValueError(f"vault {self.name} already has a certificate named {certificate.name}")
        self.certificates[key] = certificate
        self._sorted = None

    def remove(self, name: str) -> Certificate:
        certificate = self.certificates.pop(name.lower())
        self._sorted = None
        return certificate

    def certificate(self, name: str) -> Certificate | None:
        return self.certificates.get(name.lower())

    def sorted_certificates(self) -> list[Certificate]:
        """Certificates in list order (by name, case-insensitive), as Key Vault lists them."""
        if self._sorted is None:
            self._sorted = sorted(self.certificates.values(), key=lambda c: c.name.lower())
        return self._sorted


@dataclass
class Subscription:
    subscription_id: str
    display_name: str
    state: str
    tenant_id: str
    faults: dict[str, Fault]
    vaults: list[Vault] = field(default_factory=list)
    # Services that serve certificates, as specs rendered at request time (tests/fakeazure/services.py).
    services: list[Json] = field(default_factory=list)
    service_page_size: int | None = None


@dataclass
class Estate:
    """The live scenario the fake serves. Mutate it under ``FakeAzure.lock`` (or via FakeAzure's helpers)."""

    tenant_id: str = DEFAULT_TENANT_ID
    latency_ms: float = 0.0
    throttle_ratio: float = 0.0
    seed: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    vault_page_size: int = DEFAULT_VAULT_PAGE_SIZE
    subscription_page_size: int = DEFAULT_SUBSCRIPTION_PAGE_SIZE
    identity: Json = field(default_factory=lambda: dict(DEFAULT_IDENTITY))
    faults: dict[str, Fault] = field(default_factory=dict)
    subscriptions: list[Subscription] = field(default_factory=list)
    synthetic_thumbprints: bool = False
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    _vaults: dict[str, Vault] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], now: dt.datetime | None = None) -> Estate:
        now = now or dt.datetime.now(dt.UTC)
        tenant_id = data.get("tenant_id", DEFAULT_TENANT_ID)
        result = cls(
            tenant_id=tenant_id,
            latency_ms=float(data.get("latency_ms") or 0.0),
            throttle_ratio=float(data.get("throttle_ratio") or 0.0),
            seed=int(data.get("seed", 1)),
            page_size=int(data.get("page_size") or DEFAULT_PAGE_SIZE),
            vault_page_size=int(data.get("vault_page_size") or DEFAULT_VAULT_PAGE_SIZE),
            subscription_page_size=int(data.get("subscription_page_size") or DEFAULT_SUBSCRIPTION_PAGE_SIZE),
            identity={**DEFAULT_IDENTITY, **(data.get("identity") or {})},
            faults=parse_faults(data.get("faults"), ESTATE_FAULT_OPS, "subscriptions"),
            synthetic_thumbprints=data.get("thumbprints") == "synthetic",
            loaded_at=now,
        )
        for sub_spec in data.get("subscriptions", []):
            sub = Subscription(
                subscription_id=sub_spec["subscription_id"],
                display_name=sub_spec.get("display_name", sub_spec["subscription_id"]),
                state=sub_spec.get("state", "Enabled"),
                tenant_id=sub_spec.get("tenant_id", tenant_id),
                faults=parse_faults(sub_spec.get("fault"), SUBSCRIPTION_FAULT_OPS + SERVICE_FAULT_OPS, "vaults"),
                services=[dict(service) for service in sub_spec.get("services") or []],
                service_page_size=sub_spec.get("service_page_size"),
            )
            result.subscriptions.append(sub)
            for vault_spec in sub_spec.get("vaults", []):
                result.add_vault(
                    sub, Vault.from_spec(vault_spec, sub.subscription_id, now, result.synthetic_thumbprints)
                )
        return result

    @classmethod
    def from_source(cls, source: Estate | Mapping[str, Any] | str | Path) -> Estate:
        if isinstance(source, Estate):
            return source
        if isinstance(source, str | Path):
            return cls.from_dict(load_estate(source))
        return cls.from_dict(source)

    def add_vault(self, sub: Subscription, vault_model: Vault) -> None:
        key = vault_model.name.lower()
        if key in self._vaults:
            raise ValueError(f"duplicate vault name {vault_model.name} (vault names are global in Azure)")
        self._vaults[key] = vault_model
        sub.vaults.append(vault_model)

    def remove_vault(self, name: str) -> Vault:
        vault_model = self._vaults.pop(name.lower())
        for sub in self.subscriptions:
            if vault_model in sub.vaults:
                sub.vaults.remove(vault_model)
        return vault_model

    def vault(self, name: str) -> Vault:
        try:
            return self._vaults[name.lower()]
        except KeyError:
            raise KeyError(f"no vault named {name!r} in the estate") from None

    def vaults(self) -> Iterator[Vault]:
        for sub in self.subscriptions:
            yield from sub.vaults

    def subscription(self, subscription_id: str) -> Subscription | None:
        for sub in self.subscriptions:
            if sub.subscription_id.lower() == subscription_id.lower():
                return sub
        return None

    def certificate_count(self) -> int:
        return sum(len(v.certificates) for v in self.vaults())
