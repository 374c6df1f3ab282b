"""The fake Key Vault's secrets, as metadata only (CertificateBinding's plain-secret row, SPEC §2).

``GET {vault}/secrets/{name}/versions`` answers like the Key Vault REST spec's GetSecretVersions
(specification/keyvault/data-plane/Microsoft.KeyVault/stable/7.5/examples/GetSecretVersions-example.json):
``SecretItem``s with ``id``, ``attributes`` (``enabled``, ``created``, ``updated``, ``exp``,
``recoveryLevel``), ``contentType`` and ``tags``, a certificate's own secret with ``managed: true``,
paged by ``maxresults`` with a ``nextLink``, and 404 ``SecretNotFound`` for a name that is neither.

``GET {vault}/secrets/{name}[/{version}]`` would return the secret's value. The app must never ask, so
the fake refuses it as Key Vault does for an identity with Key Vault Reader only (403 ``Forbidden``,
inner ``ForbiddenByRbac``), and records it, so a test can assert it never happened.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .estate import Json, Vault
from .http import Request, Response
from .wire import keyvault_error, unix

if TYPE_CHECKING:
    from .server import FakeAzure, _Outcome


def respond(
    azure: FakeAzure, vault: Vault, parts: Sequence[str], request: Request, outcome: _Outcome, *, headers: list[Any]
) -> Response:
    """Answer ``/secrets/...`` for one vault (called by FakeAzure._keyvault after authentication)."""
    base = azure.vault_uri(vault.name)
    if request.method != "GET" or len(parts) < 2:
        outcome.operation = "unknown"
        message = f"The fake Key Vault does not serve {request.method} {request.path}."
        return Response.json(405, keyvault_error("MethodNotAllowed", message), headers)
    name = parts[1]
    if len(parts) == 3 and parts[2].lower() == "versions":
        outcome.operation = "list_secret_versions"
        fault = vault.faults.get("secrets")
        if azure._fire(fault, outcome):
            assert fault is not None
            return azure._fault_response(fault, "keyvault", lambda s, c: f"The request failed with status {s}.")
        items = _versions(vault, name, base)
        if items is None:
            message = f"A secret with (name/id) {name} was not found in this key vault."
            return Response.json(404, keyvault_error("SecretNotFound", message), headers)
        return _page(items, request, base, name, headers)
    outcome.operation = "get_secret"
    oid = (outcome.claims or {}).get("oid", "")
    message = (
        "Caller is not authorized to perform action on resource. If role assignments, deny assignments or role "
        f"definitions were changed recently, please observe propagation time. Caller: oid={oid} Action: "
        "'Microsoft.KeyVault/vaults/secrets/getSecret/action'"
    )
    return Response.json(403, keyvault_error("Forbidden", message, "ForbiddenByRbac"), headers)


def _versions(vault: Vault, name: str, base: str) -> list[Json] | None:
    spec = vault.secrets.get(name.lower())
    if spec is not None:
        item: Json = {
            "id": f"{base}secrets/{spec['name']}/{spec.get('version') or _version_id(spec['name'])}",
            "attributes": {
                "enabled": bool(spec.get("enabled", True)),
                "created": unix(spec["created"]),
                "updated": unix(spec["created"]),
                "exp": unix(spec["expires"]),
                "recoveryLevel": "Recoverable+Purgeable",
            },
            "tags": dict(spec.get("tags") or {}),
        }
        if spec.get("content_type"):
            item["contentType"] = spec["content_type"]
        return [item]
    certificate = vault.certificate(name)
    if certificate is None:
        return None
    versions = [(certificate.version, certificate.created_on, certificate.expires_on)]
    versions += [(v.version, v.created_on, v.expires_on) for v in certificate.older_versions]
    return [
        {
            "id": f"{base}secrets/{certificate.name}/{version}",
            "attributes": {
                "enabled": True,
                "created": unix(created),
                "updated": unix(created),
                "exp": unix(expires),
                "recoveryLevel": "Recoverable+Purgeable",
            },
            "contentType": "application/x-pkcs12",
            "managed": True,
        }
        for version, created, expires in versions
    ]


def _version_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def _page(items: list[Json], request: Request, base: str, name: str, headers: list[Any]) -> Response:
    try:
        offset = int(request.query.get("$skiptoken", "0") or 0)
        size = max(1, min(25, int(request.query.get("maxresults", "25") or 25)))
    except ValueError:
        return Response.json(400, keyvault_error("BadParameter", "The $skiptoken is not valid."), headers)
    payload: Json = {"value": items[offset : offset + size], "nextLink": None}
    if offset + size < len(items):
        payload["nextLink"] = (
            f"{base}secrets/{name}/versions?api-version=7.5&$skiptoken={offset + size}&maxresults={size}"
        )
    return Response.json(200, payload, headers)
