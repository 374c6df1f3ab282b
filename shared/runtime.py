"""The Functions worker's settings, clients and store: built on first use, then reused.

``function_app`` must import without touching the network or reading a setting (the host indexes it
before app settings are guaranteed, and an import error hides every function), so nothing here happens
at import time. The first invocation validates the settings; a bad one fails that invocation with one
message naming it, and every later invocation tries again (so fixing the app setting needs no restart
beyond the one Azure does anyway).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.azure.clients import AzureClients
from shared.settings import Settings
from shared.store import FindingsStore

if TYPE_CHECKING:
    from shared.export import LogsExporter


class AppContext:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._lock = threading.Lock()
        self._settings: Settings | None = None
        self._clients: AzureClients | None = None
        self._store: FindingsStore | None = None
        self._exporter: LogsExporter | None = None

    @property
    def settings(self) -> Settings:
        with self._lock:
            if self._settings is None:
                # A bad alert setting stops only the alerts (SPEC §4): the timer still scans and stores, the
                # HTTP API still answers, and both say why nothing was posted.
                self._settings = Settings.from_env(self._environ, strict_alerts=False)
            return self._settings

    @property
    def clients(self) -> AzureClients:
        settings = self.settings
        with self._lock:
            if self._clients is None:
                self._clients = AzureClients(settings)
            return self._clients

    @property
    def store(self) -> FindingsStore:
        clients = self.clients
        with self._lock:
            if self._store is None:
                self._store = FindingsStore.from_settings(clients.settings, clients.credential)
            return self._store

    @property
    def exporter(self) -> LogsExporter | None:
        """The Azure Monitor Logs exporter, or ``None`` when LOGS_* are not set (or bad: the run records why)."""
        settings = self.settings
        if not settings.logs_export_configured:
            return None
        clients = self.clients
        with self._lock:
            if self._exporter is None:
                from shared.export import LogsExporter  # noqa: PLC0415 - its SDK only when the export is on

                self._exporter = LogsExporter.from_settings(settings, clients.credential)
            return self._exporter

    def reset(self) -> None:
        """Forget everything built so far: the next use reads the settings again."""
        with self._lock:
            if self._clients is not None:
                self._clients.close()
            if self._exporter is not None:
                self._exporter.close()
            self._settings, self._clients, self._store, self._exporter = None, None, None, None
