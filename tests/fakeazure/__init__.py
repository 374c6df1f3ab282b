"""A fake Azure (Key Vault, Resource Manager, App Service managed identity) over local HTTPS.

The production code reaches it through the real SDK clients, unchanged: ``FakeAzure.env`` holds the
environment that points ``DefaultAzureCredential``, ``ARM_ENDPOINT`` and TLS trust at the fake.
``python -m tests.fakeazure serve ...`` runs it as a separate process (demo, benchmark).
"""

from .estate import (
    DEFAULT_IDENTITY,
    DEFAULT_TENANT_ID,
    SAMPLE_ESTATE_PATH,
    Certificate,
    Estate,
    Fault,
    Subscription,
    Vault,
    access_policy_fault,
    cert,
    estate,
    fault,
    firewall_fault,
    lifetime_action,
    load_estate,
    plain_secret,
    policy,
    rbac_fault,
    sample_estate,
    stable_uuid,
    subscription,
    synthetic_estate,
    throttle_fault,
    throttle_window,
    vault,
)
from .server import FakeAzure, RecordedRequest, RequestLog, merge_policy, raise_open_files_limit, shared_tls

__all__ = [
    "DEFAULT_IDENTITY",
    "DEFAULT_TENANT_ID",
    "SAMPLE_ESTATE_PATH",
    "Certificate",
    "Estate",
    "FakeAzure",
    "Fault",
    "RecordedRequest",
    "RequestLog",
    "Subscription",
    "Vault",
    "access_policy_fault",
    "cert",
    "estate",
    "fault",
    "firewall_fault",
    "lifetime_action",
    "load_estate",
    "merge_policy",
    "plain_secret",
    "policy",
    "raise_open_files_limit",
    "rbac_fault",
    "sample_estate",
    "shared_tls",
    "stable_uuid",
    "subscription",
    "synthetic_estate",
    "throttle_fault",
    "throttle_window",
    "vault",
]
