"""Table I/O for the findings store: the clients, the entity codec and the one error funnel.

Every module of ``shared.store`` reads and writes through :class:`Tables`, so the service's limits and
failures are handled in one place:

* writes respect the Table service's limits even where Azurite does not enforce them: at most 100
  operations of one partition per transaction and at most ~3.5 MiB per request, string columns under
  64 KiB (UTF-16), entities under 1 MiB, far fewer than 252 properties (:class:`StoreLimits`); long
  text is cut into ``<name>_00``, ``<name>_01``... columns (:meth:`Tables.parts`, :func:`joined`), and a
  record too big for an entity has its longest texts cut with a visible marker (:meth:`Tables.shrink`);
* values are typed as the service stores them: times as ``Edm.DateTime`` (or ISO text outside its
  range), integers as Int32, Int64 or text (:func:`to_int`), JSON as compact ASCII (:func:`dumps`), so
  control characters, lone surrogates and any name round-trip exactly;
* every failure of the service (HTTP error, connection refused, timeout, token failure) becomes one
  :class:`StoreError` (:meth:`Tables.calling`) whose message names the operation and the service's error
  code and never contains a connection string, an account key or a SAS token.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import EntityProperty, TableClient, TableServiceClient, UpdateMode

from shared.models import isoformat, parse_time

Operation = tuple[str, dict[str, Any], dict[str, Any]]
"""One operation of an entity-group transaction: ("upsert" | "update" | "create" | "delete", entity, options)."""

SCHEMA_VERSION: Final = 1

# Client options for stores built here: a store that cannot be reached fails within a few seconds
# (3 retries: 0 s, 0.8 s, 1.6 s), not after the SDK's default 10 retries and 300 s timeouts.
CLIENT_OPTIONS: Final[Mapping[str, Any]] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 4,
    "connection_timeout": 5,
    "read_timeout": 60,
}

_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
_MAX_MICROS: Final = 10**19 - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_TABLE_TIME: Final = datetime(1601, 1, 2, tzinfo=UTC)  # Edm.DateTime starts at 1601-01-01
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SECRET_PAIR = re.compile(r"(?i)\b(AccountKey|SharedAccessSignature|sig|SharedAccessKey)=[^;&\s'\"]+")
_QUERY = re.compile(r"\?[^\s'\"]*=[^\s'\"]*")
_OS_ERROR = re.compile(r"\[Errno -?\d+\] ([^'\"\)\]]+)|Error\(-?\d+, '([^']+)'\)")


class StoreError(Exception):
    """The findings store could not do what was asked. ``str()`` is one line to show a person; it holds
    the service's error code when there is one and never a connection string, key or SAS token."""

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """How writes are cut to fit the Table service. The defaults are the service's limits with margin;
    tests shrink them to exercise paging and batching without writing megabytes."""

    batch_operations: int = 100  # entity-group transaction: at most 100 operations, one partition
    batch_bytes: int = 3_500_000  # ... and a 4 MiB request body (multipart overhead included)
    part_chars: int = 30_000  # one string column: 64 KiB of UTF-16; our JSON is ASCII
    page_parts: int = 16  # 16 x 60 KB < 1 MiB per entity, 20 properties << 252
    problem_chars: int = 4_000  # one problem (e.g. a webhook's error) in the scan row
    property_chars: int = 1_024  # typed copies of remediation fields

    @property
    def page_chars(self) -> int:
        return self.part_chars * self.page_parts


