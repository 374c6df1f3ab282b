"""``python -m shared remediate`` and the timer's ``AUTO_REMEDIATE``: the two ways a remediation runs.

Both take the same steps, like the scan's :func:`shared.scan.run_scan`: a scan (fresh, or the latest
stored one), the pure plan (:mod:`shared.remediation.plan`), carrying it out against Key Vault with a record
of every change (:mod:`shared.remediation.apply`), and for the command its report
(:mod:`shared.remediation.report`). The timer changes at most ``MAX_AUTO_REMEDIATIONS`` certificates per
run; the rest are listed as not attempted in what the digest receives.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from shared.commandline import (
    EXIT_NON_COMPLIANT,
    EXIT_NOT_ASSESSED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    ProgressLine,
    add_target_arguments,
    usage_error,
)
from shared.models import ScanResult, ScanStatus, Status
from shared.remediation.apply import acting_identity, carry_out, store_recorder
from shared.remediation.plan import (
    DAYS_PER_VALIDITY_MONTH,
    DEFAULT_LIFETIME_PERCENTAGE,
    Identity,
    Plan,
    RemediationTargetError,
    State,
    TriggerError,
    plan_remediation,
    renewal_action,
)
from shared.remediation.report import plan_document, render_plan
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.azure.clients import AzureClients
    from shared.store import FindingsStore

log = logging.getLogger(__name__)


def exit_code(plan: Plan) -> int:
    """As for ``scan``, over the plan's scope: 1 while something stays non-compliant (or, in a dry run, is
    still to change), else 3 when something was not assessed, else 0."""
    if any(item.state.stays_non_compliant for item in plan.items):
        return EXIT_NON_COMPLIANT
    if plan.not_assessed or plan.scan_status == ScanStatus.FAILED:
        return EXIT_NOT_ASSESSED
    return EXIT_OK


# --- the timer --------------------------------------------------------------------------------------------


def apply_auto_remediation(
    settings: Settings, clients: AzureClients, result: ScanResult, store: FindingsStore | None
) -> list[dict[str, Any]]:
    """What the timer does after its scan when ``AUTO_REMEDIATE`` is true: apply the default plan (AutoRenew
    at 80% of the lifetime) to at most ``MAX_AUTO_REMEDIATIONS`` certificates, and record every change.
    Returns what the digest shows (``alerts.notify(remediations=...)``): the changes made or attempted, the
    refusals, and the certificates the limit left for a later run (``not attempted``, with the reason).
    Never raises for a certificate or the store: a problem is logged and appended to
    ``result.scan.problems`` (so the digest shows it)."""
    if result.scan.status == ScanStatus.FAILED:
        return []
    plan = plan_remediation(result, renewal_action())
    if not any(item.state == State.PLANNED for item in plan.items):
        return []
    identity = acting_identity(clients.credential)
    problems: list[str] = []
    recorder = store_recorder(store, plan, identity, problems) if store is not None else None
    limit = settings.max_auto_remediations
    carry_out(
        plan,
        clients,
        apply=True,
        exempt_tags=settings.exempt_tags,
        workers=settings.vault_concurrency,
        on_result=recorder,
        max_changes=limit,
        limit_reason=(
            f"this run reached MAX_AUTO_REMEDIATIONS ({limit} change{'' if limit == 1 else 's'} per timer run); "
            "a later run changes it, or run python -m shared remediate --apply"
        ),
    )
    result.scan.problems.extend(problems)
    counts = Counter(item.state for item in plan.items)
    log.info(
        "Auto-remediation of scan %s as %s: %d applied, %d failed, %d refused, %d skipped, %d not attempted",
        plan.scan_id,
        identity.describe(),
        counts[State.APPLIED],
        counts[State.FAILED],
        counts[State.REFUSED],
        counts[State.SKIPPED],
        counts[State.NOT_ATTEMPTED],
    )
    shown = (State.APPLIED, State.FAILED, State.REFUSED, State.NOT_ATTEMPTED)
    return [item.digest_entry() for item in plan.items if item.state in shown]


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
    add_target_arguments(parser)
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
    from shared.azure.clients import AzureClients  # noqa: PLC0415 - keep `--help` and usage errors instant
    from shared.scan import ScanTarget, ScanTargetError, run_scan  # noqa: PLC0415
    from shared.store import FindingsStore, StoreError  # noqa: PLC0415

    try:
        action = renewal_action(
            days_before_expiry=args.days_before_expiry, lifetime_percentage=args.lifetime_percentage
        )
    except TriggerError as exc:
        return usage_error(err, str(exc), command="remediate")
    if args.from_latest and args.no_store:
        return usage_error(
            err, "--from-latest reads the stored scan, so it cannot be combined with --no-store", command="remediate"
        )

    clients = AzureClients(settings)
    store: FindingsStore | None = None
    identity: Identity | None = None
    problems: list[str] = []
    try:
        if args.from_latest or (args.apply and not args.no_store):
            try:
                store = FindingsStore.from_settings(settings, clients.credential)
            except StoreError as exc:
                return usage_error(
                    err, f"{exc}" + ("" if args.from_latest else " (or pass --no-store)"), command="remediate"
                )

        if args.from_latest:
            if store is None:
                raise AssertionError("--from-latest builds the store above")
            try:
                result = store.latest()
            except StoreError as exc:
                return usage_error(err, f"could not read the latest scan: {exc}", command="remediate")
            if result is None:
                return usage_error(
                    err,
                    "no scan has finished yet; run without --from-latest to plan from a fresh scan",
                    command="remediate",
                )
            mismatch = _latest_target_problem(result, args.subscription, args.vault)
            if mismatch:
                return usage_error(err, mismatch, command="remediate")
        else:
            progress = ProgressLine(err) if args.format == "table" and err.isatty() else None
            target = ScanTarget(subscription_ids=tuple(args.subscription), vault_names=tuple(args.vault))
            try:
                # A dry run writes nothing; --apply stores its scan first, so the records point at it.
                outcome = run_scan(settings, clients, target=target, store=store, on_progress=progress)
            except ScanTargetError as exc:
                return usage_error(err, str(exc), command="remediate")
            finally:
                if progress:
                    progress.clear()
            if outcome.store_error:
                return usage_error(
                    err, f"the scan was not stored, so nothing was changed: {outcome.store_error}", command="remediate"
                )
            result = outcome.result

        if result.scan.status == ScanStatus.FAILED:
            # A plan from a scan that read nothing would say "Nothing to change": name the failure instead.
            failure = "; ".join(result.scan.problems) or _first_reason(result) or "nothing could be read"
            print(
                f"{PROG} remediate: error: scan {result.scan.id} could not run, so nothing was planned or changed: "
                f"{failure}",
                file=err,
            )
            return EXIT_NOT_ASSESSED

        try:
            plan = plan_remediation(
                result,
                action,
                subscription_ids=args.subscription,
                vault_names=args.vault,
                certificate_names=args.certificate,
            )
        except RemediationTargetError as exc:
            return usage_error(err, str(exc), command="remediate")
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
        print(f"{PROG}: error: {problem}", file=err)
    return EXIT_USAGE if problems else exit_code(plan)


def _first_reason(result: ScanResult) -> str:
    """What the scan's not-assessed findings say, when it recorded no problem of its own."""
    reasons = dict.fromkeys(f.reason for f in result.findings if f.status == Status.NOT_ASSESSED)
    return "; ".join(list(reasons)[:3])


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
