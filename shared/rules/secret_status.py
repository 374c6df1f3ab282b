"""App Service's ``keyVaultSecretStatus``: what each value means and what to do about it (SPEC §2).

The eleven values of the ``KeyVaultSecretStatus`` enum in azure-rest-api-specs
``specification/web/resource-manager/Microsoft.Web/AppService/stable/2024-04-01/Certificates.json``.
``Succeeded`` and ``Initialized`` are healthy; each other value has its own cause and fix, because
"grant access" is wrong advice for a deleted vault or an unfinished certificate order.
"""

from __future__ import annotations

from dataclasses import dataclass

HEALTHY = frozenset({"succeeded", "initialized"})
# App Service reads vaults as the first-party "Microsoft Azure App Service" principal
# (Microsoft.Azure.WebSites, application id abfa0a7c-a6b6-4736-8310-5855508787cd) unless the
# certificate names its own identity.
_GRANT = (
    "Grant App Service's identity (the Microsoft.Azure.WebSites principal, abfa0a7c-a6b6-4736-8310-5855508787cd, "
    "or the identity the certificate names) the Key Vault Secrets User role on the vault, or Get on secrets in an "
    "access policy; if the vault has a firewall, allow trusted Microsoft services. Then sync the certificate."
)


@dataclass(frozen=True, slots=True)
class StatusAdvice:
    """What a status means (completes "App Service ...") and the fix (a full sentence)."""

    meaning: str
    fix: str


ADVICE: dict[str, StatusAdvice] = {
    "waitingoncertificateorder": StatusAdvice(
        "is waiting for its App Service Certificate order, which has not been issued yet",
        "Finish the order: complete the domain verification in the App Service Certificate blade, then sync.",
    ),
    "certificateorderfailed": StatusAdvice(
        "reports that its App Service Certificate order failed",
        "Open the App Service Certificate order, fix what it reports (domain verification, payment), and rekey or "
        "re-issue it; then sync the certificate.",
    ),
    "operationnotpermittedonkeyvault": StatusAdvice(
        "is not permitted to read the secret from the vault",
        _GRANT,
    ),
    "azureserviceunauthorizedtoaccesskeyvault": StatusAdvice(
        "is not authorised to access the vault",
        _GRANT,
    ),
    "keyvaultdoesnotexist": StatusAdvice(
        "cannot find the vault (deleted, moved or renamed)",
        "Recover the vault (soft delete keeps it for its retention period), or re-import the certificate from a vault "
        "that exists.",
    ),
    "keyvaultsecretdoesnotexist": StatusAdvice(
        "cannot find the secret in the vault (deleted or renamed)",
        "Recover the deleted certificate or secret in the vault, or re-import the App Service certificate from the "
        "secret that now holds it.",
    ),
    "externalprivatekey": StatusAdvice(
        "cannot use the certificate because its private key is not exportable (an external or HSM key)",
        "Re-create or re-import the certificate in Key Vault with an exportable key, which App Service needs.",
    ),
    "unknownerror": StatusAdvice(
        "hit an unknown error syncing from the vault",
        "Open the certificate in the App Service certificates blade and sync it; if the error stays, check the "
        "vault's access and firewall, then open a support case.",
    ),
    "unknown": StatusAdvice(
        "reports an unknown Key Vault status",
        "Open the certificate in the App Service certificates blade to see its state, and sync it.",
    ),
}


def advice_for(status: str) -> StatusAdvice:
    """The advice for a status; a value newer than this table is named as it is, with the generic fix."""
    found = ADVICE.get(status.strip().lower())
    if found is not None:
        return found
    return StatusAdvice(
        f"reports Key Vault status {status!r}, which this version does not know",
        "Open the certificate in the App Service certificates blade to see its state, and sync it.",
    )
