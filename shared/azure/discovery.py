"""Subscriptions and Key Vaults, from Resource Manager. The only module that touches management SDK types.

``vaults.list_by_subscription()`` is used rather than ``vaults.list()``: only the former returns the
vault's ``vaultUri`` (sovereign clouds and private endpoints have their own hosts; we never build it).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from shared.azure.clients import AzureClients
from shared.models import Vault
from shared.text import SINGLE_LINE_LOGS, clean_text, single_line

log = logging.getLogger(__name__)
log.addFilter(SINGLE_LINE_LOGS)  # estate text in log arguments cannot forge a line

_RESOURCE_GROUP = re.compile(r"/resourceGroups/([^/]+)/", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    display_name: str | None = None
    state: str | None = None


def list_subscriptions(clients: AzureClients) -> list[Subscription]:
    """Every subscription the identity can read and that is not disabled or deleted.

    Raises the SDK's exception when the listing fails: without subscriptions there is nothing to scan,
    and the caller decides how to report that.
    """
    found = []
    for item in clients.subscriptions().subscriptions.list():
        state = str(getattr(item.state, "value", item.state) or "")
        if state and state.lower() not in ("enabled", "pastdue", "warned"):
            log.info("Skipping subscription %s in state %s", item.subscription_id, state)
            continue
        if item.subscription_id:
            found.append(
                Subscription(
                    id=single_line(item.subscription_id),
                    display_name=_clean(item.display_name),
                    state=single_line(state) or None,
                )
            )
    return found


def _clean(value: str | None) -> str | None:
    """One clean line (no lone surrogate, control or bidirectional character), or None when empty."""
    return (single_line(value).strip() or None) if isinstance(value, str) else None


def list_vaults(clients: AzureClients, subscription_id: str) -> list[Vault]:
    """Every Key Vault of one subscription (all pages). Raises the SDK's exception on failure."""
    vaults = []
    for item in clients.vaults(subscription_id).vaults.list_by_subscription():
        # Names from Resource Manager are estate text: cleaned here, where they enter the app.
        name = _clean(item.name)
        uri = _clean(item.properties.vault_uri if item.properties else None)
        if not name or not uri:
            log.warning("Skipping vault %s in subscription %s: it has no vault URI", name, subscription_id)
            continue
        resource_id = _clean(item.id)
        match = _RESOURCE_GROUP.search(resource_id or "")
        vaults.append(
            Vault(
                subscription_id=subscription_id,
                name=name,
                uri=uri,
                resource_id=resource_id,
                resource_group=match.group(1) if match else None,
                location=_clean(item.location),
                tags={clean_text(str(k)): clean_text(str(v)) for k, v in (item.tags or {}).items()},
            )
        )
    return vaults
