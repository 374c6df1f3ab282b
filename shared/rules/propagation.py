"""How long each service may take to serve a new certificate version (SPEC §2, "propagation window"),
from each service's documentation: one table for CertificateBinding and ServedCertificate alike.

- Application Gateway polls Key Vault every 4 hours (application-gateway/key-vault-certs);
- API Management refreshes Key Vault certificates every 4 hours (api-management-howto-use-managed-service-identity);
- Front Door Standard/Premium deploys a "Latest" secret within 24 hours;
- Front Door (classic) within 72 to 96 hours (front-door-custom-domain-https);
- classic CDN within 72 hours (cdn-custom-ssl);
- App Service syncs within 24 hours, and users report up to 48 (configure-ssl-certificate), which
  holds for the sites' bindings too, since they follow their certificate resource;
- Container Apps within 24 hours.

Before the window has passed a service serving the previous version is "propagating", not stale.
"""

from __future__ import annotations

from datetime import timedelta

PROPAGATION_WINDOWS: dict[str, timedelta] = {
    "microsoft.network/applicationgateways": timedelta(hours=4),
    "microsoft.apimanagement/service": timedelta(hours=4),
    "microsoft.cdn/profiles/secrets": timedelta(hours=24),
    "microsoft.network/frontdoors": timedelta(hours=96),
    "microsoft.cdn/profiles/endpoints/customdomains": timedelta(hours=72),
    "microsoft.web/certificates": timedelta(hours=48),
    "microsoft.web/sites": timedelta(hours=48),
    "microsoft.app/managedenvironments/certificates": timedelta(hours=24),
}
# A type not in the table (none today) gets the most common window rather than none at all.
DEFAULT_WINDOW = timedelta(hours=24)


def propagation_window(resource_type: str) -> timedelta:
    """The window of a service type (case-insensitive, as Resource Manager spells types loosely)."""
    return PROPAGATION_WINDOWS.get(resource_type.lower(), DEFAULT_WINDOW)


def describe_window(window: timedelta) -> str:
    hours = int(window.total_seconds() // 3600)
    return f"{hours} hours"
