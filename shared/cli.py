"""``python -m shared``: the same scan the timer runs, from a terminal with your own ``az login`` identity.

Contract (SPEC §4): ``--format json`` prints the scan document on stdout and nothing else; logs and
progress go to stderr. Exit codes: 0 all assessed and nothing non-compliant, 1 something non-compliant,
2 usage or configuration error (including a store that cannot be written), 3 nothing non-compliant but
something not assessed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import IO, Any

import orjson

from shared.commandline import (
    EXIT_NON_COMPLIANT,
    EXIT_NOT_ASSESSED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    Parser,
    ProgressLine,
    UsageError,
    add_target_arguments,
)
from shared.models import ScanResult, ScanStatus, Status
from shared.remediation import command as remediate
from shared.settings import Settings, SettingsError
from shared.text import SINGLE_LINE_LOGS

__all__ = ["EXIT_NON_COMPLIANT", "EXIT_NOT_ASSESSED", "EXIT_OK", "EXIT_USAGE", "PROG", "build_parser", "main"]

log = logging.getLogger("shared")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="AutoRenew Guard: KeyVault-006 certificate auto-renewal scanner.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    scan = commands.add_parser("scan", help="scan Key Vault certificates and report (stores the scan by default)")
    add_target_arguments(scan)
    scan.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    scan.add_argument("--no-store", action="store_true", help="do not store the scan in Table Storage")
    scan.add_argument("--notify", action="store_true", help="post the digest to the alert webhooks, as the timer does")
    scan.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    scan.set_defaults(command_parser=scan)
    fix = remediate.add_parser(commands)
    fix.set_defaults(command_parser=fix)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Arguments a subcommand does not know are reported by that subcommand's parser (argparse leaves them
    to the top-level one, whose hint would not name the subcommand)."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        owner: argparse.ArgumentParser = getattr(args, "command_parser", parser)
        owner.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def exit_code(result: ScanResult) -> int:
    statuses = {f.status for f in result.findings}
    if Status.NON_COMPLIANT in statuses:
        return EXIT_NON_COMPLIANT
    if Status.NOT_ASSESSED in statuses or result.scan.status in (ScanStatus.FAILED, ScanStatus.PARTIAL):
        return EXIT_NOT_ASSESSED
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = _parse(build_parser(), argv)
        settings = Settings.from_env()
    except UsageError as exc:
        print(exc.line(), file=err)
        return EXIT_USAGE
    except SettingsError as exc:
        print(f"{PROG}: error: {exc}", file=err)
        return EXIT_USAGE
    _configure_logging(err, verbose=getattr(args, "verbose", False))
    if args.command == "scan":
        return _scan(args, settings, out, err)
    if args.command == "remediate":
        return remediate.run(args, settings, out, err)
    raise AssertionError(f"unhandled command {args.command}")  # argparse only lets known commands through


def _configure_logging(stream: IO[str], *, verbose: bool) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SINGLE_LINE_LOGS)  # every record, whichever logger (ours or a library's) made it
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # The report already shows every vault that failed; repeat it in the log only when asked.
    root.setLevel(logging.INFO if verbose else logging.ERROR)
    if not verbose:
        # The SDK's own warnings (a fifteen-line chained-credential report among them) are for -v: the scan
        # names each failure itself, with what to do about it.
        for name in ("azure", "azure.identity", "msal"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def write_json(document: Any, out: IO[str]) -> None:
    """The document, as ``json.dumps(indent=2, ensure_ascii=False)`` would print it, in one write.

    ``json.dump`` hands the stream hundreds of thousands of small chunks, and with unbuffered stdout
    (``PYTHONUNBUFFERED=1``, as containers and CI set it) each is a system call: 2.5 s of CPU for 20,000
    findings. orjson builds the same bytes in a few milliseconds for what the scan document holds (text,
    integers, booleans, null; its only difference, a small float's exponent written ``1e-7`` for
    ``1e-07``, cannot occur: the models hold no float). It refuses what the standard encoder accepts in
    a few corners (a lone surrogate, an integer beyond 64 bits): those documents take the slow path
    rather than fail, since every finding must reach the output."""
    try:
        text = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    out.write(text)


def _scan(args: argparse.Namespace, settings: Settings, out: IO[str], err: IO[str]) -> int:
    from shared.azure.clients import AzureClients  # noqa: PLC0415 - keep `--help` and usage errors instant
    from shared.run import run_scan  # noqa: PLC0415
    from shared.scan import ScanTarget, ScanTargetError  # noqa: PLC0415
    from shared.store import FindingsStore, StoreError  # noqa: PLC0415

    # A webhook whose Key Vault reference did not resolve is the platform's state, not a typo (SPEC §4):
    # --notify then scans, stores and prints as usual, and says on stderr why nothing was posted.
    alerts_off = settings.alert_setting_error if args.notify else None
    if args.notify and not alerts_off and not settings.has_webhooks:
        print(f"{PROG} scan: error: --notify needs the setting ALERT_WEBHOOK_URL (or ALERT_ROUTES)", file=err)
        return EXIT_USAGE
    notify = bool(args.notify and not alerts_off)
    clients = AzureClients(settings)
    store = None
    if not args.no_store:
        try:
            store = FindingsStore.from_settings(settings, clients.credential)
        except StoreError as exc:
            print(f"{PROG} scan: error: {exc} (or pass --no-store)", file=err)
            return EXIT_USAGE

    exporter = None
    if store is not None and settings.logs_export_configured:
        from shared.export import LogsExporter  # noqa: PLC0415 - its SDK only when the export is configured

        exporter = LogsExporter.from_settings(settings, clients.credential)

    progress = ProgressLine(err) if args.format == "table" and err.isatty() else None
    target = ScanTarget(subscription_ids=tuple(args.subscription), vault_names=tuple(args.vault))
    try:
        outcome = run_scan(
            settings, clients, target=target, store=store, notify=notify, on_progress=progress, exporter=exporter
        )
    except ScanTargetError as exc:
        if progress:
            progress.clear()
        print(f"{PROG} scan: error: {exc}", file=err)
        return EXIT_USAGE
    finally:
        clients.close()
        if exporter is not None:
            exporter.close()
    if progress:
        progress.clear()

    result = outcome.result
    if args.format == "json":
        write_json(result.to_document(), out)
    else:
        from shared.report.text import render  # noqa: PLC0415

        out.write(render(result))
        if outcome.stored:
            out.write(f"\nStored as scan {result.scan.id}.\n")
        elif args.no_store:
            out.write("\nNot stored (--no-store).\n")
        if outcome.exported is not None and outcome.exported.sent:
            out.write(f"Sent {outcome.exported.sent} row(s) to Azure Monitor Logs (AutoRenewGuard_CL).\n")
        if outcome.alerts_sent:
            out.write(f"Posted {outcome.alerts_sent} alert message(s) to the webhook.\n")
    out.flush()

    if outcome.store_error:
        print(f"{PROG}: error: the scan was not stored: {outcome.store_error}", file=err)
        return EXIT_USAGE
    if outcome.export_error:
        # The exit code stays the scan's (SPEC §7): the findings are stored, only the copy in Logs is missing.
        print(f"{PROG}: warning: {outcome.export_error}", file=err)
    if outcome.alert_error:
        print(f"{PROG}: warning: the alert was not delivered: {outcome.alert_error}", file=err)
    if alerts_off:
        print(f"{PROG}: warning: --notify: nothing was posted, the alerts are off. {alerts_off}", file=err)
    return exit_code(result)
