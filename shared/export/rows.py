"""A finding as a row of ``AutoRenewGuard_CL`` (pure: no I/O).

One extractor per column of the columns file, and a check that the two name the same columns: a column
added to the file without a value here (or the reverse) fails the export with a message naming it rather
than sending rows the stream would silently drop or fill with nulls.

``TimeGenerated`` is the scan's finish, so every row of a scan shares one time and "the latest scan" is
one ``ScanId`` in KQL. ``ResourceId``/``ResourceType`` are the service's for a binding and the vault's
otherwise, so a row joins the Azure tables that carry ``_ResourceId``. ``DaysToExpiry`` counts whole days
from the scan's finish (negative once expired). Estate text is cleaned as everywhere else: names on one
line, the reason with control and bidirectional characters removed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, MutableMapping
from datetime import datetime
from typing import Any

from shared.export.columns import Column, columns
from shared.models import Finding, Scan, isoformat, utcnow
from shared.text import clean_text, single_line

Row = MutableMapping[str, Any]  # what LogsIngestionClient.upload takes
VAULT_TYPE = "Microsoft.KeyVault/vaults"


def _name(value: str | None) -> str | None:
    if not value:
        return None
    if value.isascii() and value.isprintable():
        return value  # nothing to clean (no control character, tab or line break): the common case, kept cheap
    return single_line(value)


def _days_to_expiry(expires_on: datetime | None, now: datetime) -> int | None:
    if expires_on is None:
        return None
    return math.floor((expires_on - now).total_seconds() / 86400)


# Columns whose value is the scan's (computed once per scan), then those that are each finding's.
_SCAN_VALUES: dict[str, Callable[[Scan, datetime], Any]] = {
    "TimeGenerated": lambda s, t: isoformat(t),
    "ScanId": lambda s, t: s.id,
    "ScanStatus": lambda s, t: s.status.value,
}
_FINDING_VALUES: dict[str, Callable[[Finding, datetime], Any]] = {
    "RuleId": lambda f, t: f.rule_id,
    "Status": lambda f, t: f.status.value,
    "Severity": lambda f, t: f.severity.value,
    "SubscriptionId": lambda f, t: f.subscription_id or None,
    "VaultName": lambda f, t: _name(f.vault_name),
    "CertificateName": lambda f, t: _name(f.certificate_name),
    "ResourceId": lambda f, t: _name(f.resource_id or f.vault_id),
    "ResourceType": lambda f, t: _name(f.resource_type) or (VAULT_TYPE if f.vault_id else None),
    "Binding": lambda f, t: _name(f.binding),
    "ExpiresOn": lambda f, t: isoformat(f.expires_on),
    "DaysToExpiry": lambda f, t: _days_to_expiry(f.expires_on, t),
    "Route": lambda f, t: _name(f.route),
    "Reason": lambda f, t: clean_text(f.reason),
}
_VALUES = {**_SCAN_VALUES, **_FINDING_VALUES}


class ColumnsMismatchError(ValueError):
    """The columns file and this module disagree: a packaging bug, named column by column."""


def check_columns(declared: Iterable[Column]) -> tuple[str, ...]:
    names = tuple(c.name for c in declared)
    missing = [n for n in names if n not in _VALUES]
    extra = [n for n in _VALUES if n not in names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no value for column(s) {', '.join(missing)} of findings-columns.json")
        if extra:
            parts.append(f"value(s) for {', '.join(extra)} that findings-columns.json does not declare")
        raise ColumnsMismatchError("The export has " + " and ".join(parts) + ".")
    return names


def finding_rows(scan: Scan, findings: Iterable[Finding]) -> list[Row]:
    """One row per finding, keys in the file's order and nothing else."""
    names = check_columns(columns())
    at = scan.finished_at or utcnow()
    constant = {name: value(scan, at) for name, value in _SCAN_VALUES.items()}
    template = {name: constant.get(name) for name in names}  # keys in the file's order
    extractors = [(name, _FINDING_VALUES[name]) for name in names if name in _FINDING_VALUES]
    rows: list[Row] = []
    for finding in findings:
        row = template.copy()
        for name, value in extractors:
            row[name] = value(finding, at)
        rows.append(row)
    return rows
