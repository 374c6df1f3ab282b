"""Generic: the digest as plain JSON for any other webhook (an Azure Function, a Logic App, a SIEM...).

Each message carries the scan record, the counts, and the listed problems as finding dicts (SPEC §3
field names) plus ``entry`` (which entry of the digest they belong to: one per certificate, vault or
subscription), ``new``, ``mark`` (``new``, ``worse`` or null) and ``portal_url``. ``route`` says which
route the digest is for (null: the central webhook), ``ongoing`` and ``more`` say what is open but not
listed. Nothing needs escaping beyond JSON itself. A digest over 256 KB is split into numbered parts
(``part`` of ``parts``); each part repeats the scan record so it can be read alone. An entry is never
cut: one bigger than a part travels alone.
"""

from __future__ import annotations

from typing import Any

from shared.alerts.digest import Digest, Entry, RemediationItem
from shared.alerts.fitting import pack, payload_bytes
from shared.text import clean_value

GENERIC_MESSAGE_BUDGET = 256 * 1024
GENERIC_MESSAGE_TYPE = "autorenew_guard.scan_digest"

Item = tuple[str, dict[str, Any]]  # ("remediations" | "problems", entry)


def build_generic_messages(digest: Digest) -> list[dict[str, Any]]:
    groups: list[list[Item]] = [[("remediations", _remediation(r))] for r in digest.remediations]
    groups += [[("problems", problem) for problem in _problems(e)] for e in digest.entries]
    base = len(payload_bytes(_message(digest, 999_999, 999_999, [])))
    pages = pack(groups, _cost, (GENERIC_MESSAGE_BUDGET - base,))
    # Stored findings may predate the cleaning at the estate's edge: clean once more on the way out.
    return [clean_value(_message(digest, part, len(pages), page)) for part, page in enumerate(pages, start=1)]


def _cost(item: Item) -> tuple[int]:
    return (len(payload_bytes(item[1])) + 1,)


def _message(digest: Digest, part: int, parts: int, items: list[Item]) -> dict[str, Any]:
    return {
        "type": GENERIC_MESSAGE_TYPE,
        "part": part,
        "parts": parts,
        "route": digest.route,
        "headline": digest.title(part, parts),
        "summary": digest.summary,
        "counts": digest.counts_line,
        "clean": digest.clean,
        "new_count": digest.new_count,
        "entry_count": len(digest.entries),
        "problem_count": len(digest.problem_findings),
        "more": digest.more,
        "ongoing": digest.ongoing,
        "resolved": digest.fixed,
        "notes": list(digest.notes),
        "report_url": digest.report_url,
        "scan": digest.result.scan.to_dict(),
        "remediations": [entry for key, entry in items if key == "remediations"],
        "problems": [entry for key, entry in items if key == "problems"],
    }


def _problems(entry: Entry) -> list[dict[str, Any]]:
    link = entry.links[0].url if entry.links else None
    return [
        {**f.to_dict(), "entry": entry.title, "new": entry.mark == "new", "mark": entry.mark, "portal_url": link}
        for f in entry.findings
    ]


def _remediation(item: RemediationItem) -> dict[str, Any]:
    return {
        "vault_name": item.vault_name,
        "certificate_name": item.certificate_name,
        "before": item.before,
        "after": item.after,
        "outcome": item.outcome,
    }
