"""Issue 18: every KQL query the infra ships is a .kql file, and each one passes Microsoft's Kusto language
service (npm @kusto/language-service-next, run by tests/kql/check.js) against the table AutoRenewGuard_CL
declared from infra/monitor/findings-columns.json: no syntax or semantic diagnostic, and every column it
names is one of the file's (or one the query itself declares, e.g. ``summarize Problems = count()``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MONITOR = ROOT / "infra" / "monitor"
QUERIES = sorted((MONITOR / "queries").glob("*.kql"))
COLUMNS_FILE = MONITOR / "findings-columns.json"
COLUMNS = {c["name"] for c in json.loads(COLUMNS_FILE.read_text(encoding="utf-8"))}
TABLE = "AutoRenewGuard_CL"


def analyse(queries: dict[str, str]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is needed (it runs Azurite too)"
    assert (ROOT / "node_modules" / "@kusto" / "language-service-next").is_dir(), "run npm ci first"
    done = subprocess.run(
        [node, str(ROOT / "tests" / "kql" / "check.js"), TABLE, str(COLUMNS_FILE)],
        input=json.dumps(queries),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@cache
def shipped() -> dict[str, Any]:
    return analyse({path.name: path.read_text(encoding="utf-8") for path in QUERIES})


def test_the_workbook_and_the_alert_ship_five_queries_each_from_its_file() -> None:
    bicep = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "infra").rglob("*.bicep"))
    loaded = set(re.findall(r"loadTextContent\('\.\./monitor/queries/([^']+\.kql)'\)", bicep))
    assert loaded == {p.name for p in QUERIES}, "every .kql file is shipped, and only .kql files are"
    assert len(QUERIES) == 5
    # No second copy: the workbook file leaves every query empty (monitor.bicep fills them from the files).
    workbook = json.loads((MONITOR / "workbook.json").read_text(encoding="utf-8"))
    queries = [item["content"]["query"] for item in workbook["items"] if item["type"] == 3]
    assert queries == ["", "", "", ""]
    assert not re.search(r"query:\s*'", bicep), "a query written inline in Bicep escapes the checks"


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: p.name)
def test_each_shipped_query_has_no_diagnostic_and_names_only_existing_columns(path: Path) -> None:
    found = shipped()[path.name]
    assert found["diagnostics"] == []
    referenced = set(found["referenced"])
    assert referenced & COLUMNS, "the query reads the table's columns"
    unknown = referenced - COLUMNS - set(found["declared"])
    assert not unknown, f"{path.name} names columns the table does not have: {sorted(unknown)}"


def test_a_wrong_column_or_a_typo_is_caught() -> None:
    text = (MONITOR / "queries" / "alert-critical-high.kql").read_text(encoding="utf-8")
    found = analyse(
        {
            "wrong-column": text.replace("Severity in", "Severty in"),
            "syntax": text.replace("| where", "| wher", 1),
            "table-name": text.replace(TABLE, "AutoRenewGuard"),
        }
    )
    assert [d["code"] for d in found["wrong-column"]["diagnostics"]] == ["KS142"]
    assert "Severty" in found["wrong-column"]["diagnostics"][0]["message"]
    assert found["syntax"]["diagnostics"]
    assert found["table-name"]["diagnostics"]


def documented_queries() -> dict[str, str]:
    """Every ```kusto block of the README and docs/DEPLOY.md: people paste them, so they are checked too."""
    found: dict[str, str] = {}
    for doc in (ROOT / "README.md", ROOT / "docs" / "DEPLOY.md"):
        blocks = re.findall(r"```kusto\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.DOTALL)
        found.update({f"{doc.name}#{number}": block for number, block in enumerate(blocks, start=1)})
    return found


def test_the_sample_queries_of_the_docs_pass_too() -> None:
    queries = documented_queries()
    assert len(queries) >= 3, "README and DEPLOY give at least three sample queries"
    for name, found in analyse(queries).items():
        assert found["diagnostics"] == [], name
        unknown = set(found["referenced"]) - COLUMNS - set(found["declared"])
        assert not unknown, f"{name} names columns the table does not have: {sorted(unknown)}"
