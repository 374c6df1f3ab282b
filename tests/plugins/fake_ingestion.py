"""The fake Logs Ingestion endpoint (tests/fakeazure/ingestion.py), declared with the real columns file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.export.columns import COLUMNS_FILE
from tests.fakeazure.ingestion import FakeLogsIngestion

IngestionFactory = Callable[..., FakeLogsIngestion]


@pytest.fixture
def fake_ingestion_factory() -> Iterator[IngestionFactory]:
    """``fake_ingestion_factory(**options)``: a started fake (stopped after the test); ``columns`` defaults to
    infra/monitor/findings-columns.json, the stream the deployment declares."""
    started: list[FakeLogsIngestion] = []

    def start(**options: Any) -> FakeLogsIngestion:
        options.setdefault("columns", json.loads(COLUMNS_FILE.read_text(encoding="utf-8")))
        fake = FakeLogsIngestion(**options).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def fake_ingestion(fake_ingestion_factory: IngestionFactory) -> FakeLogsIngestion:
    return fake_ingestion_factory()
