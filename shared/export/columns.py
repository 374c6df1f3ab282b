"""The columns of a findings row, read from ``infra/monitor/findings-columns.json``.

That file is the one definition: Bicep loads it (``loadJsonContent``) for the custom table and for the
data collection rule's stream declaration, and this module loads it for the rows. ``.funcignore``
re-includes it in the deployed package (the rest of ``infra/`` stays out), so the same path exists in the
repository and in the Function App.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

COLUMNS_FILE = Path(__file__).resolve().parents[2] / "infra" / "monitor" / "findings-columns.json"

# The types a stream declaration accepts (Microsoft.Insights/dataCollectionRules, streamDeclarations
# columns: string, int, long, real, boolean, datetime, dynamic); the table takes the same names.
STREAM_TYPES = frozenset({"string", "int", "long", "real", "boolean", "datetime", "dynamic"})


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str


@cache
def columns(path: Path = COLUMNS_FILE) -> tuple[Column, ...]:
    """The columns in file order. A malformed file is a packaging bug, so it fails loudly here (the
    export reports it as its problem; the scan and the store are unaffected)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"Cannot read the findings columns file {path.name}: {exc}") from exc
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path.name} must be a non-empty JSON array of {{name, type}} objects")
    found: list[Column] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"name", "type"}:
            # Only name and type: a stream declaration rejects any other property.
            raise ValueError(f"{path.name}: every column is exactly {{name, type}}, got {item!r}")
        if item["type"] not in STREAM_TYPES:
            raise ValueError(f"{path.name}: column {item['name']} has type {item['type']!r}, not a stream type")
        found.append(Column(str(item["name"]), str(item["type"])))
    names = [c.name for c in found]
    if len(set(names)) != len(names) or "TimeGenerated" not in names:
        raise ValueError(f"{path.name}: column names must be unique and include TimeGenerated")
    return tuple(found)
