"""Fixtures for the fake Azure (tests/fakeazure): Key Vault, Resource Manager and managed identity over HTTPS.

``fake_azure`` is a factory: ``azure = fake_azure(estate_dict)`` starts a fake on fresh ports, points
the environment at it (``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` for ``DefaultAzureCredential``,
``ARM_ENDPOINT``, ``KEYVAULT_VERIFY_CHALLENGE_RESOURCE=false``, ``REQUESTS_CA_BUNDLE``) after clearing
every ``AZURE_*``, ``MSI_*``, ``IDENTITY_*`` and ``IMDS_*`` variable, so nothing can reach a real tenant,
and stops it after the test. ``fake_azure_demo`` is the same started with the demo estate.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from tests.fakeazure import Estate, FakeAzure, sample_estate

FakeAzureFactory = Callable[..., FakeAzure]

_ISOLATED_PREFIXES = ("AZURE_", "MSI_", "IDENTITY_", "IMDS_")
_ISOLATED_NAMES = ("ARM_ENDPOINT", "KEYVAULT_VERIFY_CHALLENGE_RESOURCE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def forget_keyvault_challenges() -> None:
    """Empty the Key Vault SDK's process-wide challenge cache (keyed by host:port, and ports get reused)."""
    try:
        from azure.keyvault.certificates._shared import http_challenge_cache
    except ImportError:  # pragma: no cover - the SDK moved its private module
        return
    http_challenge_cache.clear()


@pytest.fixture
def azure_isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Azure credential, endpoint or CA override from the developer's shell reaches the test."""
    for name in list(os.environ):
        if name.upper().startswith(_ISOLATED_PREFIXES) or name.upper() in _ISOLATED_NAMES:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_azure(monkeypatch: pytest.MonkeyPatch, azure_isolated_env: None) -> Iterator[FakeAzureFactory]:
    """Factory ``fake_azure(estate=None, **FakeAzure options) -> FakeAzure`` (default estate: the demo).

    The environment points at the most recently started fake; every fake stops after the test.
    """
    started: list[FakeAzure] = []

    def start(estate: Estate | Mapping[str, Any] | str | None = None, /, **options: Any) -> FakeAzure:
        azure = FakeAzure(estate if estate is not None else sample_estate(), **options).start()
        started.append(azure)
        for name, value in azure.env.items():
            monkeypatch.setenv(name, value)
        forget_keyvault_challenges()
        return azure

    yield start
    for azure in reversed(started):
        azure.stop()
    forget_keyvault_challenges()


@pytest.fixture
def demo_estate() -> dict[str, Any]:
    """A fresh copy of tests/fakeazure/sample_estate.json."""
    return sample_estate()


@pytest.fixture
def fake_azure_demo(fake_azure: FakeAzureFactory, demo_estate: dict[str, Any]) -> FakeAzure:
    """The fake started with the demo estate, environment set."""
    return fake_azure(demo_estate)