class Tables:
    """The four tables of one store and the only code that calls them. Tables are created on the first
    write; a table that does not exist yet reads as empty."""

    def __init__(
        self,
        service: TableServiceClient,
        *,
        scans_table: str,
        findings_table: str,
        remediations_table: str,
        alert_state_table: str,
        limits: StoreLimits,
        secrets_to_hide: Iterable[str],
    ) -> None:
        for name in (scans_table, findings_table, remediations_table, alert_state_table):
            if not _TABLE_NAME.match(name):
                raise StoreError(
                    f"{name!r} is not a valid table name (3-63 letters and digits, starting with a letter)"
                )
        self._service = service
        self.scans = service.get_table_client(scans_table)
        self.findings = service.get_table_client(findings_table)
        self.remediations = service.get_table_client(remediations_table)
        self.alert_state = service.get_table_client(alert_state_table)
        self.limits = limits
        self._hide = tuple(s for s in secrets_to_hide if s)
        self._created: set[str] = set()
        parts = urlsplit(service.url)
        self.endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")  # no query: it may hold a SAS

    def close(self) -> None:
        for client in (self.scans, self.findings, self.remediations, self.alert_state):
            client.close()
        self._service.close()

    def write_entities(
        self, table: TableClient, entities: list[dict[str, Any]], action: str, *, operation: str = "upsert"
    ) -> int:
        """Entities of one partition in transactions of at most batch_operations and batch_bytes each."""
        limits = self.limits
        batch: list[Operation] = []
        size = 0
        count = 0
        options: dict[str, Any] = {"mode": UpdateMode.REPLACE} if operation == "upsert" else {}
        for entity in entities:
            length = len(json.dumps(entity, default=str)) + 1_024
            if batch and (len(batch) >= limits.batch_operations or size + length > limits.batch_bytes):
                self.submit(table, batch, action)
                count += 1
                batch, size = [], 0
            batch.append((operation, entity, options))
            size += length
        if batch:
            self.submit(table, batch, action)
            count += 1
        return count

    def submit(self, table: TableClient, operations: list[Operation], action: str) -> None:
        with self.calling(action):
            table.submit_transaction(operations)

    def query(
        self,
        table: TableClient,
        partition: str,
        lower: str | None,
        upper: str | None,
        action: str,
        *,
        top: int | None = None,
        select: list[str] | None = None,
    ) -> Iterator[Any]:
        """Entities of one partition, optionally with ``lower <= RowKey < upper``, in RowKey order.
        A table that does not exist yet reads as empty."""
        query = "PartitionKey eq @pk"
        parameters: dict[str, Any] = {"pk": partition}
        if lower is not None:
            query += " and RowKey ge @lower"
            parameters["lower"] = lower
        if upper is not None:
            query += " and RowKey lt @upper"
            parameters["upper"] = upper
        with self.calling(action):
            try:
                pages = table.query_entities(
                    query, parameters=parameters, results_per_page=min(top or 1000, 1000), select=select
                )
                yield from pages
            except ResourceNotFoundError:
                return

    def ensure_tables(self, *tables: TableClient) -> None:
        for table in tables:
            if table.table_name in self._created:
                continue
            with self.calling(f"create table {table.table_name}"), suppress(ResourceExistsError):
                table.create_table()
            self._created.add(table.table_name)

    @contextmanager
    def calling(self, action: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except AzureError as error:
            raise self._error(action, error) from None

    def _error(self, action: str, error: AzureError) -> StoreError:
        code: str | None = None
        status: int | None = None
        if isinstance(error, HttpResponseError) and not isinstance(error, ClientAuthenticationError):
            status = error.status_code
            raw = getattr(error, "error_code", None)
            code = str((raw.value if isinstance(raw, Enum) else raw) or error.reason or status)
            first_line = (error.message or "").strip().splitlines()[0:1]
            said = first_line[0].rstrip(".") if first_line else ""
            if said.startswith("Operation returned an invalid status"):
                said = ""
            detail = f"HTTP {status} {code}" + (f": {said}" if said and said != code else "")
        elif isinstance(error, ServiceRequestError | ServiceResponseError):
            text = str(error.message or error)
            found = _OS_ERROR.search(text)
            if found:
                reason = (found.group(1) or found.group(2)).strip()
            elif "timed out" in text.lower():
                reason = "timed out"
            else:
                reason = (text.strip().splitlines() or [""])[0][:200]
            code = type(error).__name__
            detail = "the service could not be reached" + (f" ({reason.lower()})" if reason else "")
        elif isinstance(error, ClientAuthenticationError):
            code = "ClientAuthenticationError"
            detail = "no token could be obtained: " + (str(error.message or error).strip().splitlines() or [""])[0]
        else:
            code = type(error).__name__
            detail = (str(error.message or error).strip().splitlines() or [code])[0]
        return StoreError(
            f"Findings store at {self.endpoint}: could not {action}: {self._redact(detail)}",
            code=code,
            status_code=status,
        )

    def _redact(self, text: str) -> str:
        text = _QUERY.sub("?(query hidden)", text)
        text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}=(hidden)", text)
        for secret in self._hide:
            text = text.replace(secret, "(hidden)")
        return text[:500]

    def parts(self, name: str, text: str) -> dict[str, Any]:
        """ASCII text cut into string columns ``<name>_00``, ``<name>_01``... of at most part_chars each."""
        size = self.limits.part_chars
        chunks = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        columns: dict[str, Any] = {f"{name}_{i:02d}": chunk for i, chunk in enumerate(chunks)}
        columns[f"{name}_parts"] = len(chunks)
        return columns

    def shrink(self, data: dict[str, Any], budget: int) -> dict[str, Any]:
        """Cut the longest texts of ``data`` (with a visible marker) until its JSON fits ``budget``."""
        data = dict(data)
        while len(dumps(data)) > budget:
            texts = [(len(dumps(v)), k) for k, v in data.items() if isinstance(v, str) and len(v) > 1_000]
            if not texts:
                raise StoreError(f"A record is too large to store even with its texts shortened ({budget} characters)")
            escaped, name = max(texts)
            value: str = data[name]
            excess = len(dumps(data)) - budget + 200
            keep = max(0, min(len(value) // 2, int(len(value) * (escaped - excess) / escaped)))
            data[name] = (
                f"{value[:keep]}... [cut by the findings store: {len(value) - keep} of {len(value)} characters]"
            )
        return data

    def problems_json(self, problems: Iterable[str]) -> str:
        cap = self.limits.problem_chars
        cut = [p if len(p) <= cap else p[:cap] + f"... [{len(p) - cap} more characters]" for p in map(str, problems)]
        return self.list_json(cut, "problems")

    def list_json(self, items: Iterable[str], what: str) -> str:
        """JSON of a list that fits one column: the items that fit, then one saying how many did not."""
        kept: list[str] = []
        size = 2
        values = [str(item) for item in items]
        for index, value in enumerate(values):
            length = len(dumps(value)) + 1
            if size + length > self.limits.part_chars - 100:
                kept.append(f"... and {len(values) - index} more {what} not stored")
                break
            kept.append(value)
            size += length
        return dumps(kept)

    def typed(self, value: Any) -> Any:
        """A value as a typed Table column, or None if it is not a simple one."""
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return to_int(value)
        if isinstance(value, float):
            return value
        if isinstance(value, datetime):
            return table_time(value)
        if isinstance(value, str):
            return clean(value, self.limits.property_chars)
        return None


# ------------------------------------------------------------------------------------------- the codec


def digest(text: str) -> str:
    """40 hex characters of SHA-256: key-safe, fixed width, and the same for the same text (surrogates too)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def inverted(moment: datetime) -> str:
    """Fixed-width text that sorts later times first (micro-second resolution)."""
    micros = (utc(moment) - _EPOCH) // timedelta(microseconds=1)
    return f"{_MAX_MICROS - max(micros, 0):019d}"


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def table_time(moment: datetime) -> datetime | str:
    """A datetime column, or ISO text when the time is outside what Edm.DateTime holds."""
    try:
        moment = utc(moment)
    except (OverflowError, ValueError):
        return str(isoformat(moment))
    return moment if moment >= _MIN_TABLE_TIME else str(isoformat(moment))


def read_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):  # the SDK's TablesEntityDatetime: make it a plain datetime
        v = utc(value)
        return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=UTC)
    if isinstance(value, str) and value:
        return parse_time(value)
    return None


def as_time(value: Any) -> datetime | None:
    try:
        return read_time(value)
    except ValueError:
        return None


def to_int(value: Any) -> Any:
    """Int32 as is, larger integers as Int64, beyond that as text (never a serialisation error)."""
    number = int(value or 0)
    if -(2**31) <= number < 2**31:
        return number
    if -(2**63) <= number < 2**63:
        return EntityProperty(number, "Edm.Int64")
    return str(number)


def plain(entity: Mapping[str, Any]) -> dict[str, Any]:
    """Entity values as plain Python: Int64 properties unwrapped, Table datetimes as datetimes."""
    out: dict[str, Any] = {}
    for name, raw in entity.items():
        value = raw.value if isinstance(raw, EntityProperty) else raw
        out[name] = read_time(value) if isinstance(value, datetime) else value
    return out


def clean(text: str, limit: int) -> str:
    """Text safe for a string column: no control characters or lone surrogates, at most ``limit`` chars."""
    text = _CONTROL.sub("\ufffd", text.replace("\t", " ").replace("\r", " ").replace("\n", " "))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dumps(value: Any) -> str:
    """Compact ASCII JSON: every character outside ASCII (and every control) is a \\u escape."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)


def json_list(value: Any) -> list[str]:
    if not value:
        return []
    try:
        loaded = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return [str(value)]
    return [str(item) for item in loaded] if isinstance(loaded, list) else [str(loaded)]


def joined(entity: Mapping[str, Any], name: str) -> str:
    count = to_int(entity.get(f"{name}_parts"))
    return "".join(str(entity.get(f"{name}_{i:02d}") or "") for i in range(count))


def upsert(entity: dict[str, Any]) -> Operation:
    return ("upsert", entity, {"mode": UpdateMode.REPLACE})
