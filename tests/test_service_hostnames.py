"""The hostnames each Key Vault reference serves clients on (what ServedCertificate probes), read through
the real management pipeline from the fake Resource Manager's shapes (tests/fakeazure/services.py names
the azure-rest-api-specs example of each)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from shared.azure.clients import AzureClients
from shared.azure.services import MAX_HOSTNAMES, ServiceRead, hostnames_of, read_services
from shared.settings import Settings
from tests.fakeazure import cert, estate, fault, subscription, vault
from tests.fakeazure.services import (
    api_management,
    apim_hostname,
    front_door,
    front_door_secret,
    gateway,
    ssl_certificate,
)

AUTO = [("AutoRenew", {"lifetime_percentage": 80})]


@pytest.fixture
def read(fake_azure: Any) -> Any:
    def run(services: list[dict[str, Any]], **sub_options: Any) -> ServiceRead:
        sub = subscription("Web", vault("web-kv", cert("web-tls", "Self", AUTO), cert("api-tls", "Self", AUTO)))
        sub["services"] = services
        sub.update(sub_options)
        azure = fake_azure(estate(sub))
        environ = {k: v for k, v in os.environ.items() if k in ("ARM_ENDPOINT", "KEYVAULT_VERIFY_CHALLENGE_RESOURCE")}
        clients = AzureClients(Settings.from_env(environ))
        try:
            return read_services(clients, azure.estate.subscriptions[0].subscription_id)
        finally:
            clients.close()

    return run


def by_binding(result: ServiceRead) -> dict[str | None, tuple[str, ...]]:
    return {b.binding: b.hostnames for b in result.bindings}


def test_each_service_type_names_the_hostnames_its_reference_serves(read: Any) -> None:
    result = read(
        [
            gateway(
                "appgw-web",
                ssl_certificate("one-site", "web-kv", "web-tls", hostnames=["www.contoso.com"]),
                ssl_certificate("multi-site", "web-kv", "api-tls", hostnames=["a.contoso.com", "B.Contoso.com."]),
                ssl_certificate("no-listener", "web-kv", "web-tls"),
            ),
            front_door("fd-web", front_door_secret("fd-secret", "web-kv", "web-tls", hostnames=["shop.contoso.com"])),
            api_management("apim-web", apim_hostname("api.contoso.com", "web-kv", "api-tls")),
        ]
    )
    assert result.failures == []
    assert by_binding(result) == {
        "one-site": ("www.contoso.com",),
        "multi-site": ("a.contoso.com", "b.contoso.com"),
        "no-listener": (),
        "fd-secret": ("shop.contoso.com",),  # the profile's managed-certificate domain is not this secret's
        "api.contoso.com": ("api.contoso.com",),
    }


def test_custom_domains_that_cannot_be_listed_cost_only_the_hostnames(read: Any) -> None:
    result = read(
        [front_door("fd-web", front_door_secret("fd-secret", "web-kv", "web-tls", hostnames=["shop.contoso.com"]))],
        fault={"cdnCustomDomains": fault(403, "AuthorizationFailed")},
    )
    assert by_binding(result) == {"fd-secret": ()}
    assert [f.resource_type for f in result.failures] == ["Microsoft.Cdn/profiles/customDomains"]
    assert result.failures[0].error.status_code == 403


def test_a_listener_with_thousands_of_hostnames_is_bounded(read: Any) -> None:
    names = [f"host-{n}.contoso.com" for n in range(MAX_HOSTNAMES + 500)]
    result = read([gateway("appgw-big", ssl_certificate("big", "web-kv", "web-tls", hostnames=names))])
    assert by_binding(result)["big"] == tuple(names[:MAX_HOSTNAMES])


def test_names_that_are_not_hostnames_are_left_out_and_idn_and_wildcards_kept() -> None:
    listed = ["ok.contoso.com", "bad\x00.contoso.com", "two words.com", "a/b.com", "*.contoso.com", "bücher.de", 7]
    assert hostnames_of(listed) == ("ok.contoso.com", "*.contoso.com", "bücher.de")
