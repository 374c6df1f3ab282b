"""Opt-in remediation of KeyVault-006: turn on AutoRenew where Key Vault can renew the certificate.

The plan comes from a scan (a fresh one, or the latest stored one): every KeyVault-006 ``non_compliant``
certificate. Those whose issuer Key Vault can renew (``Self`` or an issuer object such as DigiCert) are
planned; those with issuer ``Unknown`` (or none) are listed as skipped with the reason, so a person sees
why they stay. Disabled, exempt and unreadable certificates are never ``non_compliant`` under this rule, so
they never enter the plan.

Each planned certificate is read again first (the scan may be old): one that renews itself by now, was
disabled or exempted meanwhile, or whose issuer became ``Unknown``, is left alone, and a
``days_before_expiry`` trigger is checked against the policy's validity (at most validity months × 27
days, Key Vault's own bound). A dry run stops there and changes nothing. With ``apply`` one PATCH of the
policy follows, whose body holds only ``lifetime_actions``: a single AutoRenew action with the chosen
trigger. Key Vault allows at most one lifetime action per policy ("At most one action is allowed"), so
AutoRenew replaces an EmailContacts action; PATCH leaves every other member of the policy (issuer,
subject, SANs, key, validity, content type) as it is.

A certificate that cannot be changed (403 without Key Vault Certificates Officer, 409, throttling after
retries) is reported with what the service said and what to do, and the others go on. Every applied or
attempted change is recorded (when, by which identity, before, after, outcome) through
:meth:`FindingsStore.record_remediation`; when the store refuses a record, no further change is made, so
nothing changes without a record.

Entry points: :func:`plan_remediation` (pure), :func:`carry_out` (reads and patches), :func:`run` (the
``python -m shared remediate`` command, with :func:`add_parser`) and :func:`apply_auto_remediation` (the
timer, behind ``AUTO_REMEDIATE``).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import shutil
import textwrap
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from shared import cli
from shared.models import (
    RULE_AUTORENEW,
    Finding,
    LifetimeAction,
    LifetimeActionType,
    ReadError,
    ScanResult,
    ScanStatus,
    Status,
    isoformat,
    utcnow,
)
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.certificates import CertificateClient

    from shared.clients import AzureClients
    from shared.store import FindingsStore

log = logging.getLogger(__name__)

DEFAULT_LIFETIME_PERCENTAGE = 80
"""Key Vault's own default trigger for AutoRenew."""
DAYS_PER_VALIDITY_MONTH = 27
"""Key Vault's bound on ``days_before_expiry``: 1 to validity months × 27."""
KEYVAULT_SCOPE = "https://vault.azure.net/.default"
CERTIFICATES_OFFICER = "Key Vault Certificates Officer"
CERTIFICATES_OFFICER_ROLE_ID = "a4417e6f-fecd-4de8-b567-7b0420556985"
UNKNOWN_ISSUER = "Key Vault cannot renew an Unknown-issuer certificate"
UNCHANGED = "unchanged"


class TriggerError(ValueError):
    """The requested trigger is not one Key Vault accepts. ``str()`` is the one line to show."""


class RemediationTargetError(ValueError):
    """The caller named a certificate, vault or subscription that the scan does not hold."""


class State(StrEnum):
    """Where one certificate of the plan stands."""

    PLANNED = "planned"  # a dry run would change it
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"  # Key Vault cannot renew it, or the trigger does not fit it: it stays non-compliant
    NOT_NEEDED = "not_needed"  # since the scan it renews itself, or was disabled or exempted: left alone
    NOT_ATTEMPTED = "not_attempted"  # stopped: the store refused to record an earlier change

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")

    @property
    def stays_non_compliant(self) -> bool:
        return self in (State.PLANNED, State.FAILED, State.SKIPPED, State.NOT_ATTEMPTED)


# --- the trigger ------------------------------------------------------------------------------------------


