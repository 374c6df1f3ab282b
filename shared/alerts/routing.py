"""Which webhooks get which problems: ``ALERT_WEBHOOK_URL`` every one, each route of ``ALERT_ROUTES`` its own.

A problem belongs to the team named by the ``ALERT_ROUTE_TAG`` tag (default ``alert-route``) of its
certificate, else of its vault; a binding's problem follows the certificate it references. The scan
writes that tag value on each finding (:attr:`Finding.route`, see :func:`with_routes`), so a stored
scan can be routed again by ``POST /api/alerts`` without reading Azure.

Tag names and values are compared as people type them (:func:`shared.text.comparable`: NFKC, invisible
characters removed, trimmed, case-folded): ``Team-A`` with a trailing space or a zero-width joiner still
names the route ``team-a``. A value naming no route of ``ALERT_ROUTES`` is not lost: the central webhook
gets the problem anyway, with a line saying which route name is missing and for how many problems.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from shared.models import Certificate, Finding, Vault
from shared.settings import AlertRoute, Settings
from shared.text import comparable, single_line

CENTRAL = "ALERT_WEBHOOK_URL"
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


@dataclass(frozen=True, slots=True)
class Webhook:
    """One place a digest goes: the central webhook (``route`` None) or one route of ``ALERT_ROUTES``."""

    label: str  # what messages and errors call it: "ALERT_WEBHOOK_URL" or "route payments"
    url: str = field(repr=False)
    kind: str  # the ALERT_WEBHOOK_KIND for the central webhook, "auto" (its host decides) for a route
    route: str | None = None

    @property
    def state_key(self) -> str:
        """The key of what was posted here (Table Storage partition): the route's name and a hash of its
        URL, never the URL. A renamed route, or a route whose webhook was recreated (a new URL), starts
        with nothing posted."""
        digest = hashlib.sha256(self.url.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        name = "central" if self.route is None else "route-" + self.route.lower()
        return f"{name}-{digest}"

    def takes(self, finding: Finding) -> bool:
        return self.route is None or (finding.route is not None and comparable(finding.route) == comparable(self.route))


def webhooks(settings: Settings) -> list[Webhook]:
    """Every webhook the settings define, the central one first."""
    found: list[Webhook] = []
    if settings.alert_webhook_url:
        found.append(Webhook(CENTRAL, settings.alert_webhook_url, settings.alert_webhook_kind))
    found.extend(_route_webhook(route) for route in settings.alert_routes)
    return found


def _route_webhook(route: AlertRoute) -> Webhook:
    return Webhook(f"route {route.name}", route.url, "auto", route=route.name)


def undefined_routes(problems: Iterable[Finding], defined: Iterable[str]) -> dict[str, list[Finding]]:
    """Problems whose route tag names no route of ``ALERT_ROUTES``, by the tag value as written (the first
    spelling seen of each comparable name)."""
    known = {comparable(name) for name in defined}
    spelled: dict[str, str] = {}
    found: dict[str, list[Finding]] = {}
    for finding in problems:
        if not finding.route:
            continue
        key = comparable(finding.route)
        if key in known:
            continue
        name = spelled.setdefault(key, finding.route)
        found.setdefault(name, []).append(finding)
    return found
