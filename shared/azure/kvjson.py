"""Key Vault's JSON answers read into the app's records: a response's body, a certificate list item, an
issuance policy, each read tolerantly (an odd field is ``None`` or a ``not_assessed`` reason, never a
crash) and cleaned where estate text enters.

Split from ``shared.azure.keyvault``, which sends the requests (and re-exports :func:`parse_policy`)."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import DecodeError, HttpResponseError

from shared.azure.kverrors import clean_message
from shared.models import Certificate, LifetimeAction, ReadError, Vault
from shared.text import clean_value


@dataclass(frozen=True, slots=True)
class PolicyFields:
    """What the rules and remediation read from an issuance policy."""

    issuer: str | None
    lifetime_actions: tuple[LifetimeAction, ...]
    validity_months: int | None


def parse_policy(data: Mapping[str, Any]) -> PolicyFields:
    """The issuance policy's REST JSON, read tolerantly: a missing or odd field is ``None``, and an action
    type Key Vault may add later is kept as the text it is, so the rules can say what it is."""
    return PolicyFields(
        issuer=interned_text(_get(data, "issuer", "name")),
        lifetime_actions=tuple(_raw_actions(data.get("lifetime_actions"))),
        validity_months=_integer(_get(data, "x509_props", "validity_months")),
    )


def _raw_actions(value: Any) -> Iterator[LifetimeAction]:
    """Every entry, understood or not: an entry the app cannot read fully carries its raw value in
    ``unexplained``, so the rules say ``not_assessed`` and remediation never overwrites it (SPEC §2)."""
    if value is None:
        return
    if not isinstance(value, list):
        yield LifetimeAction(action="(unreadable)", unexplained=f"lifetime_actions {_raw(value)}")
        return
    for item in value:
        if not isinstance(item, Mapping):
            yield LifetimeAction(action="(unreadable)", unexplained=f"the lifetime action {_raw(item)}")
            continue
        action_type = _get(item, "action", "action_type")
        trigger = item.get("trigger")
        days = _integer(_get(item, "trigger", "days_before_expiry"))
        percentage = _integer(_get(item, "trigger", "lifetime_percentage"))
        problems = []
        if not isinstance(action_type, str) or not action_type.strip():
            problems.append(f"the lifetime action {_raw(item.get('action'))}")
        if not _trigger_understood(trigger, days, percentage):
            problems.append(f"the trigger {_raw(trigger)}")
        yield LifetimeAction(
            action=interned_text(action_type) or "(none)",
            days_before_expiry=days,
            lifetime_percentage=percentage,
            unexplained="; ".join(problems) or None,
        )


_TRIGGER_KEYS = frozenset({"days_before_expiry", "lifetime_percentage"})


def _trigger_understood(trigger: Any, days: int | None, percentage: int | None) -> bool:
    """Days before expiry or a lifetime percentage (one of them: Key Vault takes one), as a whole number,
    and nothing else."""
    if not isinstance(trigger, Mapping):
        return False
    present = {key for key, value in trigger.items() if value is not None}
    if len(present) != 1 or not present <= _TRIGGER_KEYS:
        return False
    return ("days_before_expiry" not in present or days is not None) and (
        "lifetime_percentage" not in present or percentage is not None
    )


def _raw(value: Any) -> str:
    """A raw value as a reason may quote it: compact JSON, bounded."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= 120 else text[:119] + "…"


def _get(data: Mapping[str, Any], *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def interned_text(value: Any) -> str | None:
    """A non-empty string, interned: issuer and action names repeat across thousands of certificates, and
    every finding keeps them, so at 100,000 certificates one shared copy saves megabytes."""
    return sys.intern(value) if isinstance(value, str) and value else None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def json_of(response: Any) -> Mapping[str, Any]:
    """A 200's JSON object, cleaned; what the SDK's operations raise for anything else."""
    if response.status_code != 200:
        # What the SDK's operations raise for anything but 200, with the service's error body parsed.
        raise HttpResponseError(response=response)
    content: bytes = response.content
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise DecodeError("the response body is not valid JSON", response=response) from exc
    if not isinstance(data, Mapping):
        raise ValueError("the response is not a JSON object")
    if not _may_hold_hostile_text(content):
        return data
    # Estate text is untrusted: lone surrogates and control characters are cleaned here, where it enters.
    cleaned: Mapping[str, Any] = clean_value(data)
    return cleaned


def _may_hold_hostile_text(body: bytes) -> bool:
    """Whether a JSON body can decode to text that :func:`clean_value` would change. Plain ASCII with no
    escape and no DEL cannot (JSON forbids raw control characters in strings), and that is nearly every
    Key Vault answer: cleaning only the others keeps 100,000 certificates from costing seconds of CPU."""
    return not body.isascii() or b"\\" in body or b"\x7f" in body


def listed_certificate(vault: Vault, item: Any) -> Certificate:
    if not isinstance(item, Mapping):
        raise ValueError("a certificate list item is not a JSON object")
    name = _certificate_name(item.get("id"))
    certificate = Certificate(vault=vault, name=name, id=f"{vault.uri.rstrip('/')}/certificates/{name}")
    attributes = item.get("attributes")
    tags = item.get("tags")
    if attributes is None:
        attributes = {}
    try:
        if not isinstance(attributes, Mapping):
            raise TypeError("attributes is not an object")
        if tags is not None and not isinstance(tags, Mapping):
            raise TypeError("tags is not an object")
        enabled = attributes.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise TypeError("attributes.enabled is not true or false")
        return dataclasses.replace(
            certificate,
            enabled=enabled,
            tags={str(key): str(value) for key, value in (tags or {}).items()},
            not_before=unix_time(attributes.get("nbf"), "nbf"),
            expires_on=unix_time(attributes.get("exp"), "exp"),
        )
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        problem = ReadError("MalformedResponse", clean_message(f"unexpected data in the certificate list: {exc}"), 200)
        return dataclasses.replace(certificate, error=problem)


def _certificate_name(certificate_id: Any) -> str:
    """The name in ``https://<vault>/certificates/<name>[/<version>]``, checked as the SDK checks it."""
    parts = urlsplit(certificate_id) if isinstance(certificate_id, str) else None
    path = [segment for segment in parts.path.split("/") if segment] if parts else []
    if parts is None or not (parts.scheme and parts.hostname) or not 2 <= len(path) <= 3:
        raise ValueError(f"{certificate_id!r} is not a valid certificate id")
    return path[1]


def unix_time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"attributes.{name} is not a time")
    return datetime.fromtimestamp(value, UTC)