def renewal_action(*, days_before_expiry: int | None = None, lifetime_percentage: int | None = None) -> LifetimeAction:
    """The AutoRenew action to set. With no trigger given, Key Vault's default: at 80% of the lifetime."""
    if days_before_expiry is not None and lifetime_percentage is not None:
        raise TriggerError("choose one trigger: --days-before-expiry or --lifetime-percentage, not both")
    if lifetime_percentage is not None and not 1 <= lifetime_percentage <= 99:
        raise TriggerError(f"the lifetime percentage must be a whole number from 1 to 99, got {lifetime_percentage}")
    if days_before_expiry is not None and days_before_expiry < 1:
        raise TriggerError(f"the days before expiry must be a whole number of at least 1, got {days_before_expiry}")
    if days_before_expiry is None and lifetime_percentage is None:
        lifetime_percentage = DEFAULT_LIFETIME_PERCENTAGE
    return LifetimeAction(
        action=LifetimeActionType.AUTO_RENEW.value,
        days_before_expiry=days_before_expiry,
        lifetime_percentage=lifetime_percentage,
    )


def trigger_problem(action: LifetimeAction, validity_months: int | None) -> str | None:
    """Why ``action`` does not fit a policy of ``validity_months``, or None when it does (or cannot be told)."""
    days = action.days_before_expiry
    if days is None or validity_months is None:
        return None
    limit = validity_months * DAYS_PER_VALIDITY_MONTH
    if days <= limit:
        return None
    return (
        f"{days} days before expiry is more than its {validity_months}-month validity allows "
        f"(at most {limit} days: validity months × {DAYS_PER_VALIDITY_MONTH}); choose fewer days or a "
        "lifetime percentage"
    )


def describe_action(action: LifetimeAction) -> str:
    """``AutoRenew at 80% of its lifetime``, ``EmailContacts 3 days before expiry``."""
    return f"{action.action} {action.describe_trigger()}"


def describe_actions(actions: Sequence[LifetimeAction]) -> str:
    return ", ".join(describe_action(a) for a in actions) if actions else "no lifetime action"


def _renews(action: LifetimeAction) -> bool:
    return action.is_auto_renew and (action.days_before_expiry is not None or action.lifetime_percentage is not None)


def _renewable_issuer(issuer: str | None) -> bool:
    return (issuer or "").strip().lower() not in ("", "unknown")


def _issuer_reason(issuer: str | None) -> str:
    if (issuer or "").strip():
        return (
            f"{UNKNOWN_ISSUER}; reissue it from an integrated CA or as self-signed, or renew it elsewhere "
            "and tag it exempt"
        )
    return "the policy names no issuer, so Key Vault cannot renew it"


# --- the plan ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Remediation:
    """One certificate of the plan: what it has, what it gets, and what happened."""

    subscription_id: str | None
    vault_name: str
    vault_uri: str
    certificate_name: str
    issuer: str | None
    before: str
    after: str
    state: State
    detail: str = ""
    error_code: str | None = None
    when: datetime | None = None

    @property
    def outcome(self) -> str:
        """``applied``, ``planned``, ``failed: HTTP 403 Forbidden (ForbiddenByRbac): ...``, ``skipped: ...``."""
        return f"{self.state.label}: {self.detail}" if self.detail else self.state.label

    def to_dict(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "vault_name": self.vault_name,
            "vault_uri": self.vault_uri,
            "certificate_name": self.certificate_name,
            "issuer": self.issuer,
            "before": self.before,
            "after": self.after,
            "status": self.state.value,
            "outcome": self.outcome,
            "error_code": self.error_code,
            "when": isoformat(self.when),
        }

    def digest_entry(self) -> dict[str, Any]:
        """What ``alerts.notify(remediations=...)`` takes."""
        return {
            "vault_name": self.vault_name,
            "certificate_name": self.certificate_name,
            "before": self.before,
            "after": self.after,
            "outcome": self.outcome,
            "subscription_id": self.subscription_id,
        }


@dataclass(slots=True)
class Plan:
    scan_id: str
    action: LifetimeAction
    items: list[Remediation]
    not_assessed: list[Finding] = field(default_factory=list)
    scan_status: ScanStatus = ScanStatus.COMPLETED


