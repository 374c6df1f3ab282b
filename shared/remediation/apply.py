"""Carrying out a remediation plan: the Key Vault reads and PATCHes, and the record of every change.

Each planned certificate is read again first (``GET /certificates/{name}/``: its policy, tags, enabled
flag and the current version's ``cer``), and :func:`shared.remediation.plan.judge_live` decides whether it may
still be changed. A dry run stops there. With ``apply`` one PATCH of the policy follows, whose body holds
only ``lifetime_actions``: a single AutoRenew action with the chosen trigger. Key Vault allows at most
one lifetime action per policy ("At most one action is allowed"), so AutoRenew replaces an EmailContacts
action; PATCH leaves every other member of the policy (issuer, subject, SANs, key, validity, content
type) as it is.

A certificate that cannot be changed (403 without Key Vault Certificates Officer, 409, throttling after
retries) is reported with what the service said and what to do, and the others go on. Every certificate
checked is recorded (when, by which identity, before, after, outcome) through
:meth:`FindingsStore.record_remediation`; when the store refuses a record, no further change is made, so
nothing changes without a record. ``max_changes`` caps the PATCHes of one run (``MAX_AUTO_REMEDIATIONS``
for the timer); what the cap stops is ``not attempted``, with the reason.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from shared.models import LifetimeAction, ReadError, isoformat, utcnow
from shared.remediation.plan import (
    CERTIFICATES_OFFICER,
    Identity,
    LiveCertificate,
    Plan,
    Remediation,
    State,
    describe_action,
    describe_actions,
    judge_live,
)
from shared.rules import unexplained_actions

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.certificates import CertificateClient

    from shared.azure.clients import AzureClients
    from shared.store import FindingsStore

log = logging.getLogger(__name__)

KEYVAULT_SCOPE = "https://vault.azure.net/.default"

Recorder = Callable[[Remediation], bool]
"""Called after each certificate that was checked against Key Vault; returns False to stop further changes."""


class _Budget:
    """How many more PATCHes this run may send (``None``: no limit); shared by the vaults' threads."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.limit is not None and self.used >= self.limit:
                return False
            self.used += 1
            return True


def carry_out(
    plan: Plan,
    clients: AzureClients,
    *,
    apply: bool,
    exempt_tags: Sequence[tuple[str, str]] = (),
    workers: int = 8,
    on_result: Recorder | None = None,
    max_changes: int | None = None,
    limit_reason: str = "",
) -> None:
    """Check each planned certificate against Key Vault as it is now and, with ``apply``, change it.
    ``exempt_tags`` (``EXEMPT_TAGS``) are checked again, as are the enabled flag, the issuer and the lifetime
    actions: what the scan saw may be old. Vaults are worked on concurrently (``workers`` at a time), the
    certificates of one vault one after another. At most ``max_changes`` PATCHes are sent; the planned
    certificates past that are ``not attempted`` with ``limit_reason``. ``plan.items`` are updated in place."""
    by_vault: dict[str, list[Remediation]] = defaultdict(list)
    for item in plan.items:
        if item.state == State.PLANNED:
            by_vault[item.vault_uri].append(item)
    if not by_vault:
        return
    stop = threading.Event()
    lock = threading.Lock()
    budget = _Budget(max_changes)

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
                _remediate_one(client, item, plan.action, exempt_tags, apply=apply, budget=budget)
                if item.state == State.NOT_ATTEMPTED:
                    item.detail = limit_reason or "this run reached its limit of changes"
                    continue  # nothing happened to it: nothing to record
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
    budget: _Budget,
) -> None:
    live = read_certificate(client, item.certificate_name)
    if isinstance(live, ReadError):
        _fail(item, live, "could not read it: ")
        return
    item.issuer = live.issuer
    item.before = describe_actions(live.actions)
    verdict = judge_live(live, action, exempt_tags)
    if verdict is not None:
        item.state, item.detail = verdict
        item.after = "unchanged"
        return
    if not apply:
        return  # stays PLANNED: the dry run ends here
    if not budget.take():
        item.state = State.NOT_ATTEMPTED
        return
    try:
        update_policy(client, item.certificate_name, action)
    except Exception as exc:  # noqa: BLE001 - reported on the certificate; the others go on
        _fail(item, _read_error(exc))
        return
    item.state, item.detail, item.when = State.APPLIED, "", utcnow()
    log.info("Set %s on %s/%s (was %s)", item.after, item.vault_name, item.certificate_name, item.before)


def _fail(item: Remediation, error: ReadError, prefix: str = "") -> None:
    item.state = State.FAILED
    item.error_code = error.code
    hint = change_hint(error)
    item.detail = f"{prefix}{error.describe()}" + (f". {hint}" if hint else "")
    log.warning("Could not change %s/%s: %s", item.vault_name, item.certificate_name, item.detail)


def read_certificate(client: CertificateClient, name: str) -> LiveCertificate | ReadError:
    """The certificate's current version with its policy, tags, enabled flag and X.509 certificate: one
    GET (the one ``get_certificate`` sends), as JSON through the client's own pipeline (auth, retries).
    Read tolerantly: an action type the SDK does not know is kept as the text it is, for the guards."""
    from shared.azure.keyvault import parse_policy, read_bundle  # noqa: PLC0415 - the scan's own reading
    from shared.x509 import ca_that_issued  # noqa: PLC0415 - signature, not names: the scan's own verdict

    try:
        data = read_bundle(client, name)
    except Exception as exc:  # noqa: BLE001 - any failure is reported on the certificate
        return _read_error(exc)
    policy = data.get("policy")
    if not isinstance(policy, Mapping):
        return ReadError("MalformedResponse", "the certificate came without its policy", 200)
    attributes = data.get("attributes")
    enabled = attributes.get("enabled") if isinstance(attributes, Mapping) else None
    tags = data.get("tags")
    fields = parse_policy(policy)
    ca_issuer: str | None = None
    certificate_problem: str | None = None
    try:
        ca_issuer = ca_that_issued(data.get("cer"))
    except ValueError as exc:
        certificate_problem = str(exc)
    return LiveCertificate(
        enabled=enabled if isinstance(enabled, bool) else None,
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, Mapping) else {},
        issuer=fields.issuer,
        actions=fields.lifetime_actions,
        validity_months=fields.validity_months,
        unexplained=tuple(filter(None, [unexplained_actions(fields.lifetime_actions)])),
        ca_issuer=ca_issuer,
        certificate_problem=certificate_problem,
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
    from shared.azure.keyvault import read_error  # noqa: PLC0415 - imports the SDK

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
