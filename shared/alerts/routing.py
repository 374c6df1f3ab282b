"""Which webhooks get which problems: ``ALERT_WEBHOOK_URL`` every one, each route of ``ALERT_ROUTES`` its own.

A problem belongs to the team named by the ``ALERT_ROUTE_TAG`` tag (default ``alert-route``) of its
certificate, else of its vault; a binding's problem follows the certificate it references. The scan
writes that tag value on each finding (:attr:`Finding.route`, see :mod:`shared.routes`), so a stored
scan can be routed again by ``POST /api/alerts`` without reading Azure; this module only reads that field.

Tag names and values are compared as people type them (:func:`shared.text.comparable`: NFKC, invisible
characters removed, trimmed, case-folded): ``Team-A`` with a trailing space or a zero-width joiner still
names the route ``team-a``. A value naming no route of ``ALERT_ROUTES`` is not lost: the central webhook
gets the problem anyway, with a line saying which route name is missing and for how many problems.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.models import Finding
from shared.settings import AlertRoute, Settings
from shared.text import comparable

CENTRAL = "ALERT_WEBHOOK_URL"


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