def plan_remediation(
    result: ScanResult,
    action: LifetimeAction,
    *,
    subscription_ids: Iterable[str] = (),
    vault_names: Iterable[str] = (),
    certificate_names: Iterable[str] = (),
) -> Plan:
    """The plan for ``result``'s KeyVault-006 findings in scope (no I/O).

    Raises :class:`RemediationTargetError` when a certificate name matches no certificate in scope.
    """
    subscriptions = {s.lower() for s in subscription_ids}
    vaults = {v.lower() for v in vault_names}
    certificates = {c.lower() for c in certificate_names}

    def in_place(f: Finding) -> bool:
        if subscriptions and (f.subscription_id or "").lower() not in subscriptions:
            return False
        return not vaults or (f.vault_name or "").lower() in vaults

    placed = [f for f in result.findings if f.rule_id == RULE_AUTORENEW and in_place(f)]
    if certificates:
        missing = certificates - {(f.certificate_name or "").lower() for f in placed if f.certificate_name}
        if missing:
            raise RemediationTargetError(
                f"No certificate named {', '.join(sorted(missing))} in the selected vaults of scan {result.scan.id}."
            )
        placed = [f for f in placed if (f.certificate_name or "").lower() in certificates]

    after = describe_action(action)
    items: list[Remediation] = []
    for f in sorted(placed, key=lambda f: ((f.vault_name or "").lower(), (f.certificate_name or "").lower())):
        if f.status != Status.NON_COMPLIANT or not (f.certificate_name and f.vault_name and f.vault_uri):
            continue
        renewable = _renewable_issuer(f.issuer)
        items.append(
            Remediation(
                subscription_id=f.subscription_id,
                vault_name=f.vault_name,
                vault_uri=f.vault_uri,
                certificate_name=f.certificate_name,
                issuer=f.issuer,
                before=_finding_before(f),
                after=after if renewable else UNCHANGED,
                state=State.PLANNED if renewable else State.SKIPPED,
                detail="" if renewable else _issuer_reason(f.issuer),
            )
        )
    return Plan(
        scan_id=result.scan.id,
        action=action,
        items=items,
        not_assessed=[f for f in placed if f.status == Status.NOT_ASSESSED],
        scan_status=result.scan.status,
    )


def _finding_before(finding: Finding) -> str:
    """What the scan saw (the finding keeps the renewing action, else the first); the live policy refines it."""
    if not finding.lifetime_action:
        return "no lifetime action"
    return describe_action(
        LifetimeAction(finding.lifetime_action, finding.days_before_expiry, finding.lifetime_percentage)
    )


def exit_code(plan: Plan) -> int:
    """As for ``scan``, over the plan's scope: 1 while something stays non-compliant (or, in a dry run, is
    still to change), else 3 when something was not assessed, else 0."""
    if any(item.state.stays_non_compliant for item in plan.items):
        return cli.EXIT_NON_COMPLIANT
    if plan.not_assessed or plan.scan_status == ScanStatus.FAILED:
        return cli.EXIT_NOT_ASSESSED
    return cli.EXIT_OK


# --- reading and changing policies ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveCertificate:
    """What remediation needs from a certificate as Key Vault holds it now."""

    enabled: bool | None
    tags: Mapping[str, str]
    issuer: str | None
    actions: tuple[LifetimeAction, ...]
    validity_months: int | None


Recorder = Callable[[Remediation], bool]
"""Called after each certificate that was checked against Key Vault; returns False to stop further changes."""


def carry_out(
    plan: Plan,
    clients: AzureClients,
    *,
    apply: bool,
    exempt_tags: Sequence[tuple[str, str]] = (),
    workers: int = 8,
    on_result: Recorder | None = None,
) -> None:
    """Check each planned certificate against Key Vault as it is now and, with ``apply``, change it.
    ``exempt_tags`` (``EXEMPT_TAGS``) are checked again, as are the enabled flag, the issuer and the lifetime
    actions: what the scan saw may be old. Vaults are worked on concurrently (``workers`` at a time), the
    certificates of one vault one after another. ``plan.items`` are updated in place."""
    by_vault: dict[str, list[Remediation]] = defaultdict(list)
    for item in plan.items:
        if item.state == State.PLANNED:
            by_vault[item.vault_uri].append(item)
    if not by_vault:
        return
    stop = threading.Event()
    lock = threading.Lock()

    def report(item: Remediation) -> None:
        if on_result is None:
            return
        with lock:
            if not on_result(item):
                stop.set()

    def one_vault(vault_uri: str, items: list[Remediation]) -> None:
        try:
            client = clients.certificates(vault_uri)
        except Exception as exc:  # noqa: BLE001 - e.g. a malformed vault URI: each certificate reports it
            error = _read_error(exc)
            for item in items:
                _fail(item, error, "could not reach the vault: ")
                report(item)
            return
        with client:
            for item in items:
                if stop.is_set():
                    item.state = State.NOT_ATTEMPTED
                    item.detail = (
                        "the findings store refused to record an earlier change, so no further change was made"
                    )
                    continue
                _remediate_one(client, item, plan.action, exempt_tags, apply=apply)
                report(item)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(by_vault))), thread_name_prefix="remediate") as pool:
        futures = [pool.submit(one_vault, uri, items) for uri, items in by_vault.items()]
        for future in futures:
            future.result()


