"""What the service readers find: every service type's Key Vault references, what each reports serving,
and the hostnames each serves clients on (what ServedCertificate probes), read through the real
management pipeline from the fake Resource Manager's shapes (tests/fakeazure/services.py and
edge_services.py name the azure-rest-api-specs example of each)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from shared.azure.clients import AzureClients
from shared.azure.services import MAX_HOSTNAMES, ServiceRead, hostnames_of, read_services
from shared.settings import Settings
from tests.fakeazure import cert, estate, fault, subscription, vault
from tests.fakeazure.edge_services import (
    app_service_site,
    cdn_classic,
    cdn_domain,
    cdn_endpoint,
    container_apps_environment,
    environment_certificate,
    front_door_classic,
    frontend_endpoint,
    site_binding,
)
from tests.fakeazure.services import (
    api_management,
    apim_hostname,
    app_service_certificate,
    front_door,
    front_door_secret,
    gateway,
    ssl_certificate,
)

AUTO = [("AutoRenew", {"lifetime_percentage": 80})]


@pytest.fixture
def read(fake_azure: Any) -> Any:
    def run(services: list[dict[str, Any]], **sub_options: Any) -> ServiceRead:
        older = {"created_days_ago": 300, "expires_in_days": 65}
        sub = subscription(
            "Web",
            vault(
                "web-kv",
                {**cert("web-tls", "Self", AUTO), "older_versions": [older]},
                cert("api-tls", "Self", AUTO),
            ),
        )
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


def test_every_listed_name_reaches_the_probe_which_refuses_what_is_not_a_hostname() -> None:
    listed = [
        "OK.contoso.com.",
        "bad\x00.contoso.com",
        "two words.com",
        "a/b.com",
        "*.contoso.com",
        "bücher.de",
        7,
        " ",
    ]
    assert hostnames_of(listed) == (
        "ok.contoso.com",
        "bad\x00.contoso.com",
        "two words.com",
        "a/b.com",
        "*.contoso.com",
        "bücher.de",
    )


def test_the_new_service_types_are_read_with_what_they_serve(read: Any) -> None:
    result = read(
        [
            app_service_certificate("web-cert", "web-kv", "web-tls", host_names=["*.contoso.com"]),
            app_service_certificate("uploaded", thumbprint="CD" * 20),
            app_service_site(
                "shop",
                site_binding("shop.contoso.com", "web-kv", "web-tls"),
                site_binding("old.contoso.com", "web-kv", "web-tls", thumbprint="previous"),
                site_binding("off.contoso.com", "web-kv", "web-tls", ssl_state="Disabled"),
                site_binding("uploaded.contoso.com", thumbprint="CD" * 20),
            ),
            front_door_classic(
                "fd-classic",
                frontend_endpoint("www", "www.contoso.com", "web-kv", "web-tls"),
                frontend_endpoint("pinned", "pinned.contoso.com", "web-kv", "web-tls", version="previous"),
                frontend_endpoint("managed", "managed.contoso.com"),
            ),
            cdn_classic(
                "cdn-static",
                cdn_endpoint("static", cdn_domain("static-contoso", "static.contoso.com", "web-kv", "api-tls")),
            ),
            container_apps_environment(
                "aca-env",
                environment_certificate(
                    "aca-cert", "web-kv", "web-tls", served="previous", hostnames=["app.contoso.com"]
                ),
            ),
        ]
    )
    assert result.failures == []
    found = {(b.resource_type, b.binding): b for b in result.bindings}
    assert sorted(found) == [
        ("Microsoft.App/managedEnvironments/certificates", "aca-cert"),
        ("Microsoft.Cdn/profiles/endpoints/customDomains", "static-contoso"),
        ("Microsoft.Network/frontDoors", "pinned"),
        ("Microsoft.Network/frontDoors", "www"),
        ("Microsoft.Web/certificates", "web-cert"),
        ("Microsoft.Web/sites", "old.contoso.com"),
        ("Microsoft.Web/sites", "shop.contoso.com"),
    ]
    site_old = found[("Microsoft.Web/sites", "old.contoso.com")]
    site_new = found[("Microsoft.Web/sites", "shop.contoso.com")]
    assert site_new.certificate_name == site_old.certificate_name == "web-tls"
    assert site_new.thumbprint != site_old.thumbprint, "the old binding keeps the old thumbprint"
    assert site_old.reference == site_new.reference
    assert site_old.reference.endswith("/certificates/web-cert")
    assert found[("Microsoft.Network/frontDoors", "www")].version is None
    assert found[("Microsoft.Network/frontDoors", "pinned")].version is not None
    assert found[("Microsoft.Network/frontDoors", "www")].hostnames == ("www.contoso.com",)
    static = found[("Microsoft.Cdn/profiles/endpoints/customDomains", "static-contoso")]
    assert (static.vault_name, static.certificate_name, static.version) == ("web-kv", "api-tls", None)
    assert static.vault_resource_id
    assert static.vault_resource_id.endswith("/vaults/web-kv")
    aca = found[("Microsoft.App/managedEnvironments/certificates", "aca-cert")]
    assert aca.hostnames == ("app.contoso.com",)
    assert aca.thumbprint == site_old.thumbprint
    assert aca.served_expires_on is not None


@pytest.mark.parametrize(
    ("fault_op", "resource_type"),
    [
        ("webSites", "Microsoft.Web/sites"),
        ("frontDoors", "Microsoft.Network/frontDoors"),
        ("cdnEndpoints", "Microsoft.Cdn/profiles/endpoints/customDomains"),
        ("managedEnvironments", "Microsoft.App/managedEnvironments/certificates"),
        ("containerApps", "Microsoft.App/containerApps"),
    ],
)
def test_a_new_type_that_cannot_be_listed_is_named(read: Any, fault_op: str, resource_type: str) -> None:
    result = read(
        [
            app_service_certificate("web-cert", "web-kv", "web-tls"),
            app_service_site("shop", site_binding("shop.contoso.com", "web-kv", "web-tls")),
            cdn_classic("cdn", cdn_endpoint("e", cdn_domain("d", "d.contoso.com", "web-kv", "web-tls"))),
            container_apps_environment("env", environment_certificate("c", "web-kv", "web-tls", hostnames=["a.b"])),
        ],
        fault={fault_op: fault(403, "AuthorizationFailed")},
    )
    assert [f.resource_type for f in result.failures] == [resource_type]
    assert any(b.resource_type == "Microsoft.Web/certificates" for b in result.bindings), "other types still read"


GARBAGE: list[Any] = [None, 7, "text", [], {}, {"properties": None}, {"properties": []}, {"properties": {"x": 1}}]


@pytest.mark.parametrize("junk", GARBAGE, ids=repr)
def test_malformed_items_of_every_type_are_skipped_or_named_never_a_crash(junk: Any) -> None:
    from shared.azure.services import apim, cdn, containerapps, network, web

    sub = "00000000-0000-0000-0000-000000000000"
    item = junk if isinstance(junk, dict) else {"id": "/x", "properties": {"k": junk}}
    nested = {
        "id": "/subscriptions/s/resourceGroups/r/providers/P/t/n",
        "properties": {
            "sslCertificates": [junk, {"name": "c", "properties": {"keyVaultSecretId": junk}}],
            "httpListeners": [junk, {"properties": {"protocol": "Https", "sslCertificate": junk, "hostNames": junk}}],
            "hostnameConfigurations": [junk, {"hostName": junk, "keyVaultId": "https://kv.vault.azure.net/x"}],
            "frontendEndpoints": [junk, {"name": "e", "properties": {"customHttpsConfiguration": {
                "certificateSource": "AzureKeyVault", "keyVaultCertificateSourceParameters": junk}}}],
            "customHttpsParameters": {"certificateSource": "AzureKeyVault", "certificateSourceParameters": junk},
            "certificateKeyVaultProperties": {"keyVaultUrl": junk},
            "keyVaultId": junk,
            "thumbprint": junk,
            "expirationDate": junk,
        },
    }  # fmt: skip
    found = [
        *network._gateway(sub, item),
        *network._gateway(sub, nested),
        *apim._service(sub, item),
        *apim._service(sub, nested),
        *network._front_door(sub, item),
        *network._front_door(sub, nested),
        cdn._classic_domain(sub, {"id": "/e"}, nested),
        containerapps._certificate(sub, nested),
        *web.certificate_bindings(sub, [item, nested]),
    ]
    for binding in found:
        if binding is None:
            continue
        assert binding.problem is not None or binding.certificate_name, binding
        if binding.problem:
            assert "\n" not in binding.problem


@pytest.mark.parametrize(
    "hostile_id",
    [
        "https://attacker.example/subscriptions/s/resourceGroups/r/providers/Microsoft.Cdn/profiles/p",
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Cdn/profiles/p/../../../../../../x",
        "//attacker.example/subscriptions/s",
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Cdn/profiles/p?api-version=1#",
    ],
)
def test_an_id_in_an_answer_never_sends_a_request_elsewhere(read: Any, hostile_id: str) -> None:
    result = read([front_door("evil", front_door_secret("s", "web-kv", "web-tls"), id=hostile_id)])
    assert [f.resource_type for f in result.failures] == ["Microsoft.Cdn/profiles/secrets"]
    assert "is not a Resource Manager path" in result.failures[0].error.message
