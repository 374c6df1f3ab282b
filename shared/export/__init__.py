"""Where a stored scan goes next: Azure Monitor Logs.

The exporter is the next reader of a stored scan, like the alerts: it takes the scan in hand and sends
one row per finding to the table ``AutoRenewGuard_CL`` through the Logs Ingestion API, so platform teams
can chart, join and page on the findings with the tools they already run.

- ``columns.py`` reads ``infra/monitor/findings-columns.json``, the one definition of the row that the
  Bicep (``loadJsonContent``) reads too: the table, the rule's stream and the code cannot drift apart.
- ``rows.py`` turns a finding into a row (pure): exactly those columns, estate text cleaned, nulls where a
  finding has no vault or certificate.
- ``logs.py`` sends the rows with azure-monitor-ingestion's ``LogsIngestionClient`` and the app's
  credential, and turns whatever still fails after the SDK's retries into one sentence for the scan's
  problems (never the rows' data).

Names offered: :class:`LogsExporter`, :class:`ExportOutcome`, :func:`finding_rows`, :func:`columns`.
"""

from shared.export.columns import Column, columns
from shared.export.logs import ExportOutcome, LogsExporter
from shared.export.rows import finding_rows

__all__ = ["Column", "ExportOutcome", "LogsExporter", "columns", "finding_rows"]
