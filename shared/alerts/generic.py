"""Generic: the digest as plain JSON for any other webhook (an Azure Function, a Logic App, a SIEM...).

Each message is a subset of the scan document of SPEC §3: the scan record, the counts, and the problems
as finding dicts (SPEC field names) plus ``new`` and ``portal_url``. Nothing needs escaping beyond JSON
itself. A digest over 256 KB is split into numbered parts (``part`` of ``parts``); each part repeats the
scan record so it can be read alone. A finding is never cut: one bigger than a part travels alone.
"""

from __future__ import annotations

from typing import Any

from shared.alerts.digest import Digest, ProblemItem, RemediationItem, pack, payload_bytes

GENERIC_MESSAGE_BUDGET = 256 * 1024
GENERIC_MESSAGE_TYPE = "autorenew_guard.scan_digest"

Item = tuple[str, dict[str, Any]]  # ("remediations" | "problems", entry)


def build_generic_messages(digest: Digest) -> list[dict[str, Any]]:
    items: list[Item] = [("remediations", _remediation(r)) for r in digest.remediations]
    items += [("problems", _problem(p)) for p in digest.problems]
    base = len(payload_bytes(_message(digest, 999_999, 999_999, [])))
    pages = pack([[item] for item in items], _cost, (GENERIC_MESSAGE_BUDGET - base,))
    return [_message(digest, part, len(pages), page) for part, page in enumerate(pages, start=1)]


def _cost(item: Item) -> tuple[int]:
    return (len(payload_bytes(item[1])) + 1,)


def _message(digest: Digest, part: int, parts: int, items: list[Item]) -> dict[str, Any]:
    return {
        "type": GENERIC_MESSAGE_TYPE,
        "part": part,
        "parts": parts,
        "headline": digest.title(part, parts),
        "summary": digest.summary,
        "clean": digest.clean,
        "new_count": digest.new_count,
        "problem_count": len(digest.problems),
        "report_url": digest.report_url,
        "scan": digest.result.scan.to_dict(),
        "remediations": [entry for key, entry in items if key == "remediations"],
        "problems": [entry for key, entry in items if key == "problems"],
    }


def _problem(item: ProblemItem) -> dict[str, Any]:
    return {**item.finding.to_dict(), "new": item.is_new, "portal_url": item.link}


def _remediation(item: RemediationItem) -> dict[str, Any]:
    return {
        "vault_name": item.vault_name,
        "certificate_name": item.certificate_name,
        "before": item.before,
        "after": item.after,
        "outcome": item.outcome,
    }
