"""What every service reader shares: the one Resource Manager list loop, and the mapping helpers that
turn a service's JSON into :class:`Binding` records (clean text once, where it enters; a malformed item
becomes a binding with a ``problem``, never an exception)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import DecodeError, HttpResponseError
from azure.core.rest import HttpRequest

from shared.azure import arm
from shared.azure.keyvault import read_error, vault_name_from_host
from shared.models import Binding, ReadError, parse_time
from shared.text import SINGLE_LINE_LOGS, clean_text

log = logging.getLogger("shared.azure.services")
log.addFilter(SINGLE_LINE_LOGS)  # estate text in log arguments cannot forge a line

_MAX_PAGES = 1000
_JSON = {"Accept": "application/json"}
# A service that lists thousands of hostnames for one certificate costs at most this many probes.
MAX_HOSTNAMES = 1000
VAULT_SECRET_ID = re.compile(
    r"^(?P<vault>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/(?P<name>[^/]+))"
    r"/secrets/(?P<secret>[^/]+)/?$",
    re.IGNORECASE,
)
VAULT_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)
_THUMBPRINT = re.compile(r"[0-9A-Fa-f]{40}")


@dataclass(frozen=True, slots=True)
class ServiceListError:
    """A service type the identity could not list in one subscription."""

    subscription_id: str
    resource_type: str
    error: ReadError


@dataclass(slots=True)
class ServiceRead:
    """The Key Vault references found in one subscription, and the types that could not be listed."""

    subscription_id: str
    bindings: list[Binding] = field(default_factory=list)
    failures: list[ServiceListError] = field(default_factory=list)

    def fail(self, kind: str, exc: BaseException) -> None:
        error = read_error(exc)
        log.warning("Could not list %s in subscription %s: %s", kind, self.subscription_id, error.describe())
        self.failures.append(ServiceListError(self.subscription_id, kind, error))


def list_items(client: Any, url: str) -> Iterator[Mapping[str, Any]]:
    """Every item of a Resource Manager list, following ``nextLink`` on the same host only. The one list
    loop of every service reader."""
    request = HttpRequest("GET", url, headers=_JSON)
    for _ in range(_MAX_PAGES):
        response = client.send_request(request)
        if response.status_code != 200:
            raise HttpResponseError(response=response)
        try:
            page = json.loads(response.content)
        except ValueError as exc:
            raise DecodeError("the response body is not valid JSON", response=response) from exc
        if not isinstance(page, Mapping) or not isinstance(page.get("value", []), list):
            raise ValueError("the list response has no 'value' array")
        for item in page.get("value") or []:
            if isinstance(item, Mapping):
                yield item
        if not page.get("nextLink"):
            return
        # The answer came from ARM_ENDPOINT (the clients' ArmHostGuard): its next page must stay there.
        request = HttpRequest("GET", arm.next_link(page["nextLink"], response.request.url), headers=_JSON)
    raise ValueError(f"the list did not end after {_MAX_PAGES} pages")


def list_children(client: Any, parent_id: str, child: str, api_version: str) -> Iterator[Mapping[str, Any]]:
    """A child list of a resource whose id was read from an answer (a profile's secrets, an
    environment's certificates). The one place such URLs are built: the id must be a path below
    Resource Manager (``/subscriptions/...``), never an absolute URL, a query or a ``..`` segment, so an
    id in an answer cannot send the scanner's token to another host."""
    return list_items(client, f"{resource_path(parent_id)}/{child}?api-version={api_version}")


def resource_path(resource_id: str) -> str:
    """A parent id read from an answer as the path below ARM_ENDPOINT it must be (shared.azure.arm)."""
    return arm.resource_path(resource_id, "resource id read from Resource Manager")


# --- mapping JSON into bindings --------------------------------------------------------------------------------


def text(value: Any) -> str | None:
    return clean_text(value) if isinstance(value, str) and value.strip() else None


def properties(item: Mapping[str, Any]) -> Mapping[str, Any]:
    value = item.get("properties")
    return value if isinstance(value, Mapping) else {}


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class Service:
    """The service a reference was found in."""

    subscription_id: str
    resource_id: str
    kind: str
    name: str


def service(subscription_id: str, item: Mapping[str, Any], kind: str) -> Service:
    resource_id = text(item.get("id")) or f"/subscriptions/{subscription_id}/providers/{kind}/(no id)"
    name = text(item.get("name")) or resource_id.rstrip("/").rsplit("/", 1)[-1]
    return Service(subscription_id, resource_id, kind, name)


def thumbprint(value: Any) -> str | None:
    """A hex SHA-1 thumbprint as services report it, upper-cased; anything else is None."""
    found = text(value)
    return found.upper() if found and _THUMBPRINT.fullmatch(found) else None


def when(value: Any) -> datetime | None:
    """A service's date (``expiry``, ``expirationDate``); unreadable is unknown, not an error."""
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value.strip())
    except ValueError:
        return None


