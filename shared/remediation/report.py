"""The report of a remediation plan: the terminal table of ``python -m shared remediate`` and its JSON.

One row per certificate (vault / certificate, current → new, outcome), the reason of a skip, refusal or
failure wrapped under its row, like the scan's own :mod:`shared.report.text`.
"""

from __future__ import annotations

import shutil
import textwrap
from collections import Counter
from collections.abc import Sequence
from typing import Any

from shared.remediation.plan import Identity, Plan, State, describe_action


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
    elif plan.not_assessed:
        # Not "nothing to change": the scan could not read everything, so nobody knows that yet.
        lines.append("Nothing to change among the certificates the scan could read; the rest are listed below.")
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