def _remediate_one(
    client: CertificateClient,
    item: Remediation,
    action: LifetimeAction,
    exempt_tags: Sequence[tuple[str, str]],
    *,
    apply: bool,
) -> None:
    live = read_certificate(client, item.certificate_name)
    if isinstance(live, ReadError):
        _fail(item, live, "could not read it: ")
        return
    item.issuer = live.issuer
    item.before = describe_actions(live.actions)
    # The rule's own order (SPEC §2): disabled, exempt, issuer, AutoRenew.
    left_alone = _left_alone(live, exempt_tags)
    if left_alone:
        item.state, item.after, item.detail = State.NOT_NEEDED, UNCHANGED, left_alone
        return
    if not _renewable_issuer(live.issuer):
        item.state, item.after = State.SKIPPED, UNCHANGED
        item.detail = _issuer_reason(live.issuer) + " (its policy changed since the scan)"
        return
    problem = trigger_problem(action, live.validity_months)
    if problem is not None:
        item.state, item.after, item.detail = State.SKIPPED, UNCHANGED, problem
        return
    if not apply:
        return  # stays PLANNED: the dry run ends here
    try:
        update_policy(client, item.certificate_name, action)
    except Exception as exc:  # noqa: BLE001 - reported on the certificate; the others go on
        _fail(item, _read_error(exc))
        return
    item.state, item.detail, item.when = State.APPLIED, "", utcnow()
    log.info("Set %s on %s/%s (was %s)", item.after, item.vault_name, item.certificate_name, item.before)


def _left_alone(live: LiveCertificate, exempt_tags: Sequence[tuple[str, str]]) -> str:
    """Why a certificate that was non-compliant in the scan needs no change now ("" when it still does)."""
    from shared.rules import matching_exempt_tag  # noqa: PLC0415 - pure, but only needed here

    if live.enabled is False:
        return "it is disabled now"
    exemption = matching_exempt_tag(live.tags, exempt_tags)
    if exemption is not None:
        return f"it is exempt now by its tag {exemption[0]}={exemption[1]}"
    if _renewable_issuer(live.issuer):
        renewing = next((a for a in live.actions if _renews(a)), None)
        if renewing is not None:
            return f"it renews itself by now ({describe_action(renewing)})"
    return ""


def _fail(item: Remediation, error: ReadError, prefix: str = "") -> None:
    item.state = State.FAILED
    item.error_code = error.code
    hint = change_hint(error)
    item.detail = f"{prefix}{error.describe()}" + (f". {hint}" if hint else "")
    log.warning("Could not change %s/%s: %s", item.vault_name, item.certificate_name, item.detail)


def read_certificate(client: CertificateClient, name: str) -> LiveCertificate | ReadError:
    """The certificate's current version with its policy, tags and enabled flag: one GET (the one
    ``get_certificate`` sends), as JSON through the client's own pipeline (auth, retries). Read
    tolerantly: an action type the SDK does not know is still an action, which AutoRenew then replaces."""
    from azure.core.rest import HttpRequest  # noqa: PLC0415 - the SDK only loads where Key Vault is reached

    from shared.keyvault import parse_policy  # noqa: PLC0415 - the same tolerant reading as the scan

    try:
        response = client.send_request(HttpRequest("GET", f"/certificates/{quote(name, safe='')}/"))
        response.raise_for_status()
        data = json.loads(response.text())
    except Exception as exc:  # noqa: BLE001 - any failure is reported on the certificate
        return _read_error(exc)
    policy = data.get("policy") if isinstance(data, Mapping) else None
    if not isinstance(policy, Mapping):
        return ReadError("MalformedResponse", "the certificate came without its policy", 200)
    attributes = data.get("attributes")
    enabled = attributes.get("enabled") if isinstance(attributes, Mapping) else None
    tags = data.get("tags")
    fields = parse_policy(policy)
    return LiveCertificate(
        enabled=enabled if isinstance(enabled, bool) else None,
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, Mapping) else {},
        issuer=fields.issuer,
        actions=fields.lifetime_actions,
        validity_months=fields.validity_months,
    )


