"""How long each service may take to fetch a new certificate version from Key Vault (SPEC §2 "propagation
window"), from each service's documentation (FACTS.md names the pages). One table, read by every rule that
judges "still serving the old version": inside the window that is propagation, after it a failed pick-up.
"""

from __future__ import annotations

from datetime import timedelta

# Keys: Resource Manager types, lower-case (Binding.resource_type).
PROPAGATION_WINDOWS: dict[str, timedelta] = {
    "microsoft.network/applicationgateways": timedelta(hours=4),  # polls Key Vault every 4 h
    "microsoft.apimanagement/service": timedelta(hours=4),  # refreshes every 4 h
    "microsoft.cdn/profiles/secrets": timedelta(hours=24),  # Front Door Std/Premium "Latest" within 24 h
    "microsoft.cdn/profiles/customdomains": timedelta(hours=24),
    "microsoft.network/frontdoors": timedelta(hours=96),  # Front Door classic: 72-96 h
    "microsoft.cdn/profiles/endpoints/customdomains": timedelta(hours=72),  # classic CDN: up to 72 h
    "microsoft.web/certificates": timedelta(hours=48),  # App Service: within 24 h, users report 48 h
    "microsoft.web/sites": timedelta(hours=48),
    "microsoft.app/managedenvironments/certificates": timedelta(hours=24),  # Container Apps
}
# A type without a documented window gets the longest: better "propagating" a day too long than a false alarm.
DEFAULT_WINDOW = timedelta(hours=96)


def propagation_window(resource_type: str) -> timedelta:
    return PROPAGATION_WINDOWS.get(resource_type.lower(), DEFAULT_WINDOW)


def describe_window(window: timedelta) -> str:
    hours = int(window.total_seconds() // 3600)
    return f"{hours}-hour"
