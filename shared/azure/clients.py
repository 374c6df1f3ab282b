"""The one place that builds the credential and the Azure SDK clients.

Nothing here runs at import time: the Functions host indexes ``function_app`` before any setting is
read, and an import that touched the network or a missing setting would hide every function. Clients
are built on first use and kept, so a warm Functions worker reuses tokens and connections across
invocations.

Every certificate client shares one ``requests`` session whose pool is sized to the scan's concurrency:
without that, each of thousands of vault clients would open its own pool, and the default pool of 10
connections would make threads wait on each other.

Every client retries through :class:`ThrottlingRetryPolicy`: Key Vault answers 429 ``Throttled`` usually
without ``Retry-After`` and counts its limits per 10-second window, so azure-core's default (a few
retries within about 7 seconds) gives a busy vault up while its window is still closed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from azure.core.credentials import TokenCredential
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import (
    AsyncRedirectPolicy,
    AsyncRetryPolicy,
    RequestHistory,
    RetryPolicy,
    SensitiveHeaderCleanupPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.policies._retry import RetryPolicyBase  # the rules both retry policies share
from azure.core.pipeline.transport import AioHttpTransport, AsyncHttpTransport, HttpTransport, RequestsTransport
from azure.keyvault.certificates import __version__ as _CERTIFICATES_VERSION
from azure.keyvault.certificates.aio import CertificateClient as AsyncCertificateClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient

from shared.azure.aio import AsyncCredential, EventLoopThread, SyncTransportAsAsync
from shared.azure.arm import ArmHostGuard
from shared.azure.keyvault import UntrustedHostError, VaultClient, untrusted_vault_host, warn_vault_hosts_unchecked
from shared.settings import Settings


def _lean_pipeline(credential: AsyncCredential, verify: bool, retry: AsyncRetryPolicy[Any, Any]) -> dict[str, Any]:
    """The asyncio certificate client's pipeline with only the steps a scan's reads need, as the SDK's
    documented ``policies`` keyword takes it: who we are (User-Agent), redirects, our retry policy, Key
    Vault's challenge authentication, and the removal of the token from a redirect to another host. Left
    out: per-call headers and hooks (none are passed), the proxy step (the aiohttp session has the proxy,
    shared.azure.aio), request logging (never at INFO), tracing, and the content decoding that parsed
    every body a second time (the reader parses it once, shared.azure.kvjson). Half the client's CPU went
    to the full pipeline (docs/BENCHMARKS.md).

    Key Vault's challenge policy is not exported by the SDK, so it is imported from its module; if a
    release moves it, the client keeps the SDK's full default pipeline (slower, same behaviour)."""
    try:
        from azure.keyvault.certificates._shared.async_challenge_auth_policy import (  # noqa: PLC0415
            AsyncChallengeAuthPolicy,
        )
    except ImportError:  # pragma: no cover - depends on the installed SDK
        return {}
    return {
        "policies": [
            UserAgentPolicy(sdk_moniker=f"keyvault-certificates/{_CERTIFICATES_VERSION}"),
            AsyncRedirectPolicy(),
            retry,
            AsyncChallengeAuthPolicy(credential, verify_challenge_resource=verify),
            SensitiveHeaderCleanupPolicy(),
        ]
    }


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """How long and how often one request is retried.

    Throttling (429) has its own budget in seconds, not in attempts: Key Vault counts its limits per
    10-second window, so what matters is outlasting a window or two, not how many times we knocked.
    30 seconds with waits of at most 8 seconds means a request is given up only after at least 22
    seconds of throttling. ``throttled_retries`` caps a service that keeps asking for tiny Retry-After
    values. 5xx and connection failures keep a short count: a vault that is really down should not hold
    the scan, and the next scan tries again anyway.
    """

    throttled_seconds: float = 30.0
    throttled_backoff: float = 1.0
    throttled_backoff_max: float = 8.0
    throttled_retries: int = 20
    status_retries: int = 4
    backoff_factor: float = 0.5
    backoff_max: int = 30


