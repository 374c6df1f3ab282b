"""The not-assessed findings for what could not be read (a vault, a subscription, a service type) and the
hints that turn a service's error code into something to do.
"""

from __future__ import annotations

from typing import Any

from shared.models import (
    CERTIFICATE_RULE_IDS,
    Finding,
    ReadError,
    Severity,
    Status,
    Vault,
)


def unreadable_vault(vault: Vault, error: ReadError, *, listed: int = 0) -> list[Finding]:
    """A vault whose certificates could not be (all) listed: one ``not_assessed`` finding per rule.
    ``listed`` certificates came before the listing broke; they have findings of their own."""
    if listed:
        reason = (
            f"Listing the vault's certificates stopped after {listed} ({error.describe()}); "
            f"any further certificates were not assessed. {error_hint(error)}"
        ).strip()
    else:
        reason = f"Could not list the vault's certificates ({error.describe()}). {error_hint(error)}".strip()
    return _not_assessed_place(vault.subscription_id, vault, reason, error)


def unreadable_subscription(subscription_id: str, error: ReadError) -> list[Finding]:
    """A subscription whose vaults could not be listed: one ``not_assessed`` finding per rule."""
    reason = f"Could not list the subscription's Key Vaults ({error.describe()}). {error_hint(error)}".strip()
    return _not_assessed_place(subscription_id, None, reason, error)


def _not_assessed_place(subscription_id: str, vault: Vault | None, reason: str, error: ReadError) -> list[Finding]:
    """One ``not_assessed`` finding per rule for a place with no certificate to name."""
    return [unassessed_finding(rule_id, subscription_id, vault, reason, error) for rule_id in CERTIFICATE_RULE_IDS]


def unassessed_finding(
    rule_id: str, subscription_id: str, vault: Vault | None, reason: str, error: ReadError, **extra: Any
) -> Finding:
    """A ``not_assessed`` finding about a place (a subscription, a vault, a service type) rather than a
    certificate: nothing but the place, the reason and the service's error code is known."""
    return Finding(
        rule_id=rule_id,
        status=Status.NOT_ASSESSED,
        severity=Severity.HIGH,
        subscription_id=subscription_id,
        vault_name=vault.name if vault else None,
        vault_uri=vault.uri if vault else None,
        certificate_name=None,
        certificate_id=None,
        issuer=None,
        lifetime_action=None,
        days_before_expiry=None,
        lifetime_percentage=None,
        expires_on=None,
        reason=reason,
        vault_id=vault.resource_id if vault else None,
        error_code=error.code,
        **extra,
    )


def unreadable_reason(error: ReadError) -> str:
    return f"Could not read the certificate ({error.describe()}). {error_hint(error)}".strip()


def unreadable_policy_reason(error: ReadError) -> str:
    return f"Could not read the certificate's issuance policy ({error.describe()}). {error_hint(error)}".strip()


def error_hint(error: ReadError) -> str:
    """The one thing a person can do about a read error, as a sentence (empty when there is nothing to add)."""
    code = error.code.lower()
    if code in ("authenticationfailed", "nocredential"):
        return (
            "No Azure credential gave a token: sign in with `az login` when scanning from a terminal; in Azure, "
            "check the Function App's managed identity (AZURE_CLIENT_ID names a user-assigned one)."
        )
    if code == "untrustedvaulthost":
        return (
            "The scan sends tokens only to Key Vault hosts; check where this vault URI comes from "
            "(KEYVAULT_VERIFY_CHALLENGE_RESOURCE=false is meant for local emulators only)."
        )
    if code == "untrustednextlink":
        return (
            "The scan follows a list's next page only on the host that answered (the vault, or ARM_ENDPOINT for "
            "Resource Manager); if this persists, look for a proxy or DNS entry that rewrites the answers."
        )
    if code in ("untrustedarmhost", "untrustedresourceid"):
        return (
            "The scan sends Resource Manager tokens only to ARM_ENDPOINT, and reads resource ids only as paths "
            "below it; an id written as an absolute URL to another host is refused. Check the resource it names."
        )
    if "firewall" in code or "ipnotallowed" in code or "networkacl" in code:
        return "The vault's firewall refused the scanner; allow its network or trusted Azure services."
    if error.status_code == 403 or "forbidden" in code or "authorizationfailed" in code:
        return (
            "Grant the scanning identity Key Vault Reader (RBAC vaults) or certificate list and get "
            "permissions (access-policy vaults)."
        )
    if error.status_code == 404:
        return "It was deleted or moved while the scan ran."
    if error.status_code == 429:
        return "Key Vault kept throttling the scanner; the next scan will try again."
    if error.status_code and error.status_code >= 500:
        return "The service kept failing; the next scan will try again."
    return ""
