"""Chat alerts after a scan: per webhook, one digest of what needs attention, posted to Teams, Slack or JSON.

- ``routing.py`` decides which webhooks get which problems: ``ALERT_WEBHOOK_URL`` every one (the central
  view), each route of ``ALERT_ROUTES`` the problems whose certificate (else vault) carries its name in
  the ``ALERT_ROUTE_TAG`` tag. It reads :attr:`Finding.route`, which the scan recorded (``shared.routes``).
- ``cadence.py`` decides, per webhook, which problems are listed (new, worse, or due for a reminder) and
  which are only counted as ongoing, against what the store says was last posted there.
- ``digest.py`` groups problems into entries (one per certificate); ``teams.py``, ``slack.py`` and
  ``generic.py`` lay a digest out as the messages of one webhook kind: Teams (Adaptive Cards in the
  Workflows envelope), Slack (Block Kit) or generic JSON; ``fitting.py`` splits a digest too big for one
  message into numbered messages, dropping nothing.
- :class:`WebhookSender` posts them with a timeout and retries; the URL is a secret and never logged.
- :func:`notify` is the one call the timer, the CLI and ``POST /api/alerts`` make: settings in,
  :class:`DeliveryResult` out (or None when there is no webhook or nothing to say). It never raises for
  a webhook problem: the scan and its stored findings do not depend on a chat service, and one failing
  webhook never keeps the others from theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from shared.alerts.cadence import plan
from shared.alerts.digest import Digest, Mark, is_clean, make_digest, portal_link
from shared.alerts.generic import build_generic_messages
from shared.alerts.routing import Webhook, undefined_routes, webhooks
from shared.alerts.sender import DeliveryResult, WebhookSender
from shared.alerts.slack import build_slack_messages
from shared.alerts.teams import build_teams_messages
from shared.models import Finding, ScanResult, ScanStatus, utcnow
from shared.settings import Settings
from shared.store import PostedProblem, StoreError
from shared.text import SINGLE_LINE_LOGS

__all__ = [
    "AlertKind",
    "DeliveryResult",
    "WebhookSender",
    "build_messages",
    "is_clean",
    "notify",
    "portal_link",
    "render",
    "resolve_kind",
]

log = logging.getLogger(__name__)
log.addFilter(SINGLE_LINE_LOGS)  # route names and service errors in a log line cannot forge another

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


class AlertStateStore(Protocol):
    """What the alerts need of the findings store: what was posted to a webhook, and recording a post."""

    def posted_problems(self, webhook: str) -> dict[str, PostedProblem]: ...

    def record_posted(self, webhook: str, posted: Sequence[PostedProblem], forget: Sequence[str] = ()) -> None: ...


def render(kind: str, digest: Digest) -> list[dict[str, Any]]:
    """A digest as the JSON payloads of one webhook kind, in posting order."""
    try:
        builder = _BUILDERS[kind]
    except KeyError:
        raise ValueError(f"unknown alert kind {kind!r}: expected teams, slack or generic") from None
    return builder(digest)


def build_messages(
    kind: str,
    result: ScanResult,
    *,
    marks: Mapping[str, Mark] | None = None,
    remediations: Sequence[Mapping[str, Any]] = (),
    portal_url: str = "https://portal.azure.com",
    report_url: str | None = None,
    max_items: int = 50,
    all_clear: bool = True,
) -> list[dict[str, Any]]:
    """The full digest of ``result`` (every problem, as ``POST /api/alerts`` posts it to the central
    webhook) as the JSON payloads of one webhook kind, in posting order.

    ``marks``: by :attr:`Finding.key`, the problems to mark ``new`` or ``worse``.
    ``remediations``: what auto-remediation did (``vault_name``, ``certificate_name``, ``before``,
    ``after``, ``outcome``), shown in a "Changed by auto-remediation" section.
    ``all_clear=False`` returns ``[]`` for a clean scan with no remediation instead of an all-clear.
    """
    if kind not in _BUILDERS:
        raise ValueError(f"unknown alert kind {kind!r}: expected teams, slack or generic")
    digest = make_digest(
        result,
        marks=marks or {},
        remediations=remediations,
        portal_url=portal_url,
        report_url=report_url,
        max_items=max_items,
    )
    if digest.clean and not digest.remediations and not all_clear:
        return []
    return render(kind, digest)


def notify(
    settings: Settings,
    result: ScanResult,
    *,
    store: AlertStateStore | None = None,
    remediations: Sequence[Mapping[str, Any]] = (),
    sender: WebhookSender | None = None,
    full: bool = False,
    now: datetime | None = None,
) -> DeliveryResult | None:
    """Post the digest of ``result`` to every webhook (``ALERT_WEBHOOK_URL`` and the routes of
    ``ALERT_ROUTES``); the one entry point of the app.

    Per webhook, only problems that are new, worse or due for a reminder since the last digest posted
    there are listed (``store`` says what was posted; without one everything is new), and nothing is
    posted when nothing is listed and nothing changed, unless ``ALERT_ON_CLEAN``. ``full=True`` (``POST
    /api/alerts``: someone asked) lists every problem and always posts. What was posted is recorded in
    ``store`` once a webhook accepted its whole digest.

    Returns None when there is no usable webhook or nothing was posted anywhere. Otherwise one
    :class:`DeliveryResult` for all webhooks together; its ``error`` names each webhook that failed
    (never its URL) and is what the caller records on the stored scan. Never raises because of a webhook,
    and a failing webhook never keeps the others from theirs.
    """
    if settings.alert_setting_error:
        log.warning("No alert posted: %s", settings.alert_setting_error)
        return None
    targets = webhooks(settings)
    if not targets:
        log.debug("Neither ALERT_WEBHOOK_URL nor ALERT_ROUTES is set: no alert posted")
        return None
    moment = now or utcnow()
    active = sender or WebhookSender()
    results: list[tuple[Webhook, DeliveryResult]] = []
    try:
        for webhook in targets:
            delivery = _notify_one(
                webhook, settings, result, store=store, remediations=remediations, sender=active, full=full, now=moment
            )
            if delivery is not None:
                results.append((webhook, delivery))
    finally:
        if sender is None:
            active.close()
    if not results:
        return None
    errors = [f"{webhook.label}: {delivery.error}" for webhook, delivery in results if delivery.error]
    return DeliveryResult(
        sum(d.messages for _, d in results), sum(d.delivered for _, d in results), "; ".join(errors) or None
    )


def _notify_one(
    webhook: Webhook,
    settings: Settings,
    result: ScanResult,
    *,
    store: AlertStateStore | None,
    remediations: Sequence[Mapping[str, Any]],
    sender: WebhookSender,
    full: bool,
    now: datetime,
) -> DeliveryResult | None:
    central = webhook.route is None
    scope = result.findings if central else [f for f in result.findings if webhook.takes(f)]
    problems = [f for f in scope if f.status.is_problem]
    posted = None
    if store is not None:
        try:
            posted = store.posted_problems(webhook.state_key)
        except StoreError as exc:
            log.warning("Could not read what was last posted to %s; listing everything: %s", webhook.label, exc)
    decided = plan(scope, posted, now=now, remind_days=settings.alert_remind_days, full=full)
    kind = resolve_kind(webhook.kind, webhook.url)
    try:
        digest = make_digest(
            result,
            findings=None if central else scope,
            marks=decided.marks,
            listed=decided.listed,
            ongoing=decided.ongoing,
            remind_days=settings.alert_remind_days,
            fixed=len(decided.resolved),
            max_items=settings.alert_max_items,
            notes=[*result.scan.problems, *_route_notes(settings, problems)] if central else [],
            remediations=remediations if central else (),
            portal_url=settings.portal_url,
            report_url=settings.report_url,
            route=webhook.route,
        )
        news = bool(digest.entries or digest.fixed or digest.remediations)
        if central and result.scan.status == ScanStatus.FAILED:
            news = True
        if not (news or full or settings.alert_on_clean):
            log.info("Scan %s: nothing new for %s, so no alert posted", result.scan.id, webhook.label)
            return None
        messages = render(kind, digest)
    except Exception:  # a bug must not fail the scan; the traceback holds no secret (no URL involved)
        log.exception("Could not build the alert messages of scan %s for %s", result.scan.id, webhook.label)
        return DeliveryResult(0, 0, "could not build the alert messages (see the log)")

    log.info(
        "Scan %s: posting %d message(s) to %s (%s)", result.scan.id, len(messages), webhook.label, _KIND_NAMES[kind]
    )
    try:
        delivery = sender.post(webhook.url, messages)
    except Exception as exc:  # noqa: BLE001 - its text may hold the URL: only the type is shown
        log.error("Alert webhook %s: unexpected %s while posting (details withheld)", webhook.label, type(exc).__name__)
        return DeliveryResult(len(messages), 0, f"unexpected error while posting ({type(exc).__name__})")
    if delivery.ok and store is not None:
        shown = [PostedProblem(f.key, f.status.value, f.severity.value, now) for f in digest.problem_findings]
        try:
            store.record_posted(webhook.state_key, shown, decided.resolved)
        except StoreError as exc:
            log.warning("Could not record what was posted to %s; it may be listed again: %s", webhook.label, exc)
    return delivery


def _route_notes(settings: Settings, problems: Sequence[Finding]) -> list[str]:
    """The central digest's line for each route tag value that ALERT_ROUTES does not define."""
    missing = undefined_routes(problems, [route.name for route in settings.alert_routes])
    notes = []
    for name, found in sorted(missing.items()):
        count = len({(f.vault_name or "", f.certificate_name or "") for f in found})
        noun = "problem is" if count == 1 else "problems are"
        notes.append(
            f"Route {name!r} is not defined: {count} {noun} tagged {settings.alert_route_tag}={name}, but "
            "ALERT_ROUTES has no route of that name, so only this channel got them. Add the route to "
            "ALERT_ROUTES or fix the tag."
        )
    return notes
