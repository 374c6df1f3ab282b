"""Headless Chromium for the tests and the docs' screenshots (Debian package ``chromium``).

Two ways in, both plain command-line runs with a throwaway profile: ``--dump-dom`` prints the DOM after the
page's scripts ran (how a test reads what a page measured about itself), ``--screenshot`` writes a PNG of
the window. No driver, no DevTools protocol: nothing to install beyond the browser itself.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NODE_MODULES = REPO / "node_modules"


class BrowserError(AssertionError):
    """Chromium is missing or failed; an AssertionError so a test shows it as a plain failure."""


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        raise BrowserError(
            "The browser tests need headless Chromium and it is not installed: run "
            "`apt-get update && apt-get install -y chromium` (Debian package `chromium`; CI installs it)."
        )
    return found


def run_chromium(
    args: list[str], profile: Path, width: int, height: int, *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--allow-file-access-from-files",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        *args,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BrowserError(
            f"Chromium did not finish within {timeout:.0f} s: {' '.join(command)}\n{exc.stderr!r}"
        ) from None
    if done.returncode != 0:
        raise BrowserError(f"Chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done


def dump_dom(page: Path, profile: Path, width: int = 1000, height: int = 800) -> str:
    """The DOM of ``page`` after its scripts ran, as HTML."""
    return run_chromium(["--dump-dom", page.as_uri()], profile, width, height).stdout


def screenshot(page: Path, target: Path, profile: Path, width: int, height: int) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    run_chromium([f"--screenshot={target}", page.as_uri()], profile, width, height)
    if not target.exists():
        raise BrowserError(f"Chromium wrote no screenshot to {target}")
    return target
