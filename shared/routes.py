"""The owner route of each finding: the ``ALERT_ROUTE_TAG`` tag of its certificate, else of its vault.

The scan reads the tags anyway, so it records the route on each finding (:attr:`Finding.route`) while it
reads the vaults; a binding's finding follows the certificate it references. The alerts then only read
that field (``shared.alerts.routing``), and a stored scan can be routed again without reading Azure.
This lives beside the scan, not in ``alerts``, so the scan needs nothing from the alerts.

Tag names are compared as people type them (:func:`shared.text.comparable`: NFKC, invisible characters
removed, trimmed, case-folded); values are cleaned to one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from shared.models import Certificate, Finding, Vault
from shared.text import comparable, single_line

_ROUTE_VALUE_LIMIT = 256  # Azure tag values are at most 256 characters


def route_value(tags: Mapping[str, str] | None, tag_name: str) -> str | None:
    """The cleaned value of ``tag_name`` among ``tags`` (names compared with :func:`comparable`), or None
    when the tag is absent or blank. Control and bidirectional characters are removed."""
    if not tags:
        return None
    wanted = comparable(tag_name)
    for name, value in tags.items():
        if comparable(name) == wanted:
            cleaned = single_line(str(value)).strip()[:_ROUTE_VALUE_LIMIT]
            return cleaned if comparable(cleaned) else None
    return None


@dataclass(slots=True)
class RouteIndex:
    """The route tag of every certificate and vault a scan read, filled while vaults are read."""

    tag_name: str
    certificates: dict[tuple[str, str], str] = field(default_factory=dict)
    vaults: dict[str, str] = field(default_factory=dict)

    def add_vault(self, vault: Vault) -> None:
        value = route_value(vault.tags, self.tag_name)
        if value:
            self.vaults[vault.name.lower()] = value

    def add_certificates(self, certificates: Iterable[Certificate]) -> None:
        for certificate in certificates:
            value = route_value(certificate.tags, self.tag_name)
            if value:
                self.certificates[(certificate.vault.name.lower(), certificate.name.lower())] = value

    def route_of(self, finding: Finding) -> str | None:
        """The certificate's tag, else its vault's. Vault names are unique across Azure, so a binding
        (whose subscription is the service's) finds the certificate it references by vault and name."""
        vault = (finding.vault_name or "").lower()
        if finding.certificate_name is not None:
            value = self.certificates.get((vault, finding.certificate_name.lower()))
            if value:
                return value
        return self.vaults.get(vault) if vault else None


def with_routes(findings: Sequence[Finding], index: RouteIndex) -> list[Finding]:
    """``findings`` with :attr:`Finding.route` set from ``index`` (a finding that already has one keeps it)."""
    if not index.certificates and not index.vaults:
        return list(findings)
    out: list[Finding] = []
    for finding in findings:
        route = finding.route or index.route_of(finding)
        out.append(replace(finding, route=route) if route != finding.route else finding)
    return out
