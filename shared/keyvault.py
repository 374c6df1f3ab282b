"""Certificates and policies of one vault, mapped into the app's records.

This is the only module that touches Key Vault data-plane SDK types. It reads each certificate's
properties from the list call and its issuance policy with one GET per certificate (the list carries no
policy), a bounded number of GETs in flight per vault. Throttling (429 + Retry-After) and 5xx are retried
by the SDK's retry policy; what still fails becomes a :class:`ReadError` on that certificate, so one bad
certificate never stops its vault and one bad vault never stops the scan.

Policies are parsed by the SDK. When the SDK refuses a policy (an action type it does not know, a field
of the wrong type), the same GET is repeated through the client's own pipeline and the JSON is read
tolerantly: an unknown action type is then reported as what it is ("none of which renews it") instead
of as "could not read".
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import AzureError, DecodeError, HttpResponseError
from azure.core.rest import HttpRequest
from azure.keyvault.certificates import CertificateClient, CertificatePolicy, CertificateProperties

from shared.models import Certificate, LifetimeAction, ReadError, Vault

log = logging.getLogger(__name__)

_WHITESPACE = re.compile(r"\s+")
MAX_ERROR_MESSAGE = 240


@dataclass(slots=True)
class VaultRead:
    """What reading one vault gave: its certificates (each possibly with its own error) and, when the
    listing itself failed, that error. Certificates listed before a listing failure are kept."""

    vault: Vault
    certificates: list[Certificate] = field(default_factory=list)
    error: ReadError | None = None


def read_vault(client: CertificateClient, vault: Vault, *, requests_in_flight: int) -> VaultRead:
    """List the vault's certificates and fetch each enabled one's policy, ``requests_in_flight`` at a time."""
    result = VaultRead(vault=vault)
    pending: list[tuple[CertificateProperties, Future[Certificate]]] = []
    with ThreadPoolExecutor(max_workers=requests_in_flight, thread_name_prefix=f"kv-{vault.name[:20]}") as pool:
        try:
            for properties in client.list_properties_of_certificates():
                if properties.enabled is False:
                    # A disabled certificate is not applicable to either rule: no need to read its policy.
                    pending.append((properties, _done(_certificate(vault, properties))))
                    continue
                pending.append((properties, pool.submit(_read_certificate, client, vault, properties)))
        except Exception as exc:  # noqa: BLE001 - any failure of the listing is reported, never raised
            result.error = read_error(exc)
            log.warning("Could not list certificates of vault %s: %s", vault.name, result.error.describe())
        for properties, future in pending:
            try:
                result.certificates.append(future.result())
            except Exception as exc:  # noqa: BLE001 - defensive: _read_certificate already catches
                result.certificates.append(_certificate(vault, properties, error=read_error(exc)))
    return result


def _done(value: Certificate) -> Future[Certificate]:
    future: Future[Certificate] = Future()
    future.set_result(value)
    return future


def _read_certificate(client: CertificateClient, vault: Vault, properties: CertificateProperties) -> Certificate:
    name = properties.name or ""
    try:
        policy = client.get_certificate_policy(name)
    except HttpResponseError as exc:
        return _certificate(vault, properties, error=read_error(exc))
    except AzureError as exc:
        return _certificate(vault, properties, error=read_error(exc))
    except Exception as exc:  # noqa: BLE001 - the SDK could not make sense of the policy
        log.info("The SDK could not parse the policy of %s/%s (%s); reading it as JSON", vault.name, name, exc)
        return _read_raw_policy(client, vault, properties)
    return _certificate(
        vault,
        properties,
        issuer=policy.issuer_name,
        lifetime_actions=_sdk_actions(policy),
        validity_months=policy.validity_in_months,
    )


def _sdk_actions(policy: CertificatePolicy) -> tuple[LifetimeAction, ...]:
    actions = []
    for action in policy.lifetime_actions or ():
        kind = str(getattr(action.action, "value", action.action) or "(none)")
        actions.append(
            LifetimeAction(
                action=kind,
                days_before_expiry=action.days_before_expiry,
                lifetime_percentage=action.lifetime_percentage,
            )
        )
    return tuple(actions)


def _read_raw_policy(client: CertificateClient, vault: Vault, properties: CertificateProperties) -> Certificate:
    name = properties.name or ""
    try:
        response = client.send_request(HttpRequest("GET", f"/certificates/{quote(name, safe='')}/policy"))
        response.raise_for_status()
        data = json.loads(response.text())
    except HttpResponseError as exc:
        return _certificate(vault, properties, error=read_error(exc))
    except (ValueError, AzureError) as exc:
        return _certificate(vault, properties, error=read_error(exc))
    if not isinstance(data, Mapping):
        return _certificate(
            vault, properties, error=ReadError("MalformedResponse", "the policy is not a JSON object", 200)
        )
    return _certificate(
        vault,
        properties,
        issuer=_text(_get(data, "issuer", "name")),
        lifetime_actions=tuple(_raw_actions(data.get("lifetime_actions"))),
        validity_months=_integer(_get(data, "x509_props", "validity_months")),
    )


def _raw_actions(value: Any) -> Iterator[LifetimeAction]:
    if not isinstance(value, list):
        return
    for item in value:
        if not isinstance(item, Mapping):
            continue
        yield LifetimeAction(
            action=_text(_get(item, "action", "action_type")) or "(none)",
            days_before_expiry=_integer(_get(item, "trigger", "days_before_expiry")),
            lifetime_percentage=_integer(_get(item, "trigger", "lifetime_percentage")),
        )


def _get(data: Mapping[str, Any], *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _certificate(
    vault: Vault,
    properties: CertificateProperties,
    *,
    issuer: str | None = None,
    lifetime_actions: tuple[LifetimeAction, ...] = (),
    validity_months: int | None = None,
    error: ReadError | None = None,
) -> Certificate:
    name = properties.name or ""
    return Certificate(
        vault=vault,
        name=name,
        id=f"{vault.uri.rstrip('/')}/certificates/{name}",
        enabled=properties.enabled,
        tags=dict(properties.tags or {}),
        not_before=_utc(properties.not_before),
        expires_on=_utc(properties.expires_on),
        issuer=issuer,
        lifetime_actions=lifetime_actions,
        validity_months=validity_months,
        error=error,
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_error(exc: BaseException) -> ReadError:
    """The service's error code and message, or the failure's kind: never a URL, header or token."""
    if isinstance(exc, DecodeError):  # a 2xx whose body is not the JSON the SDK expects
        status = getattr(exc, "status_code", None)
        return ReadError(code="MalformedResponse", message="the response body is not valid JSON", status_code=status)
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        code, message = None, None
        error = exc.error
        if error is not None:
            inner = getattr(error, "innererror", None) or {}
            inner_code = inner.get("code") if isinstance(inner, Mapping) else None
            code = f"{error.code} ({inner_code})" if error.code and inner_code else (inner_code or error.code)
            message = error.message
        if not code:
            code = _code_from_status(status)
        if not message:
            message = exc.reason or "no error message"
        return ReadError(code=str(code), message=_clean(_first_line(message)), status_code=status)
    if isinstance(exc, AzureError):
        kind = type(exc).__name__
        code = {
            "ServiceRequestError": "ConnectionFailed",
            "ServiceResponseError": "ResponseFailed",
            "ClientAuthenticationError": "AuthenticationFailed",
            "CredentialUnavailableError": "NoCredential",
            "DecodeError": "MalformedResponse",
            "DeserializationError": "MalformedResponse",
        }.get(kind, kind)
        return ReadError(code=code, message=_clean(_first_line(exc.message)))
    if isinstance(exc, ValueError | KeyError | TypeError | AttributeError):
        return ReadError(code="MalformedResponse", message=_clean(f"unexpected data: {_first_line(str(exc))}"))
    return ReadError(code=type(exc).__name__, message=_clean(_first_line(str(exc))))


def _code_from_status(status: int | None) -> str:
    return {
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        429: "TooManyRequests",
        500: "InternalServerError",
        502: "BadGateway",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }.get(status or 0, f"HTTP{status}" if status else "Error")


_URL = re.compile(r"https?://\S+")


def _clean(text: str) -> str:
    """One line, bounded, and with any URL cut to its host: a SAS or token in a query never survives."""
    text = _URL.sub(lambda m: _host_only(m.group(0)), text)
    text = _WHITESPACE.sub(" ", text).strip()
    return text if len(text) <= MAX_ERROR_MESSAGE else text[: MAX_ERROR_MESSAGE - 1] + "…"


def _host_only(url: str) -> str:
    match = re.match(r"(https?://[^/?#\s]+)", url)
    return match.group(1) if match else "<url>"


def _first_line(text: str) -> str:
    """The headline of a service message: Key Vault appends caller ids, addresses and resource ids on
    further lines, which help support but drown the reason a person reads."""
    return text.strip().splitlines()[0] if text.strip() else ""
