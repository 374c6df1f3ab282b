"""Remediation records: the ``remediations`` table, one row per change ``remediate --apply`` made or tried.

One partition, newest first (inverted-time row keys); each row keeps the record as JSON plus typed copies
of its simple fields for people browsing the table.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from itertools import islice
from typing import Any, Final

from shared.models import isoformat, utcnow
from shared.store.tables import SCHEMA_VERSION, StoreError, Tables, as_time, dumps, inverted, joined, plain

_REMEDIATIONS_PARTITION: Final = "remediations"
_RESERVED: Final = frozenset({"PartitionKey", "RowKey", "Timestamp", "etag", "kind", "schema"})
_PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


class RemediationRecords:
    """Keeps and lists what remediation did."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def record(self, record: Mapping[str, Any]) -> None:
        """Keep one remediation record (when, identity, vault, certificate, before, after, outcome...).

        The record is kept whole as JSON; its simple fields are also typed columns for people browsing
        the table. ``when`` (a datetime or ISO text) orders the list; it defaults to now."""
        when = as_time(record.get("when")) or utcnow()
        data = {str(k): v for k, v in record.items()}
        data.setdefault("when", isoformat(when))
        entity: dict[str, Any] = {
            "PartitionKey": _REMEDIATIONS_PARTITION,
            "RowKey": f"{inverted(when)}_{secrets.token_hex(4)}",
            "schema": SCHEMA_VERSION,
        }
        # Half an entity for the record, the rest for at most 200 typed copies of at most 2 KB each, so
        # the entity stays under 1 MiB and 252 properties whatever the record holds.
        room = self._t.limits.page_chars // 2
        text = dumps(data)
        if len(text) > room:
            text = dumps(self._t.shrink(data, room))
        entity.update(self._t.parts("record", text))
        budget = 200
        for name, value in data.items():
            if budget == 0:
                break
            if not _PROPERTY_NAME.match(name) or name in entity or name in _RESERVED or name.startswith("record_"):
                continue
            typed = self._t.typed(value)
            if typed is not None:
                entity[name] = typed
                budget -= 1
        self._t.ensure_tables(self._t.remediations)
        self._t.submit(self._t.remediations, [("create", entity, {})], "record a remediation")

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        """Remediation records, newest first, as they were given (plus ``when``)."""
        if limit <= 0:
            return []
        rows = self._t.query(self._t.remediations, _REMEDIATIONS_PARTITION, None, None, "list remediations", top=limit)
        records: list[dict[str, Any]] = []
        for row in islice(rows, limit):
            text = joined(plain(row), "record")
            try:
                records.append(dict(json.loads(text)))
            except (ValueError, TypeError):
                raise StoreError(f"Remediation record {row['RowKey']} is not readable JSON") from None
        return records