def update_policy(client: CertificateClient, name: str, action: LifetimeAction) -> None:
    """PATCH the policy with ``lifetime_actions`` = [``action``] and nothing else: PATCH keeps every other
    member of the policy as it is (the SDK leaves unset members out of the body)."""
    from azure.keyvault.certificates import (  # noqa: PLC0415
        CertificatePolicy,
        CertificatePolicyAction,
    )
    from azure.keyvault.certificates import LifetimeAction as SdkLifetimeAction  # noqa: PLC0415

    renew = SdkLifetimeAction(
        action=CertificatePolicyAction.auto_renew,
        days_before_expiry=action.days_before_expiry,
        lifetime_percentage=action.lifetime_percentage,
    )
    client.update_certificate_policy(name, CertificatePolicy(lifetime_actions=[renew]))


def _read_error(exc: BaseException) -> ReadError:
    from shared.keyvault import read_error  # noqa: PLC0415 - imports the SDK

    return read_error(exc)


def change_hint(error: ReadError) -> str:
    """What a person can do about a failed read or change of a policy."""
    code = error.code.lower()
    status = error.status_code
    if "firewall" in code or "ipnotallowed" in code:
        return "The vault's firewall refused the call; allow the caller's network or trusted Azure services"
    if status == 403 or "forbidden" in code:
        return (
            f"Changing a policy needs the {CERTIFICATES_OFFICER} role on the vault (RBAC) or the certificate "
            "get and update permissions (access policy)"
        )
    if status == 401 or "authentication" in code or "nocredential" in code:
        return "No token for Key Vault: sign in (az login) or check the managed identity"
    if status == 409:
        return "Key Vault reported a conflict (another change to this certificate may be in progress); run again later"
    if status == 429:
        return "Key Vault kept throttling after retries; run again later"
    if status == 404:
        return "The certificate was deleted or moved since the scan"
    if status == 400:
        return "Key Vault refused the new policy"
    if status is not None and status >= 500:
        return "The service kept failing; run again later"
    return ""


# --- who acted --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Identity:
    """The identity that makes the changes, from its Key Vault token's claims (for the record only)."""

    object_id: str | None = None
    app_id: str | None = None
    upn: str | None = None

    def describe(self) -> str:
        if self.upn:
            return f"{self.upn} (object id {self.object_id})" if self.object_id else self.upn
        if self.object_id:
            return f"object id {self.object_id}" + (f" (app id {self.app_id})" if self.app_id else "")
        return f"app id {self.app_id}" if self.app_id else "unknown"


def acting_identity(credential: TokenCredential) -> Identity:
    """Read ``oid``/``appid``/``upn`` from a Key Vault token. The signature is not checked: the claims only
    name the actor in the record; Key Vault itself judges the token. The token is never logged."""
    try:
        token = credential.get_token(KEYVAULT_SCOPE).token
    except Exception as exc:  # noqa: BLE001 - the changes will fail on their own with a clear error
        log.warning("Could not get a Key Vault token to name the acting identity: %s", type(exc).__name__)
        return Identity()
    claims = _jwt_claims(token)

    def claim(*names: str) -> str | None:
        for name in names:
            value = claims.get(name)
            if isinstance(value, str) and value:
                return value
        return None

    return Identity(
        object_id=claim("oid"),
        app_id=claim("appid", "azp"),
        upn=claim("upn", "preferred_username", "unique_name"),
    )


def _jwt_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


# --- records ----------------------------------------------------------------------------------------------


