"""The one place that builds the credential and the Azure SDK clients.

Nothing here runs at import time: the Functions host indexes ``function_app`` before any setting is
read, and an import that touched the network or a missing setting would hide every function. Clients
are built on first use and kept, so a warm Functions worker reuses tokens and connections across
invocations.

Every certificate client shares one ``requests`` session whose pool is sized to the scan's concurrency:
without that, each of thousands of vault clients would open its own pool, and the default pool of 10
connections would make threads wait on each other.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import requests
from azure.core.credentials import TokenCredential
from azure.core.pipeline.transport import RequestsTransport
from azure.keyvault.certificates import CertificateClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient

from shared.settings import Settings

# Retries for 429 and 5xx: azure-core waits for Retry-After when the service sends it, else backs off
# exponentially (0, 1, 2, 4 s). Four retries ride out throttling and a failover without holding a
# vault that is really down for more than a few seconds; the next daily scan tries again anyway.
RETRY_OPTIONS: dict[str, Any] = {
    "retry_total": 4,
    "retry_status": 4,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 30,
}
CONNECTION_TIMEOUT = 10
READ_TIMEOUT = 60

# The SDK logs every request and response at INFO; at thousands of requests a scan that is noise (and
# CPU). Warnings and errors still come through.
for _noisy in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "msal"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


class AzureClients:
    """Lazily built, reused SDK clients for one set of settings."""

    def __init__(self, settings: Settings, credential: TokenCredential | None = None) -> None:
        self.settings = settings
        self._credential = credential
        self._lock = threading.RLock()
        self._session: requests.Session | None = None
        self._subscription_client: SubscriptionClient | None = None
        self._vault_clients: dict[str, KeyVaultManagementClient] = {}

    @property
    def credential(self) -> TokenCredential:
        with self._lock:
            if self._credential is None:
                # Imported here: azure.identity is the heaviest import of the app, and only scans need it.
                from azure.identity import DefaultAzureCredential  # noqa: PLC0415

                # Managed identity in Azure (AZURE_CLIENT_ID picks a user-assigned one), `az login` locally.
                self._credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
            return self._credential

    @property
    def max_connections(self) -> int:
        return self.settings.vault_concurrency * self.settings.requests_per_vault

    def _shared_session(self) -> requests.Session:
        with self._lock:
            if self._session is None:
                session = requests.Session()
                adapter = requests.adapters.HTTPAdapter(
                    pool_connections=max(10, self.settings.vault_concurrency * 2),
                    pool_maxsize=max(10, self.settings.requests_per_vault + 2),
                    max_retries=0,  # azure-core's RetryPolicy does the retrying
                )
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._session = session
            return self._session

    def _transport(self) -> RequestsTransport:
        return RequestsTransport(
            session=self._shared_session(),
            session_owner=False,
            connection_timeout=CONNECTION_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )

    def _arm_options(self) -> dict[str, Any]:
        return {
            "base_url": self.settings.arm_endpoint,
            "credential_scopes": [self.settings.arm_scope],
            "transport": self._transport(),
            **RETRY_OPTIONS,
        }

    def subscriptions(self) -> SubscriptionClient:
        credential = self.credential
        with self._lock:
            if self._subscription_client is None:
                self._subscription_client = SubscriptionClient(credential, **self._arm_options())
            return self._subscription_client

    def vaults(self, subscription_id: str) -> KeyVaultManagementClient:
        credential = self.credential
        with self._lock:
            client = self._vault_clients.get(subscription_id)
            if client is None:
                client = KeyVaultManagementClient(credential, subscription_id, **self._arm_options())
                self._vault_clients[subscription_id] = client
            return client

    def resource_manager(self, subscription_id: str) -> KeyVaultManagementClient:
        """A Resource Manager client for raw REST reads in one subscription (``send_request``): the vault
        client's pipeline already carries the credential, ``ARM_ENDPOINT``, token scope, retries and the
        shared transport, so the service reads (shared/services.py) reuse it rather than four more SDKs."""
        return self.vaults(subscription_id)

    def certificates(self, vault_uri: str) -> CertificateClient:
        """A client for one vault. Cheap to build (the transport and token cache are shared), so one is
        made per vault and per scan rather than kept for thousands of vaults."""
        return CertificateClient(
            vault_uri,
            self.credential,
            verify_challenge_resource=self.settings.keyvault_verify_challenge_resource,
            transport=self._transport(),
            **RETRY_OPTIONS,
        )

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None
            self._subscription_client = None
            self._vault_clients.clear()
