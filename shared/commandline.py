"""What every ``python -m shared`` command shares: exit codes, one-line usage errors, the target arguments
and the progress line.

It sits below :mod:`shared.cli` and the command modules (:mod:`shared.remediation.command`), so both import it and
neither imports the other's internals: the command line is one tree, not a cycle.
"""

from __future__ import annotations

import argparse
from typing import IO, NoReturn

from shared.settings import SettingsError, parse_subscription_id

EXIT_OK = 0
EXIT_NON_COMPLIANT = 1
EXIT_USAGE = 2
EXIT_NOT_ASSESSED = 3

PROG = "python -m shared"


class UsageError(Exception):
    """Bad command line: one line, exit 2. ``prog`` names the (sub)command it is about."""

    def __init__(self, message: str, prog: str = PROG) -> None:
        super().__init__(message)
        self.prog = prog

    def line(self) -> str:
        """``python -m shared scan: error: …`` (the subcommand named, as argparse itself would)."""
        return f"{self.prog}: error: {self}"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem instead of argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)", prog=self.prog)


def usage_error(err: IO[str], message: str, *, command: str | None = None) -> int:
    """Print ``python -m shared [command]: error: …`` and return the usage exit code."""
    prog = f"{PROG} {command}" if command else PROG
    print(f"{prog}: error: {message}", file=err)
    return EXIT_USAGE


def _subscription(value: str) -> str:
    try:
        return parse_subscription_id(value)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("Setting --subscription: ")) from None


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """``--subscription`` and ``--vault``: what to scan, the same way for every command."""
    parser.add_argument(
        "--subscription",
        action="append",
        default=[],
        type=_subscription,
        metavar="ID",
        help="subscription id to scan (repeatable; default AZURE_SUBSCRIPTION_IDS, else all visible)",
    )
    parser.add_argument("--vault", action="append", default=[], metavar="NAME", help="only this vault (repeatable)")


class ProgressLine:
    """A single self-overwriting status line on an interactive stderr."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, progress: object) -> None:
        done = getattr(progress, "vaults_done", 0)
        total = getattr(progress, "vaults_total", 0)
        certificates = getattr(progress, "certificates", 0)
        self.stream.write(f"\rScanning vaults: {done}/{total}, {certificates} certificates read")
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()