def remediation_record(item: Remediation, plan: Plan, identity: Identity) -> dict[str, Any]:
    """The record kept in the store for one certificate that was checked and changed (or not)."""
    return {
        **item.to_dict(),
        "when": isoformat(item.when or utcnow()),
        "identity": identity.describe(),
        "identity_object_id": identity.object_id,
        "identity_app_id": identity.app_id,
        "identity_upn": identity.upn,
        "scan_id": plan.scan_id,
        "trigger": describe_action(plan.action),
    }


def store_recorder(store: FindingsStore, plan: Plan, identity: Identity, problems: list[str]) -> Recorder:
    """Record each checked certificate; the first refused record stops further changes (its problem is
    appended to ``problems``)."""
    from shared.store import StoreError  # noqa: PLC0415

    def record(item: Remediation) -> bool:
        try:
            store.record_remediation(remediation_record(item, plan, identity))
        except StoreError as exc:
            problem = (
                f"Could not record the change of {item.vault_name}/{item.certificate_name} "
                f"({item.outcome}): {exc}; no further change was made."
            )
            problems.append(problem)
            log.error("%s", problem)
            return False
        return True

    return record


# --- the timer --------------------------------------------------------------------------------------------


def apply_auto_remediation(
    settings: Settings, clients: AzureClients, result: ScanResult, store: FindingsStore | None
) -> list[dict[str, Any]]:
    """What the timer does after its scan when ``AUTO_REMEDIATE`` is true: apply the default plan (AutoRenew
    at 80% of the lifetime) and record every change. Returns the changes made or attempted, as
    ``alerts.notify(remediations=...)`` takes them. Never raises for a certificate or the store: a problem
    is logged and appended to ``result.scan.problems`` (so the digest shows it)."""
    if result.scan.status == ScanStatus.FAILED:
        return []
    plan = plan_remediation(result, renewal_action())
    if not any(item.state == State.PLANNED for item in plan.items):
        return []
    identity = acting_identity(clients.credential)
    problems: list[str] = []
    recorder = store_recorder(store, plan, identity, problems) if store is not None else None
    carry_out(
        plan,
        clients,
        apply=True,
        exempt_tags=settings.exempt_tags,
        workers=settings.vault_concurrency,
        on_result=recorder,
    )
    result.scan.problems.extend(problems)
    counts = Counter(item.state for item in plan.items)
    log.info(
        "Auto-remediation of scan %s as %s: %d applied, %d failed, %d skipped",
        plan.scan_id,
        identity.describe(),
        counts[State.APPLIED],
        counts[State.FAILED],
        counts[State.SKIPPED],
    )
    changed = (State.APPLIED, State.FAILED, State.NOT_ATTEMPTED)
    return [item.digest_entry() for item in plan.items if item.state in changed]


# --- the command line -------------------------------------------------------------------------------------


