"""Resource Manager requests stay on the ``ARM_ENDPOINT`` host: the one guard (SPEC §6, issue 19.2).

Every management request carries a token for Resource Manager. The URLs the scan follows are partly
written by whoever controls a resource: a ``nextLink`` in a list answer, a resource ``id`` used as the
base of the next list (a Front Door profile's secrets). An id written as an absolute URL
(``https://collector.example/subscriptions/...``) would make the SDK send the token there, because
azure-core keeps an absolute URL as it is.

Two layers, both here:
- :class:`ArmHostGuard`, a pipeline policy placed right after the retry policy of every management
  client (:class:`shared.azure.clients.AzureClients`), so it sees every attempt and every redirect before
  the authentication policy adds the token: a request to any other scheme, host or port is refused
  before it is sent. It catches what the SDKs' own paging follows (subscriptions, vaults).
- :func:`resource_path` and :func:`next_link` for the ids and links the app itself reads from answers:
  they must be paths below the endpoint (or, for a ``nextLink``, a URL on the endpoint's own origin), so
  the refusal is named where the bad value was read, with its own error code.

A refusal is an :class:`UntrustedHostError` carrying a :class:`ReadError` (``UntrustedArmHost``,
``UntrustedNextLink`` or ``UntrustedResourceId``): the subscription or service type becomes
``not_assessed`` with that code, and nothing was sent.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

from shared.azure.keyvault import UntrustedHostError, origin
from shared.models import ReadError
from shared.text import clean_text, single_line

# A Resource Manager id: a path of segments, no scheme, no host, no dot segments, no query.
_RESOURCE_PATH = re.compile(r"^/(?:subscriptions|providers)/[^/?#\\]+(?:/[^/?#\\]+)*/?$", re.IGNORECASE)


def _shown(value: str) -> str:
    text = clean_text(single_line(value)).strip()
    return repr(text if len(text) <= 120 else text[:119] + "…")


def _where(url: str) -> str:
    target = origin(url)
    return f"{target[0]}://{target[1]}:{target[2]}" if target else "an address without a host"


class ArmHostGuard(SansIOHTTPPolicy[Any, Any]):
    """Refuses, before the token is added, any management request whose scheme, host or port is not the
    ``ARM_ENDPOINT``'s."""

    def __init__(self, arm_endpoint: str) -> None:
        super().__init__()
        self.endpoint = arm_endpoint
        self._origin = origin(arm_endpoint)

    def on_request(self, request: PipelineRequest[Any]) -> None:
        url = request.http_request.url
        if origin(url) != self._origin:
            raise UntrustedHostError(
                ReadError(
                    "UntrustedArmHost",
                    f"a Resource Manager request was addressed to {_shown(_where(url))}, not to ARM_ENDPOINT "
                    f"{_shown(_where(self.endpoint))}; it was not sent (its token stays home)",
                )
            )


def resource_path(value: Any, what: str = "resource id") -> str:
    """A Resource Manager id read from an answer, as the path it must be (``/subscriptions/...``).

    Raises :class:`UntrustedHostError` (``UntrustedResourceId``) for anything else: an absolute URL, a
    scheme-relative ``//host/...``, a query, dot segments."""
    text = value.strip() if isinstance(value, str) else ""
    segments = text.split("/")
    if not _RESOURCE_PATH.match(text) or any(s in (".", "..") for s in segments):
        shown = _shown(text) if text else "(missing)"
        raise UntrustedHostError(
            ReadError("UntrustedResourceId", f"the {what} {shown} is not a Resource Manager path; nothing was sent")
        )
    return text.rstrip("/")


def next_link(value: Any, arm_endpoint: str) -> str:
    """A list answer's ``nextLink``, resolved against the endpoint, when it stays on the endpoint's
    scheme, host and port. Raises :class:`UntrustedHostError` (``UntrustedNextLink``) otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise UntrustedHostError(
            ReadError("UntrustedNextLink", "the list's nextLink is not a URL; it was not followed")
        )
    resolved = urljoin(arm_endpoint.rstrip("/") + "/", value.strip())
    if origin(resolved) != origin(arm_endpoint) or urlsplit(resolved).username is not None:
        message = f"the list's next page points to another host, {_shown(_where(resolved))}, not to ARM_ENDPOINT"
        raise UntrustedHostError(ReadError("UntrustedNextLink", f"{message}; it was not followed"))
    return resolved
