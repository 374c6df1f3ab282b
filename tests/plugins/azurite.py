"""Azurite fixtures: the real Table Storage emulator, started once per test session (per xdist worker).

* ``azurite`` (session): the running emulator (``.connection_string``, ``.table_endpoint``, ``.port``).
* ``azurite_connection_string`` (session): its connection string, as ``FINDINGS_STORAGE_CONNECTION`` takes it.
* ``store_tables`` (function): table names unique to the test, so tests never see each other's data.
* ``findings_store_factory`` (function): ``make(**kwargs) -> FindingsStore`` on those tables (several
  stores on the same tables behave like several processes); closed and the tables dropped after the test.
* ``findings_store`` (function): one such store.

A missing Azurite is an error, not a skip: the store has no in-memory stand-in, so ``npm ci`` is part
of setting up the project.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import AzureError
from azure.data.tables import TableServiceClient

from shared.store import FindingsStore
from tests.azurite import Azurite, AzuriteFailed, AzuriteNotInstalled, start_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with contextlib.ExitStack() as stack:
        problem = ""
        try:
            running = stack.enter_context(start_azurite())
        except (AzuriteNotInstalled, AzuriteFailed) as error:
            problem = str(error)
        if problem:
            pytest.fail(problem, pytrace=False)
        yield running


@pytest.fixture(scope="session")
def azurite_connection_string(azurite: Azurite) -> str:
    return azurite.connection_string


@pytest.fixture
def store_tables() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:12]
    return {
        "scans_table": f"scans{suffix}",
        "findings_table": f"findings{suffix}",
        "remediations_table": f"remediations{suffix}",
        "alert_state_table": f"alertstate{suffix}",
    }


@pytest.fixture
def findings_store_factory(
    azurite_connection_string: str, store_tables: dict[str, str]
) -> Iterator[Callable[..., FindingsStore]]:
    made: list[FindingsStore] = []

    def make(**kwargs: Any) -> FindingsStore:
        store = FindingsStore.from_connection_string(azurite_connection_string, **{**store_tables, **kwargs})
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
    with TableServiceClient.from_connection_string(azurite_connection_string) as service:
        for name in store_tables.values():
            with contextlib.suppress(AzureError):
                service.delete_table(name)


@pytest.fixture
def findings_store(findings_store_factory: Callable[..., FindingsStore]) -> FindingsStore:
    return findings_store_factory()


APP_TABLES = ("scans", "findings", "remediations", "alertstate")


def drop_app_tables(connection_string: str) -> None:
    with TableServiceClient.from_connection_string(connection_string) as service:
        for name in APP_TABLES:
            with contextlib.suppress(AzureError):
                service.delete_table(name)


@pytest.fixture
def app_store_connection(azurite_connection_string: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Azurite as the store the app builds from its own settings: ``FINDINGS_STORAGE_CONNECTION`` set, the
    default tables emptied before and after (the CLI and the functions use the default table names)."""
    monkeypatch.setenv("FINDINGS_STORAGE_CONNECTION", azurite_connection_string)
    drop_app_tables(azurite_connection_string)
    yield azurite_connection_string
    drop_app_tables(azurite_connection_string)