def _days(value: str) -> int:
    number = _whole(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {value!r}")
    return number


def _percentage(value: str) -> int:
    number = _whole(value)
    if not 1 <= number <= 99:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 99, got {value!r}")
    return number


def _whole(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None


def add_parser(commands: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """The ``remediate`` subcommand, with ``cli``'s conventions (one-line usage errors, exit 2)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "remediate",
        help="turn on AutoRenew where Key Vault can renew (dry run unless --apply)",
        description=(
            "Plan, and with --apply make, the change KeyVault-006 asks for: set the certificate policy's "
            "lifetime action to AutoRenew. Only certificates Key Vault can renew (issuer Self or an issuer "
            "object) are changed; Unknown-issuer ones are listed as skipped."
        ),
    )
    cli._add_target_arguments(parser)
    parser.add_argument(
        "--certificate", action="append", default=[], metavar="NAME", help="only this certificate (repeatable)"
    )
    trigger = parser.add_mutually_exclusive_group()
    trigger.add_argument(
        "--days-before-expiry",
        type=_days,
        metavar="N",
        help=f"renew N days before expiry (1 to validity months × {DAYS_PER_VALIDITY_MONTH})",
    )
    trigger.add_argument(
        "--lifetime-percentage",
        type=_percentage,
        metavar="P",
        help=f"renew at P%% of the lifetime, 1-99 (default {DEFAULT_LIFETIME_PERCENTAGE}, Key Vault's own)",
    )
    parser.add_argument("--apply", action="store_true", help="make the changes (default: dry run, change nothing)")
    parser.add_argument(
        "--from-latest", action="store_true", help="plan from the latest stored scan instead of a fresh scan"
    )
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    parser.add_argument(
        "--no-store", action="store_true", help="with --apply: store neither the scan nor the change records"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    return parser


def run(args: argparse.Namespace, settings: Settings, out: IO[str], err: IO[str]) -> int:
    """``python -m shared remediate``: scan (or read the latest scan), plan, and with ``--apply`` change."""
    from shared.clients import AzureClients  # noqa: PLC0415 - keep `--help` and usage errors instant
    from shared.scan import ScanTarget, ScanTargetError, run_scan  # noqa: PLC0415
    from shared.store import FindingsStore, StoreError  # noqa: PLC0415

    try:
        action = renewal_action(
            days_before_expiry=args.days_before_expiry, lifetime_percentage=args.lifetime_percentage
        )
    except TriggerError as exc:
        return _error(err, str(exc))
    if args.from_latest and args.no_store:
        return _error(err, "--from-latest reads the stored scan, so it cannot be combined with --no-store")

    clients = AzureClients(settings)
    store: FindingsStore | None = None
    identity: Identity | None = None
    problems: list[str] = []
    try:
        if args.from_latest or (args.apply and not args.no_store):
            try:
                store = FindingsStore.from_settings(settings, clients.credential)
            except StoreError as exc:
                return _error(err, f"{exc}" + ("" if args.from_latest else " (or pass --no-store)"))

        if args.from_latest:
            if store is None:
                raise AssertionError("--from-latest builds the store above")
            try:
                result = store.latest()
            except StoreError as exc:
                return _error(err, f"could not read the latest scan: {exc}")
            if result is None:
                return _error(err, "no scan has finished yet; run without --from-latest to plan from a fresh scan")
            mismatch = _latest_target_problem(result, args.subscription, args.vault)
            if mismatch:
                return _error(err, mismatch)
        else:
            progress = cli._ProgressLine(err) if args.format == "table" and err.isatty() else None
            target = ScanTarget(subscription_ids=tuple(args.subscription), vault_names=tuple(args.vault))
            try:
                # A dry run writes nothing; --apply stores its scan first, so the records point at it.
                outcome = run_scan(settings, clients, target=target, store=store, on_progress=progress)
            except ScanTargetError as exc:
                return _error(err, str(exc))
            finally:
                if progress:
                    progress.clear()
            if outcome.store_error:
                return _error(err, f"the scan was not stored, so nothing was changed: {outcome.store_error}")
            result = outcome.result

        try:
            plan = plan_remediation(
                result,
                action,
                subscription_ids=args.subscription,
                vault_names=args.vault,
                certificate_names=args.certificate,
            )
        except RemediationTargetError as exc:
            return _error(err, str(exc))
        identity = acting_identity(clients.credential) if args.apply else None
        recorder = store_recorder(store, plan, identity, problems) if identity and store else None
        carry_out(
            plan,
            clients,
            apply=args.apply,
            exempt_tags=settings.exempt_tags,
            workers=settings.vault_concurrency,
            on_result=recorder,
        )
    finally:
        clients.close()
        if store is not None:
            store.close()

    recorded = args.apply and not args.no_store
    if args.format == "json":
        json.dump(plan_document(plan, applied=args.apply, identity=identity, problems=problems), out, indent=2)
        out.write("\n")
    else:
        out.write(render_plan(plan, applied=args.apply, identity=identity, recorded=recorded and not problems))
    out.flush()
    for problem in problems:
        print(f"{cli.PROG}: error: {problem}", file=err)
    return cli.EXIT_USAGE if problems else exit_code(plan)


def _error(err: IO[str], message: str) -> int:
    print(f"{cli.PROG}: error: {message}", file=err)
    return cli.EXIT_USAGE


def _latest_target_problem(result: ScanResult, subscription_ids: Sequence[str], vault_names: Sequence[str]) -> str:
    """The fresh scan checks the names it is given; a stored one is checked here, the same way."""
    known_subscriptions = {s.lower() for s in result.scan.subscriptions} | {
        (f.subscription_id or "").lower() for f in result.findings
    }
    missing = sorted({s for s in subscription_ids if s.lower() not in known_subscriptions})
    if missing:
        return f"Subscription {', '.join(missing)} is not in the latest scan ({result.scan.id})."
    known_vaults = {(f.vault_name or "").lower() for f in result.findings if f.vault_name}
    missing = sorted({v for v in vault_names if v.lower() not in known_vaults})
    if missing:
        return f"No vault named {', '.join(missing)} in the latest scan ({result.scan.id})."
    return ""


# --- output -----------------------------------------------------------------------------------------------


def plan_document(
    plan: Plan, *, applied: bool, identity: Identity | None = None, problems: Sequence[str] = ()
) -> dict[str, Any]:
    """The JSON of ``remediate --format json``."""
    counts = Counter(item.state.value for item in plan.items)
    return {
        "scan_id": plan.scan_id,
        "applied": applied,
        "trigger": {
            "action": plan.action.action,
            "days_before_expiry": plan.action.days_before_expiry,
            "lifetime_percentage": plan.action.lifetime_percentage,
            "description": describe_action(plan.action),
        },
        "identity": identity.describe() if identity else None,
        "counts": {state.value: counts[state.value] for state in State},
        "plan": [item.to_dict() for item in plan.items],
        "not_assessed": [
            {
                "subscription_id": f.subscription_id,
                "vault_name": f.vault_name,
                "certificate_name": f.certificate_name,
                "reason": f.reason,
            }
            for f in plan.not_assessed
        ],
        "problems": list(problems),
    }


def render_plan(
    plan: Plan, *, applied: bool, identity: Identity | None = None, recorded: bool = False, width: int | None = None
) -> str:
    """The terminal report: one row per certificate (vault / certificate, current → new, outcome), the
    reason of a skip or failure wrapped under its row."""
    width = width or min(140, max(72, shutil.get_terminal_size((100, 24)).columns))
    mode = "applied" if applied else "dry run"
    lines = [f"AutoRenew Guard remediation ({mode}) from scan {plan.scan_id}"]
    lines.append(f"New lifetime action: {describe_action(plan.action)} (replaces the current lifetime actions)")
    if identity is not None:
        lines.append(f"Acting as: {identity.describe()}")
    lines.append("")

    if plan.items:
        places = [f"{i.vault_name} / {i.certificate_name}" for i in plan.items]
        changes = [f"{i.before} → {i.after}" for i in plan.items]
        place_width = max(len("Vault / certificate"), *(len(p) for p in places))
        change_width = max(len("Current → new"), *(len(c) for c in changes))
        lines.append(f"{'Vault / certificate':<{place_width}}  {'Current → new':<{change_width}}  Outcome")
        for item, place, change in zip(plan.items, places, changes, strict=True):
            lines.append(f"{place:<{place_width}}  {change:<{change_width}}  {item.state.label}")
            if item.detail:
                lines.extend(textwrap.wrap(item.detail, width=width, initial_indent="    ", subsequent_indent="    "))
        lines.append("")
    else:
        lines.append("Nothing to change: every certificate in scope that Key Vault can renew renews itself.")
        lines.append("")

    if plan.not_assessed:
        lines.append(f"Not assessed ({len(plan.not_assessed)}): the scan could not read these, so they are not planned")
        for f in plan.not_assessed:
            place = f"{f.vault_name} / {f.certificate_name}" if f.certificate_name else f"{f.vault_name} (whole vault)"
            lines.extend(
                textwrap.wrap(f"{place}: {f.reason}", width=width, initial_indent="  ", subsequent_indent="    ")
            )
        lines.append("")

    counts = Counter(item.state for item in plan.items)
    summary = ", ".join(f"{counts[state]} {state.label}" for state in State if counts[state])
    if summary:
        lines.append(f"Summary: {summary}.")
    if not applied:
        if counts[State.PLANNED]:
            lines.append("Dry run: nothing was changed. Review the plan, then run again with --apply.")
        else:
            lines.append("Dry run: nothing was changed.")
    elif counts[State.APPLIED] or counts[State.FAILED]:
        lines.append("Recorded in the findings store." if recorded else "Not recorded in the findings store.")
    return "\n".join(lines).rstrip() + "\n"
