"""What a failed read becomes: one :class:`~shared.models.ReadError` with the service's code and a clean,
bounded, single-line message, never a URL's query, a header or a token.

Split from ``shared.azure.keyvault`` (which re-exports :func:`read_error` and :class:`UntrustedHostError`)
so that module stays readable; Resource Manager reads (discovery, services, remediation) use it too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from azure.core.exceptions import AzureError, DecodeError, HttpResponseError

from shared.models import ReadError
from shared.text import single_line

_WHITESPACE = re.compile(r"\s+")
MAX_ERROR_MESSAGE = 240


class UntrustedHostError(ValueError):
    """A vault URI or ``nextLink`` that the scan refuses to send a request (and a token) to."""

    def __init__(self, error: ReadError) -> None:
        super().__init__(error.message)
        self.error = error


def read_error(exc: BaseException) -> ReadError:
    """The service's error code and message, or the failure's kind: never a URL, header or token."""
    if isinstance(exc, UntrustedHostError):
        return exc.error
    if isinstance(exc, DecodeError):  # a 2xx whose body is not the JSON the SDK expects
        status = getattr(exc, "status_code", None)
        return ReadError(code="MalformedResponse", message="the response body is not valid JSON", status_code=status)
    # A credential that got no token is a ClientAuthenticationError (an HttpResponseError) with no response:
    # it is named below by its kind, not as an HTTP error without a code.
    if isinstance(exc, HttpResponseError) and exc.response is not None:
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
        return ReadError(code=_clean_code(str(code)), message=clean_message(first_line(message)), status_code=status)
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
        return ReadError(code=code, message=clean_message(first_line(exc.message)))
    if isinstance(exc, ValueError | KeyError | TypeError | AttributeError):
        return ReadError(code="MalformedResponse", message=clean_message(f"unexpected data: {first_line(str(exc))}"))
    return ReadError(code=type(exc).__name__, message=clean_message(first_line(str(exc))))


def _clean_code(code: str) -> str:
    """A service's error code is estate text like any other: one clean line, short."""
    code = _WHITESPACE.sub(" ", single_line(code)).strip()
    return (code if len(code) <= 120 else code[:119] + "…") or "Error"


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


def clean_message(text: str) -> str:
    """One line, bounded, and with any URL cut to its host: a SAS or token in a query never survives.
    Service messages are estate text too: lone surrogates and control characters go (shared.text)."""
    text = _URL.sub(lambda m: _host_only(m.group(0)), single_line(text))
    text = _WHITESPACE.sub(" ", text).strip()
    return text if len(text) <= MAX_ERROR_MESSAGE else text[: MAX_ERROR_MESSAGE - 1] + "…"


def _host_only(url: str) -> str:
    match = re.match(r"(https?://[^/?#\s]+)", url)
    return match.group(1) if match else "<url>"


def first_line(text: str) -> str:
    """The headline of a service message: Key Vault appends caller ids, addresses and resource ids on
    further lines, which help support but drown the reason a person reads."""
    return text.strip().splitlines()[0] if text.strip() else ""
