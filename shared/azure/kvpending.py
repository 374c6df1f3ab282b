"""Why a renewal looks stuck: the pending certificate operation of the certificates that need it.

Read only for those certificates (``GET {vault}/certificates/{name}/pending``), in the vault's own request
budget and on the same asyncio client as the vault's other reads (:mod:`shared.azure.keyvault`); a 404
``PendingCertificateNotFound`` says no renewal was even attempted, and a read that fails is said on the
certificate without changing anything else.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.rest import HttpRequest
from azure.keyvault.certificates.aio import CertificateClient as AsyncCertificateClient

from shared.azure.keyvault import _JSON, VaultClient, _get_json_async, read_error
from shared.azure.kverrors import clean_message as _clean
from shared.models import Certificate, PendingOperation
from shared.text import single_line

PENDING_NOT_FOUND = "PendingCertificateNotFound"


def read_pending_operations(
    client: VaultClient,
    certificates: list[Certificate],
    wanted: Callable[[Certificate], bool],
    *,
    requests_in_flight: int,
) -> list[Certificate]:
    """``certificates`` with :attr:`Certificate.pending` filled for those ``wanted`` says need it (the ones
    whose renewal looks stuck): one GET each, only for those, so a healthy vault costs nothing. The GETs
    run on the client's event loop, ``requests_in_flight`` at a time, like :func:`read_vault`'s."""
    chosen = [i for i, c in enumerate(certificates) if c.error is None and wanted(c)]
    if not chosen:
        return certificates

    async def read_all(aio: AsyncCertificateClient) -> list[PendingOperation]:
        slots = asyncio.Semaphore(max(1, requests_in_flight))

        async def one(name: str) -> PendingOperation:
            async with slots:
                return await _read_pending_async(aio, name)

        return list(await asyncio.gather(*(one(certificates[i].name) for i in chosen)))

    result = list(certificates)
    for index, operation in zip(chosen, client.run_async(read_all), strict=True):
        result[index] = dataclasses.replace(certificates[index], pending=operation)
    return result


async def _read_pending_async(client: AsyncCertificateClient, name: str) -> PendingOperation:
    """``GET {vault}/certificates/{name}/pending``: the certificate's pending operation (a creation or
    renewal request at its issuer). A 404 ``PendingCertificateNotFound`` is an answer (there is none), any
    other failure is kept as ``read_error``: the rules then say they could not tell."""
    try:
        data = await _get_json_async(client, _pending_request(name))
    except (AzureError, ValueError) as exc:
        return _pending_failure(exc)
    return _pending_operation(data)


def _pending_request(name: str) -> HttpRequest:
    return HttpRequest("GET", f"/certificates/{quote(name, safe='')}/pending", headers=_JSON)


def _pending_failure(exc: AzureError | ValueError) -> PendingOperation:
    error = read_error(exc)
    if (
        isinstance(exc, HttpResponseError)
        and exc.status_code == 404
        and PENDING_NOT_FOUND.lower() in error.code.lower()
    ):
        return PendingOperation(exists=False)
    return PendingOperation(exists=False, read_error=error)


def _pending_operation(data: Mapping[str, Any]) -> PendingOperation:
    error_body = data.get("error")
    error_body = error_body if isinstance(error_body, Mapping) else {}
    return PendingOperation(
        exists=True,
        status=_pending_text(data.get("status")),
        status_details=_pending_text(data.get("status_details")),
        error_code=_pending_text(error_body.get("code")),
        error_message=_pending_text(error_body.get("message")),
    )


def _pending_text(value: Any) -> str | None:
    """Issuer text is estate text: cleaned, one line, bounded, URLs cut to their host."""
    if not isinstance(value, str) or not value.strip():
        return None
    return _clean(single_line(value))


# --- versions of certificates that services reference (CertificateBinding) -----------------------------------
