"""Every version of a referenced certificate, for ServedCertificate: what a hostname may serve instead of
the current version. Read only when a probe saw another thumbprint, through the vault's sync client, with
the same ``nextLink`` check as the certificate list (:mod:`shared.azure.keyvault`).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from azure.core.rest import HttpRequest
from azure.keyvault.certificates import CertificateClient

from shared.azure.keyvault import _JSON, _checked_next_link, _get_json, parse_certificate_version
from shared.models import CertificateVersion, Vault

# A certificate renewed every 90 days for ten years has 40 versions; 100 pages is far past any real one.
_MAX_VERSION_PAGES = 100


def list_certificate_versions(client: CertificateClient, vault: Vault, name: str) -> tuple[CertificateVersion, ...]:
    """``GET {vault}/certificates/{name}/versions``, every page: what a hostname may serve instead of the
    current version. Read only when a probe saw another thumbprint (SPEC §2). Items are ``{id (versioned),
    x5t, attributes}``; the real service ends with an empty page after a ``nextLink``, and a ``nextLink``
    off the vault's host is refused as for the certificate list. Raises like :func:`list_certificates`."""
    request = HttpRequest("GET", f"/certificates/{quote(name, safe='')}/versions", headers=_JSON)
    versions: list[CertificateVersion] = []
    for _ in range(_MAX_VERSION_PAGES):
        page = _get_json(client, request)
        items = page.get("value") or []
        if not isinstance(items, list):
            raise ValueError("the version list's 'value' is not an array")
        versions.extend(parse_certificate_version(item) for item in items if isinstance(item, Mapping))
        next_link = page.get("nextLink")
        if not next_link:
            return tuple(versions)
        if not isinstance(next_link, str):
            raise ValueError("the version list's 'nextLink' is not a URL")
        request = HttpRequest("GET", _checked_next_link(vault, next_link), headers=_JSON)
    raise ValueError(f"the version list of {name} did not end after {_MAX_VERSION_PAGES} pages")