def from_secret_uri(where: Service, binding: str | None, secret_id: Any, **served: Any) -> Binding:
    """A reference by secret URI (App Gateway, API Management, Container Apps). ``served`` are the
    Binding fields of what the service reports serving and the hostnames, kept only when it parses."""
    parsed = parse_secret_uri(secret_id)
    if parsed is None:
        return broken(
            where,
            binding,
            f"its Key Vault secret id {shown(secret_id)} is not https://<vault>/secrets/<name>[/<version>]",
            reference=text(secret_id) if isinstance(secret_id, str) else None,
        )
    vault_uri, secret, version = parsed
    host = urlsplit(vault_uri).hostname or ""
    return bound(
        where,
        binding,
        reference=clean_text(secret_id),
        vault_uri=vault_uri,
        vault_name=vault_name_from_host(host),  # never from another host: no vault, no route (SPEC §6)
        certificate_name=secret,
        version=version,
        **served,
    )


def by_vault_id(
    where: Service, binding: str | None, vault_resource_id: str, vault_name: str, secret: str, **served: Any
) -> Binding:
    """A reference by the vault's resource id and a secret name (Front Door classic, classic CDN): the
    reference is shown as ``{vault id}/secrets/{name}``. ``served`` are the version it is pinned to and
    the hostnames."""
    return bound(
        where,
        binding,
        reference=f"{vault_resource_id}/secrets/{secret}",
        vault_resource_id=vault_resource_id,
        vault_name=vault_name,
        certificate_name=secret,
        **served,
    )


def parse_secret_uri(value: Any) -> tuple[str, str, str | None] | None:
    """``https://{vault}/secrets/{name}[/{version}]`` -> (vault URI with a trailing slash, name, version)."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if parts.scheme.lower() != "https" or not parts.hostname or parts.query or parts.fragment:
        return None
    if len(segments) not in (2, 3) or segments[0].lower() != "secrets":
        return None
    netloc = parts.hostname.lower() + (f":{port}" if port else "")
    return f"https://{netloc}/", segments[1], segments[2] if len(segments) == 3 else None


def bound(where: Service, binding: str | None, **fields: Any) -> Binding:
    """A reference inside the service ``where``: the service's facts, then what the reference says."""
    return Binding(
        subscription_id=where.subscription_id,
        resource_id=where.resource_id,
        resource_type=where.kind,
        service_name=where.name,
        binding=binding,
        **fields,
    )


def broken(where: Service, binding: str | None, problem: str, *, reference: str | None = None) -> Binding:
    return bound(where, binding, reference=reference, problem=problem)


def shown(value: Any) -> str:
    """A reference as a reason may quote it: cleaned, bounded, missing said plainly."""
    if value is None:
        return "(missing)"
    found = clean_text(str(value)).strip()
    if not found:
        return "(empty)"
    return repr(found if len(found) <= 160 else found[:159] + "…")


def hostnames_of(values: Iterable[Any]) -> tuple[str, ...]:
    """The hostnames a service lists for one reference, as the probe gets them: trimmed, lower-cased,
    without duplicates, in listed order, bounded (a service listing thousands of names costs a scan at
    most ``MAX_HOSTNAMES`` probes per reference). A name that is not a hostname (control characters,
    spaces, URL punctuation) is kept as listed so that the probe refuses it and the scan says so, never a
    silent gap; a wildcard and a non-ASCII (IDN) name are kept as written (the probe says a wildcard
    cannot be probed, and sends an IDN as punycode)."""
    names: dict[str, None] = {}
    for value in values:
        if not isinstance(value, str):
            continue
        name = value.strip().rstrip(".").lower()
        if not name:
            continue
        names.setdefault(name[:300], None)  # a name past 253 characters is refused by the probe
        if len(names) >= MAX_HOSTNAMES:
            break
    return tuple(names)


def last_segment(value: Any) -> str | None:
    """The last path segment of a resource id, lower-cased (how a child names its parent's part)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().rstrip("/").rsplit("/", 1)[-1].lower() or None