class _ThrottlingRetries(RetryPolicyBase):
    """azure-core's retry rules, with 429 retried for a span of time instead of a count.

    A 429 with ``Retry-After`` waits exactly that long (and gives up when that is beyond the budget); a
    429 without it waits an exponentially growing, jittered time, so the requests of many threads that
    were throttled together do not all come back in the same instant. Any method is retried on 429: the
    service did not process the request, so repeating it is safe even for a PATCH. Everything else (5xx,
    408, connection errors, Retry-After on other statuses) is the base policy's, with ``status_retries``.
    One class for the decisions, so the sync and the asyncio pipelines cannot drift apart; only the way
    they wait differs (:class:`ThrottlingRetryPolicy`, :class:`AsyncThrottlingRetryPolicy`).
    """

    def __init__(self, budget: RetryBudget | None = None, **kwargs: Any) -> None:
        self.budget = budget or RetryBudget()
        super().__init__(
            retry_total=self.budget.status_retries,
            retry_connect=self.budget.status_retries,
            retry_read=self.budget.status_retries,
            retry_status=self.budget.status_retries,
            retry_backoff_factor=self.budget.backoff_factor,
            retry_backoff_max=self.budget.backoff_max,
            **kwargs,
        )
        self._jitter = random.Random()  # noqa: S311 - spreading retries in time, not a secret

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        settings = super().configure_retries(options)
        settings.update(throttled=0, throttled_since=None, throttled_wait=0.0)
        return settings

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        if response.http_response.status_code == 429:
            return True  # whether there is time left is increment's decision
        return bool(super().is_retry(settings, response))

    def increment(
        self,
        settings: dict[str, Any],
        response: PipelineRequest[Any] | PipelineResponse[Any, Any] | None = None,
        error: Exception | None = None,
    ) -> bool:
        if error is None and isinstance(response, PipelineResponse) and response.http_response.status_code == 429:
            return self._increment_throttled(settings, response)
        return bool(super().increment(settings, response=response, error=error))

    def _increment_throttled(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        now = time.monotonic()
        if settings["throttled_since"] is None:
            settings["throttled_since"] = now
        settings["throttled"] += 1
        settings["history"].append(RequestHistory(response.http_request, http_response=response.http_response))
        remaining = self.budget.throttled_seconds - (now - settings["throttled_since"])
        if settings["throttled"] > self.budget.throttled_retries or remaining <= 0:
            return False
        retry_after = self.get_retry_after(response)
        if retry_after is not None:
            if retry_after > remaining:
                return False  # the service said when; waiting less would only be throttled again
            wait = max(0.0, retry_after)
        else:
            wait = min(remaining, self._throttled_backoff(settings["throttled"]))
        body = response.http_request.body
        if body is not None and hasattr(body, "read"):
            return False  # a stream cannot be sent twice (our bodies are bytes; the base policy's rule)
        settings["throttled_wait"] = wait
        return True

    def _throttled_backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half the step fixed, half random."""
        step = min(self.budget.throttled_backoff_max, self.budget.throttled_backoff * float(2 ** (attempt - 1)))
        return step / 2 + self._jitter.uniform(0, step / 2)


class ThrottlingRetryPolicy(_ThrottlingRetries, RetryPolicy[Any, Any]):
    """The sync pipelines' retries (Resource Manager, remediation, the few sync Key Vault reads)."""

    def sleep(
        self,
        settings: dict[str, Any],
        transport: HttpTransport[Any, Any],
        response: PipelineResponse[Any, Any] | None = None,
    ) -> None:
        if response is not None and response.http_response.status_code == 429:
            if settings["throttled_wait"] > 0:
                transport.sleep(settings["throttled_wait"])
            return
        super().sleep(settings, transport, response=response)


class AsyncThrottlingRetryPolicy(_ThrottlingRetries, AsyncRetryPolicy[Any, Any]):
    """The same retries for the asyncio Key Vault clients: a throttled request waits without a thread."""

    async def sleep(
        self,
        settings: dict[str, Any],
        transport: AsyncHttpTransport[Any, Any],
        response: PipelineResponse[Any, Any] | None = None,
    ) -> None:
        if response is not None and response.http_response.status_code == 429:
            if settings["throttled_wait"] > 0:
                await transport.sleep(settings["throttled_wait"])
            return
        await super().sleep(settings, transport, response=response)


CONNECTION_TIMEOUT = 10
READ_TIMEOUT = 60

# The SDK logs every request and response at INFO; at thousands of requests a scan that is noise (and
# CPU). Warnings and errors still come through.
for _noisy in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "msal"):
    # Only where nobody chose a level: the CLI silences all of ``azure`` unless -v, and names a credential
    # failure itself (with the fix), so the SDK's fifteen-line chained-credential warning stays out of it.
    if logging.getLogger(_noisy).level == logging.NOTSET:
        logging.getLogger(_noisy).setLevel(logging.WARNING)


