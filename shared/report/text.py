"""The terminal report of ``python -m shared scan``: what a person reads after a scan.

Problems come first, most severe first, each with its reason on its own wrapped line (reasons are
sentences, and squeezing them into a column makes them unreadable). Everything else is summarised
per vault, so a clean estate of hundreds of certificates still fits on a screen.

Every name and text from the estate is printed on one line (:func:`shared.text.single_line`): a
certificate name holding a line break must not print a second row that looks like another finding.
"""

from __future__ import annotations

import shutil
import textwrap
from collections import Counter, defaultdict
from datetime import datetime

from shared.models import (
    RULE_BINDING,
    RULE_IDS,
    RULE_SERVED,
    STATUS_LABEL,
    STATUS_ORDER,
    Finding,
    ScanResult,
    ScanStatus,
    Status,
    sort_by_severity,
)
from shared.rules.binding import service_label
from shared.text import single_line


def render(result: ScanResult, *, width: int | None = None) -> str:
    width = width or min(120, max(72, shutil.get_terminal_size((100, 24)).columns))
    scan = result.scan
    lines: list[str] = []

    lines.append(
        f"AutoRenew Guard scan {single_line(scan.id)}: {scan.status.value}, "
        f"{plural(len(scan.subscriptions), 'subscription')}, {plural(scan.vault_count, 'vault')}, "
        f"{plural(scan.certificate_count, 'certificate')}"
    )
    counts = Counter(f.status for f in result.findings)
    summary = ", ".join(f"{counts[s]} {STATUS_LABEL[s]}" for s in STATUS_ORDER if counts[s])
    served = "one per service hostname" if scan.probing != "off" else "hostnames not probed (PROBE_ENDPOINTS=false)"
    lines.append(f"Findings (two rules per certificate, one per service reference, {served}): {summary or 'none'}")
    for problem in scan.problems:
        lines.append(f"! {single_line(problem)}")
    if scan.status == ScanStatus.FAILED:
        lines.append("! The scan failed: nothing could be read. See the problems above.")
    lines.append("")

    problems = _merged([f for f in sort_by_severity(result.findings) if f.status.is_problem])
    if problems:
        lines.append(f"Problems, most severe first ({len(problems)})")
        lines.append("")
        for finding, rule_ids in problems:
            lines.extend(_problem(finding, rule_ids, width, scan.started_at))
    elif result.findings:
        lines.append("No problems: every certificate renews itself and none is close to expiry.")
        lines.append("")

    lines.extend(_per_vault(result.findings))
    return "\n".join(lines).rstrip() + "\n"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _merged(problems: list[Finding]) -> list[tuple[Finding, str]]:
    """One entry for what is one problem to a person: a vault that could not be listed fails every rule
    with the same words, and printing it once per rule reads like two problems."""
    merged: dict[tuple[str, str, str, str], tuple[Finding, list[str]]] = {}
    for finding in problems:
        key = (_place(finding), finding.status.value, finding.severity.value, finding.reason)
        if key in merged:
            merged[key][1].append(finding.rule_id)
        else:
            merged[key] = (finding, [finding.rule_id])
    order = {rule_id: index for index, rule_id in enumerate(RULE_IDS)}
    return [
        (finding, ", ".join(sorted(rule_ids, key=lambda r: order.get(r, len(order)))))
        for finding, rule_ids in merged.values()
    ]


def _problem(finding: Finding, rule_ids: str, width: int, now: datetime) -> list[str]:
    place = _place(finding)
    expiry = ""
    if finding.expires_on is not None:
        verb = "expired" if finding.expires_on <= now else "expires"
        expiry = f"{verb} {finding.expires_on:%Y-%m-%d}"
    head = f"  {finding.severity.value.upper():<8} {STATUS_LABEL[finding.status]:<14} {rule_ids:<18}  {place}"
    if expiry:
        head = f"{head}  ({expiry})"
    indent = " " * 11
    body = textwrap.wrap(finding.reason, width=width - len(indent), break_long_words=True, break_on_hyphens=False)
    return [head, *(indent + line for line in body), ""]


def _place(finding: Finding) -> str:
    return single_line(_raw_place(finding))


def _raw_place(finding: Finding) -> str:
    if finding.rule_id == RULE_SERVED and finding.binding:
        # What clients get on a hostname: the name first, then the service and the certificate behind it.
        return f"{finding.binding} via {_service_place(finding, with_binding=False)}"
    if finding.rule_id == RULE_BINDING:
        return _service_place(finding)
    if finding.vault_name is None:
        return f"subscription {finding.subscription_id}"
    if finding.certificate_name is None:
        return f"{finding.vault_name} (whole vault)"
    return f"{finding.vault_name} / {finding.certificate_name}"


def _service_place(finding: Finding, *, with_binding: bool = True) -> str:
    """'Application Gateway appgw-payments (pinned-tls) -> payments-prod-kv / payments-gateway': the
    service first, named by its kind, since a binding finding is about what that service serves."""
    label = service_label(finding.resource_type)
    service = (finding.resource_id or "").rstrip("/").rsplit("/", 1)[-1] or None
    if service is None:
        return f"{label} resources in subscription {finding.subscription_id}"
    if with_binding and finding.binding and finding.binding != service:
        service = f"{service} ({finding.binding})"
    service = f"{label} {service}"
    target = " / ".join(part for part in (finding.vault_name, finding.certificate_name) if part)
    return f"{service} -> {target}" if target else service


def _per_vault(findings: list[Finding]) -> list[str]:
    by_vault: dict[str, Counter[Status]] = defaultdict(Counter)
    certificates: dict[str, set[str]] = defaultdict(set)
    for finding in findings:
        vault = single_line(finding.vault_name or f"(subscription {finding.subscription_id})")
        by_vault[vault][finding.status] += 1
        if finding.certificate_name is not None and finding.rule_id not in (RULE_BINDING, RULE_SERVED):
            # A binding may name a certificate the vault no longer has: count only what was listed.
            certificates[vault].add(finding.certificate_name)
    if not by_vault:
        return []
    name_width = min(40, max(len(name) for name in by_vault))
    lines = ["By vault (findings per status)", ""]
    for vault in sorted(by_vault, key=str.lower):
        counts = by_vault[vault]
        parts = ", ".join(f"{counts[s]} {STATUS_LABEL[s]}" for s in STATUS_ORDER if counts[s])
        n = len(certificates[vault])
        listed = (
            f"{n:>4} certificate{'s' if n != 1 else ' '}"
            if n or not counts[Status.NOT_ASSESSED]
            else "     not listed  "
        )
        lines.append(f"  {vault:<{name_width}}  {listed}  {parts}")
    return lines
