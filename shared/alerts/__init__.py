"""Chat alerts after a scan: one digest of what needs attention, posted to Teams, Slack or any webhook.

- :func:`build_messages` (pure) lays a :class:`ScanResult` out as the messages of one webhook kind:
  Teams (Adaptive Cards in the Workflows envelope), Slack (Block Kit) or generic JSON. A digest too big
  for one message is split into numbered messages; every problem appears in exactly one of them.
- :class:`WebhookSender` posts them with a timeout and retries; the URL is a secret and never logged.
- :func:`notify` is the one call the timer, the CLI and ``POST /api/alerts`` make: settings in,
  :class:`DeliveryResult` out (or None when there is no webhook or nothing to say). It never raises for
  a webhook problem: the scan and its stored findings do not depend on a chat service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit

from shared.alerts.digest import Digest, is_clean, make_digest, new_finding_keys, portal_link
from shared.alerts.generic import build_generic_messages
from shared.alerts.sender import DeliveryResult, WebhookSender
from shared.alerts.slack import build_slack_messages
from shared.alerts.teams import build_teams_messages
from shared.models import ScanResult
from shared.settings import Settings

__all__ = [
    "AlertKind",
    "DeliveryResult",
    "WebhookSender",
    "build_messages",
    "is_clean",
    "new_finding_keys",
    "notify",
    "portal_link",
    "resolve_kind",
]

log = logging.getLogger(__name__)

AlertKind = Literal["teams", "slack", "generic"]

SLACK_HOSTS = frozenset({"hooks.slack.com"})
TEAMS_HOST_SUFFIXES = ("logic.azure.com", "powerplatform.com", "webhook.office.com")

_BUILDERS: Mapping[str, Callable[[Digest], list[dict[str, Any]]]] = {
    "teams": build_teams_messages,
    "slack": build_slack_messages,
    "generic": build_generic_messages,
}
_KIND_NAMES = {"teams": "Teams", "slack": "Slack", "generic": "generic"}


def resolve_kind(kind: str, url: str) -> AlertKind:
    """The message format for a webhook: ``kind`` when it names one, else (``auto``) from the URL's host:
    hooks.slack.com → Slack; *.logic.azure.com, *.powerplatform.com, *.webhook.office.com → Teams;
    anything else → generic JSON."""
    chosen = kind.strip().lower()
    if chosen == "teams":
        return "teams"
    if chosen == "slack":
        return "slack"
    if chosen == "generic":
        return "generic"
    if chosen != "auto":
        raise ValueError(f"unknown alert webhook kind {kind!r}: expected auto, teams, slack or generic")
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return "generic"
    if host in SLACK_HOSTS:
        return "slack"
    if any(host.endswith("." + suffix) for suffix in TEAMS_HOST_SUFFIXES):
        return "teams"
    return "generic"


def build_messages(
    kind: str,
    result: ScanResult,
    *,
    new_keys: Collection[str] = frozenset(),
    remediations: Sequence[Mapping[str, Any]] = (),
    portal_url: str = "https://portal.azure.com",
    report_url: str | None = None,
    all_clear: bool = True,
) -> list[dict[str, Any]]:
    """The digest of ``result`` as the JSON payloads of one webhook kind, in posting order.

    ``new_keys``: :attr:`Finding.key` of the problems to mark new (see :func:`new_finding_keys`).
    ``remediations``: what auto-remediation did (``vault_name``, ``certificate_name``, ``before``,
    ``after``, ``outcome``), shown in a "Changed by auto-remediation" section.
    ``all_clear=False`` returns ``[]`` for a clean scan with no remediation instead of an all-clear.
    """
    try:
        builder = _BUILDERS[kind]
    except KeyError:
        raise ValueError(f"unknown alert kind {kind!r}: expected teams, slack or generic") from None
    digest = make_digest(
        result, new_keys=new_keys, remediations=remediations, portal_url=portal_url, report_url=report_url
    )
    if digest.clean and not digest.remediations and not all_clear:
        return []
    return builder(digest)


def notify(
    settings: Settings,
    result: ScanResult,
    *,
    previous: ScanResult | None = None,
    remediations: Sequence[Mapping[str, Any]] = (),
    sender: WebhookSender | None = None,
    report_url: str | None = None,
    force: bool = False,
) -> DeliveryResult | None:
    """Post the digest of ``result`` to ``ALERT_WEBHOOK_URL``; the one entry point of the app.

    Returns None when no webhook is configured (a quiet no-op) or when the scan is clean, nothing was
    remediated and ``ALERT_ON_CLEAN`` is false (``force=True``, for an explicit request such as
    ``POST /api/alerts``, posts the all-clear anyway). Otherwise the :class:`DeliveryResult`; its
    ``error`` (never containing the URL) is what the caller records on the stored scan. Never raises
    because of the webhook.
    """
    url = settings.alert_webhook_url
    if not url:
        log.debug("ALERT_WEBHOOK_URL is not set: no alert posted")
        return None
    kind = resolve_kind(settings.alert_webhook_kind, url)
    try:
        messages = build_messages(
            kind,
            result,
            new_keys=new_finding_keys(result, previous),
            remediations=remediations,
            portal_url=settings.portal_url,
            report_url=report_url,
            all_clear=settings.alert_on_clean or force,
        )
    except Exception:  # a bug must not fail the scan; the traceback holds no secret (no URL involved)
        log.exception("Could not build the alert messages of scan %s", result.scan.id)
        return DeliveryResult(0, 0, "could not build the alert messages (see the log)")
    if not messages:
        log.info("Scan %s: nothing to act on and ALERT_ON_CLEAN is false, so no alert posted", result.scan.id)
        return None

    log.info("Scan %s: posting %d message(s) to the %s webhook", result.scan.id, len(messages), _KIND_NAMES[kind])
    active = sender or WebhookSender()
    try:
        return active.post(url, messages)
    except Exception as exc:  # noqa: BLE001 - its text may hold the URL: only the type is shown
        log.error("Alert webhook: unexpected %s while posting (details withheld)", type(exc).__name__)
        return DeliveryResult(len(messages), 0, f"unexpected error while posting ({type(exc).__name__})")
    finally:
        if sender is None:
            active.close()