class AzureClients:
    """Lazily built, reused SDK clients for one set of settings.

    ``retry`` sets how long a throttled request keeps trying (production: :class:`RetryBudget`'s
    defaults). ``transport`` replaces the shared ``requests`` session for every client, e.g. with one
    that replays recorded responses; the rest of the SDK pipeline (challenge, token, retries) stays."""

    def __init__(
        self,
        settings: Settings,
        credential: TokenCredential | None = None,
        *,
        retry: RetryBudget | None = None,
        transport: HttpTransport[Any, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry or RetryBudget()
        self._credential = credential
        self._own_transport = transport
        self._lock = threading.RLock()
        self._session: requests.Session | None = None
        self._subscription_client: SubscriptionClient | None = None
        self._vault_clients: dict[str, KeyVaultManagementClient] = {}
        self._loop = EventLoopThread(max_connections=self.max_connections)

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

    def _transport(self) -> HttpTransport[Any, Any]:
        if self._own_transport is not None:
            return self._own_transport
        transport: HttpTransport[Any, Any] = RequestsTransport(
            session=self._shared_session(),
            session_owner=False,
            connection_timeout=CONNECTION_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )
        return transport

    def _arm_options(self) -> dict[str, Any]:
        return {
            "base_url": self.settings.arm_endpoint,
            "credential_scopes": [self.settings.arm_scope],
            "transport": self._transport(),
            "retry_policy": ThrottlingRetryPolicy(self.retry),
            # After the retry policy, before the token: every attempt and redirect stays on ARM_ENDPOINT.
            "per_retry_policies": [ArmHostGuard(self.settings.arm_endpoint)],
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

    def certificates(self, vault_uri: str) -> VaultClient:
        """A client for one vault. Cheap to build (the transport and token cache are shared), so one is
        made per vault and per scan rather than kept for thousands of vaults. It carries its asyncio
        twin for the per-certificate reads (:func:`shared.azure.keyvault.read_vault`), with the same
        credential, challenge handling and retry budget.

        With challenge verification on, a URI outside the Key Vault domains is refused here too (the scan
        refuses it earlier, with a finding), so no caller can send it a token."""
        verify = self.settings.keyvault_verify_challenge_resource
        if verify:
            problem = untrusted_vault_host(vault_uri)
            if problem is not None:
                raise UntrustedHostError(problem)
        else:
            warn_vault_hosts_unchecked()
        credential = self.credential

        async def twin() -> AsyncCertificateClient:
            async_credential, retry = AsyncCredential(credential), AsyncThrottlingRetryPolicy(self.retry)
            return AsyncCertificateClient(
                vault_uri,
                async_credential,
                verify_challenge_resource=verify,
                transport=self._async_transport(),
                retry_policy=retry,
                **_lean_pipeline(async_credential, verify, retry),
            )

        return VaultClient(
            vault_uri,
            credential,
            aio=twin,
            loop=self._loop,
            verify_challenge_resource=verify,
            transport=self._transport(),
            retry_policy=ThrottlingRetryPolicy(self.retry),
        )

    def _async_transport(self) -> AsyncHttpTransport[Any, Any]:
        """A vault's own aiohttp session (closed with its client: see :class:`EventLoopThread`), or, with a
        replaced sync ``transport`` (recorded responses), that one driven from worker threads, so a replay
        sees the same requests either way. Called on the event loop."""
        if self._own_transport is not None:
            return SyncTransportAsAsync(self._own_transport)
        transport: AsyncHttpTransport[Any, Any] = AioHttpTransport(
            session=self._loop.session(connections=self.settings.requests_per_vault),
            session_owner=True,  # the client's close() closes the session and its connections
            connection_timeout=CONNECTION_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )
        return transport

    def close(self) -> None:
        with self._lock:
            self._loop.close()
            if self._session is not None:
                self._session.close()
                self._session = None
            self._subscription_client = None
            self._vault_clients.clear()
