"""Replaying recorded Key Vault responses under the real SDK pipeline.

A ``requests`` adapter answers from recording files (tests/contract/recordings, each naming its source), so
everything above the socket is the production path: ``AzureClients``, the certificates SDK's challenge and
token handling, the retry policy, and the scan's own parsing. Only the network is replaced.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from azure.core.credentials import AccessToken
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPResponse

RECORDINGS = Path(__file__).with_name("recordings")
Entry = Mapping[str, Any]
Key = tuple[str, str, str | None]


def recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDINGS / name).read_text(encoding="utf-8"))
    return data


def key(method: str, url: str) -> Key:
    """Method, path and ``$skiptoken``: what identifies a request whatever api-version the client sends."""
    parts = urlsplit(url)
    skiptoken = parse_qs(parts.query).get("$skiptoken", [None])[0]
    return method.upper(), parts.path.rstrip("/") or "/", skiptoken


class Replay(BaseAdapter):
    """Answers an unauthenticated request with the recorded challenge and others from ``answers``: per key, a
    sequence of recorded entries served in turn, the last one again once they run out."""

    def __init__(self, challenge: Entry, answers: Mapping[Key, Sequence[Entry]]) -> None:
        super().__init__()
        self.challenge = challenge
        self.answers = {k: list(v) for k, v in answers.items()}
        self.served: dict[Key, int] = {}
        self.seen: list[requests.PreparedRequest] = []

    @classmethod
    def of(cls, challenge: Entry, *recorded: Entry) -> dict[Key, list[Entry]]:
        """Answers keyed by each recorded entry's own request URI."""
        answers: dict[Key, list[Entry]] = {}
        for entry in recorded:
            answers.setdefault(key(entry["RequestMethod"], entry["RequestUri"]), []).append(entry)
        return answers

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.seen.append(request)
        if "Authorization" not in request.headers:
            return self._response(request, self.challenge)
        wanted = key(request.method or "GET", request.url or "")
        entries = self.answers.get(wanted)
        if not entries:
            raise AssertionError(f"no recorded answer for {wanted}")
        index = self.served.get(wanted, 0)
        self.served[wanted] = index + 1
        return self._response(request, entries[min(index, len(entries) - 1)])

    def close(self) -> None:
        pass

    @property
    def authorized(self) -> list[requests.PreparedRequest]:
        return [r for r in self.seen if "Authorization" in r.headers]

    @staticmethod
    def _response(request: requests.PreparedRequest, entry: Entry) -> requests.Response:
        body = json.dumps(entry["ResponseBody"], separators=(",", ":")).encode()
        headers = dict(entry.get("ResponseHeaders") or {})
        headers["Content-Length"] = str(len(body))
        status = int(entry["StatusCode"])
        response = requests.Response()
        response.status_code = status
        response.reason = HTTPStatus(status).phrase
        response.headers = CaseInsensitiveDict(headers)
        response.raw = HTTPResponse(body=io.BytesIO(body), headers=headers, status=status, preload_content=False)
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response


class RecordedToken:
    """A credential for replays: the recordings' requests carried a token the replay never checks."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("recorded-token", 4102444800)


def session_for(replay: Replay) -> requests.Session:
    session = requests.Session()
    session.mount("https://", replay)
    return session
