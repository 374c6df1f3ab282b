"""Every setting of SPEC §4, read and validated in one place.

This module is the only reader of ``os.environ`` in the app (azure-identity reads its own ``AZURE_*``
variables). A bad value stops start-up with one :class:`SettingsError` that names the setting, so a
typo in an app setting shows up as one clear line, not as a failure half-way through a scan. Secret
values (webhook URL, connection strings) never appear in an error message or a ``repr``.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

WebhookKind = Literal["auto", "teams", "slack", "generic"]
WEBHOOK_KINDS: tuple[str, ...] = ("auto", "teams", "slack", "generic")

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
DEFAULT_EXEMPT_TAGS = "autorenew-exempt=true,Issuer=Acmebot"
DEFAULT_SCAN_SCHEDULE = "0 0 6 * * *"

# Every name this module reads, so the infra tests can check the templates set exactly these.
SETTING_NAMES: tuple[str, ...] = (
    "AZURE_SUBSCRIPTION_IDS",
    "ARM_ENDPOINT",
    "KEYVAULT_VERIFY_CHALLENGE_RESOURCE",
    "FINDINGS_STORAGE_CONNECTION",
    "AzureWebJobsStorage",
    "FINDINGS_TABLE_ENDPOINT",
    "ALERT_WEBHOOK_URL",
    "ALERT_WEBHOOK_KIND",
    "EXPIRY_WARNING_DAYS",
    "EXEMPT_TAGS",
    "SCAN_SCHEDULE",
    "RETENTION_DAYS",
    "ALERT_ON_CLEAN",
    "AUTO_REMEDIATE",
    "SCAN_VAULT_CONCURRENCY",
    "SCAN_REQUESTS_PER_VAULT",
    "PORTAL_URL",
    "MAX_AUTO_REMEDIATIONS",
    "ALERT_ROUTES",
    "ALERT_ROUTE_TAG",
    "ALERT_REMIND_DAYS",
    "ALERT_MAX_ITEMS",
    "REPORT_URL",
    "LOGS_INGESTION_ENDPOINT",
    "LOGS_DCR_IMMUTABLE_ID",
    "LOGS_STREAM_NAME",
    "PROBE_ENDPOINTS",
    "PROBE_TIMEOUT_SECONDS",
    "PROBE_CONCURRENCY",
    "PROBE_CONNECT_TO",
)
DEFAULT_LOGS_STREAM_NAME = "Custom-AutoRenewGuardFindings"
# A data collection rule's immutable id: "dcr-" and 32 hex digits (Microsoft.Insights/dataCollectionRules
# properties.immutableId, e.g. "dcr-b74e0d383fc9415abaa584ec41adece3" in the REST spec's examples).
_DCR_IMMUTABLE_ID = re.compile(r"^dcr-[0-9a-fA-F]{32}$")
# Custom streams are "Custom-" and a name (letters, digits, '_' and '-').
_STREAM_NAME = re.compile(r"^Custom-[A-Za-z0-9_\-]{1,200}$")
KEYVAULT_REFERENCE_PREFIX = "@microsoft.keyvault("
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
# What urlsplit leaves in ``hostname`` for a usable host: a DNS name, an IPv4 address, or an IPv6 literal
# (urlsplit has checked the literal by then). Spaces, controls, ``%`` and the like are refused.
_HOST = re.compile(r"^(?:[\w\-]{1,63}(?:\.[\w\-]{1,63})*\.?|[0-9a-f:.]+)$")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NCRONTAB_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?]+$")


class SettingsError(ValueError):
    """A setting has a value the app cannot work with. ``str()`` is the one line to show."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"Setting {name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class AlertRoute:
    """One named webhook of ``ALERT_ROUTES``. The URL is a secret: it never shows in a ``repr``."""

    name: str
    url: str = field(repr=False)


def shown_url(value: str) -> str:
    """What an error message may show of a URL: its scheme and host, never a path, query or fragment
    (a SAS signature, a function key or a webhook token lives there). Never raises: it is called while
    reporting a bad value, which may be too malformed for ``urlsplit``."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:
        return "(not a URL; the value is not shown)"
    if parts.scheme in ("http", "https") and host and _HOST.match(host):
        return f"{parts.scheme}://{host}"
    return "(not a URL; the value is not shown)"


def parse_url(
    name: str,
    value: str,
    *,
    secret: bool = False,
    allow_query: bool = False,
    schemes: tuple[str, ...] = ("https",),
) -> str:
    """The one parser of every setting that holds a URL (SPEC §6): a value that ``urlsplit`` or its
    ``port`` would choke on later (an unbalanced ``[``, a port that is not a number from 1 to 65535, an
    IPv6 literal that is not one, a space in the host) is a :class:`SettingsError` naming the setting
    here, at start-up, instead of a ``ValueError`` traceback in whichever feature touches it first.

    ``secret``: the message shows nothing of the value (a webhook URL is a credential in itself);
    otherwise scheme and host at most. ``allow_query``: a link people open may carry a function key.
    Returns the value without a trailing slash."""
    wanted = "an " + " or ".join(f"{scheme}://" for scheme in schemes)

    def refuse(problem: str) -> SettingsError:
        shown = shown_url(value)
        if not secret:
            return SettingsError(name, f"{problem}, got {shown}")
        if shown.startswith("("):
            return SettingsError(name, f"{problem} (the value is not shown: it is a secret)")
        return SettingsError(name, f"{problem} (got {shown}; the rest of the value is not shown: it is a secret)")

    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        # urlsplit's own words ("Invalid IPv6 URL", "'::zz' does not appear to be an IPv6 address") may
        # quote the value: say what is wrong in our words.
        raise refuse(
            f"is not a valid URL: its host has an unbalanced '[' or is not an IPv6 address ({wanted} URL expected)"
        ) from None
    try:
        port = parts.port
    except ValueError:
        raise refuse("is not a valid URL: its port is not a number from 1 to 65535") from None
    if parts.scheme.lower() not in schemes or not host:
        raise refuse(f"must be {wanted} URL")
    if not _HOST.match(host):
        raise refuse("must be a URL whose host is a DNS name or an IP address")
    if port == 0 or (parts.netloc.endswith(":") and port is None):
        raise refuse("must be a URL with a port from 1 to 65535, or none")
    if not allow_query and (parts.query or parts.fragment or parts.username or parts.password):
        # An endpoint takes no query: one there is most likely a SAS token pasted by mistake, and the app
        # would send it on every request and print it in every error. Never repeat it.
        raise refuse(f"must be {wanted} URL without a query string or credentials")
    return value.rstrip("/")


def is_keyvault_reference(value: str | None) -> bool:
    """An app setting still reading ``@Microsoft.KeyVault(...)``: the platform could not resolve it."""
    return bool(value) and value.strip().lower().startswith(KEYVAULT_REFERENCE_PREFIX)  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class ConnectTo:
    """One ``PROBE_CONNECT_TO`` entry (curl's ``--connect-to``): a probe of ``host`` on ``port`` connects
    to ``connect_host``:``connect_port`` instead, still sending ``host`` as SNI. ``None`` is curl's empty
    field: any port, or the original host or port."""

    host: str
    port: int | None
    connect_host: str | None
    connect_port: int | None

    def matches(self, host: str, port: int) -> bool:
        return self.host == host.lower().rstrip(".") and self.port in (None, port)


@dataclass(frozen=True)
class Settings:
    subscription_ids: tuple[str, ...] = ()
    arm_endpoint: str = DEFAULT_ARM_ENDPOINT
    keyvault_verify_challenge_resource: bool = True
    storage_connection: str | None = field(default=None, repr=False)
    storage_connection_setting: str | None = None
    table_endpoint: str | None = None
    alert_webhook_url: str | None = field(default=None, repr=False)
    alert_webhook_kind: WebhookKind = "auto"
    expiry_warning_days: int = 30
    exempt_tags: tuple[tuple[str, str], ...] = (("autorenew-exempt", "true"), ("Issuer", "Acmebot"))
    scan_schedule: str = DEFAULT_SCAN_SCHEDULE
    retention_days: int = 90
    alert_on_clean: bool = False
    auto_remediate: bool = False
    vault_concurrency: int = 64
    requests_per_vault: int = 4
    portal_url: str = "https://portal.azure.com"
    max_auto_remediations: int = 25
    alert_routes: tuple[AlertRoute, ...] = ()
    alert_route_tag: str = "alert-route"
    alert_remind_days: int = 7
    alert_max_items: int = 50
    report_url: str | None = field(default=None, repr=False)
    probe_endpoints: bool = True
    probe_timeout_seconds: float = 10.0
    probe_concurrency: int = 32
    probe_connect_to: tuple[ConnectTo, ...] = ()
    # Why the alerts are off although a webhook is configured: an unresolved Key Vault reference (always),
    # or, when read with ``strict_alerts=False`` (the Functions app), any bad alert setting.
    alert_setting_error: str | None = None
    # SPEC §7: the export to Azure Monitor Logs, on when both the endpoint and the rule's id are set.
    logs_ingestion_endpoint: str | None = None
    logs_dcr_immutable_id: str | None = None
    logs_stream_name: str = DEFAULT_LOGS_STREAM_NAME
    # Why the export is off although configured (``strict_alerts=False``, the Functions app): a bad LOGS_*
    # setting stops only the export, never the scan, the store or the alerts.
    logs_setting_error: str | None = None

    @property
    def logs_export_configured(self) -> bool:
        return bool(self.logs_ingestion_endpoint and self.logs_dcr_immutable_id)

    # Why the scan cannot run (the Functions app only, ``strict_alerts=False``): a bad ``ARM_ENDPOINT``
    # stops the timer's scan with this message while the HTTP API keeps serving the stored scans.
    scan_setting_error: str | None = None

    @property
    def has_webhooks(self) -> bool:
        """A webhook to post to: ``ALERT_WEBHOOK_URL`` or a route of ``ALERT_ROUTES``."""
        return bool(self.alert_webhook_url or self.alert_routes)

    @property
    def arm_scope(self) -> str:
        """The token scope follows the endpoint: sovereign clouds and emulators get their own."""
        return self.arm_endpoint.rstrip("/") + "/.default"

    @property
    def store_configured(self) -> bool:
        return bool(self.storage_connection or self.table_endpoint)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, strict_alerts: bool = True) -> Settings:
        """Read and check every setting. ``strict_alerts=False`` (the Functions app) keeps a bad alert
        setting from failing everything else: it is kept in ``alert_setting_error`` and the alerts are
        off; a bad ``ARM_ENDPOINT`` likewise stops only the scan (``scan_setting_error``). An unresolved
        Key Vault reference for a webhook is the platform's state, not a typo, so it never raises, strict
        or not."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            if value is None:
                return None
            value = value.strip()
            return value or None

        connection, connection_setting = None, None
        for name in ("FINDINGS_STORAGE_CONNECTION", "AzureWebJobsStorage"):
            value = get(name)
            if value:
                connection, connection_setting = _connection_string(name, value), name
                break

        arm_endpoint, scan_setting_error = DEFAULT_ARM_ENDPOINT, None
        try:
            arm_endpoint = _https_url("ARM_ENDPOINT", get("ARM_ENDPOINT") or DEFAULT_ARM_ENDPOINT)
        except SettingsError as exc:
            if strict_alerts:
                raise
            scan_setting_error = f"{exc} The scan cannot run until it is fixed; the stored scans are still served."

        return cls(
            subscription_ids=_subscription_ids(get("AZURE_SUBSCRIPTION_IDS")),
            arm_endpoint=arm_endpoint,
            scan_setting_error=scan_setting_error,
            keyvault_verify_challenge_resource=_boolean(
                "KEYVAULT_VERIFY_CHALLENGE_RESOURCE", get("KEYVAULT_VERIFY_CHALLENGE_RESOURCE"), True
            ),
            storage_connection=connection,
            storage_connection_setting=connection_setting,
            table_endpoint=_optional_url("FINDINGS_TABLE_ENDPOINT", get("FINDINGS_TABLE_ENDPOINT")),
            **_alert_settings(get, strict=strict_alerts),
            **_logs_settings(get, strict=strict_alerts),
            expiry_warning_days=_integer("EXPIRY_WARNING_DAYS", get("EXPIRY_WARNING_DAYS"), 30, 0, 3650),
            exempt_tags=_exempt_tags(get("EXEMPT_TAGS") if "EXEMPT_TAGS" in env else DEFAULT_EXEMPT_TAGS),
            scan_schedule=_ncrontab(get("SCAN_SCHEDULE") or DEFAULT_SCAN_SCHEDULE),
            retention_days=_integer("RETENTION_DAYS", get("RETENTION_DAYS"), 90, 1, 3650),
            alert_on_clean=_boolean("ALERT_ON_CLEAN", get("ALERT_ON_CLEAN"), False),
            auto_remediate=_boolean("AUTO_REMEDIATE", get("AUTO_REMEDIATE"), False),
            vault_concurrency=_integer("SCAN_VAULT_CONCURRENCY", get("SCAN_VAULT_CONCURRENCY"), 64, 1, 256),
            requests_per_vault=_integer("SCAN_REQUESTS_PER_VAULT", get("SCAN_REQUESTS_PER_VAULT"), 4, 1, 64),
            portal_url=_https_url("PORTAL_URL", get("PORTAL_URL") or "https://portal.azure.com"),
            max_auto_remediations=_integer("MAX_AUTO_REMEDIATIONS", get("MAX_AUTO_REMEDIATIONS"), 25, 0, 10000),
            probe_endpoints=_boolean("PROBE_ENDPOINTS", get("PROBE_ENDPOINTS"), True),
            probe_timeout_seconds=_seconds("PROBE_TIMEOUT_SECONDS", get("PROBE_TIMEOUT_SECONDS"), 10.0, 0.1, 120.0),
            probe_concurrency=_integer("PROBE_CONCURRENCY", get("PROBE_CONCURRENCY"), 32, 1, 512),
            probe_connect_to=_connect_to(get("PROBE_CONNECT_TO")),
        )


def _alert_settings(get: Callable[[str], str | None], *, strict: bool) -> dict[str, Any]:
    """The alert settings, or none of them with the reason in ``alert_setting_error``."""
    unresolved = [name for name in ("ALERT_WEBHOOK_URL", "ALERT_ROUTES") if is_keyvault_reference(get(name))]
    try:
        values: dict[str, Any] = {
            "alert_webhook_url": None if "ALERT_WEBHOOK_URL" in unresolved else _webhook_url(get("ALERT_WEBHOOK_URL")),
            "alert_webhook_kind": _choice("ALERT_WEBHOOK_KIND", get("ALERT_WEBHOOK_KIND") or "auto"),
            "alert_routes": () if "ALERT_ROUTES" in unresolved else _alert_routes(get("ALERT_ROUTES")),
            "alert_route_tag": _tag_name("ALERT_ROUTE_TAG", get("ALERT_ROUTE_TAG") or "alert-route"),
            "alert_remind_days": _integer("ALERT_REMIND_DAYS", get("ALERT_REMIND_DAYS"), 7, 0, 365),
            "alert_max_items": _integer("ALERT_MAX_ITEMS", get("ALERT_MAX_ITEMS"), 50, 1, 1000),
            # A link people open: it may carry a function key (``?code=``), kept but never shown.
            "report_url": _optional_url("REPORT_URL", get("REPORT_URL"), allow_query=True),
        }
    except SettingsError as exc:
        if strict:
            raise
        return {"alert_setting_error": f"{exc} The alerts are off until it is fixed."}
    if unresolved:
        values["alert_setting_error"] = (
            f"Setting {' and '.join(unresolved)}: the Key Vault reference (@Microsoft.KeyVault(...)) did not "
            "resolve, so the alerts are off. Check that the app's identity can read the secret (Key Vault "
            "Secrets User on its vault) and that the secret exists; the scan and the HTTP API are unaffected."
        )
    return values


def _logs_settings(get: Callable[[str], str | None], *, strict: bool) -> dict[str, Any]:
    """The LOGS_* settings of SPEC §7, or none of them with the reason in ``logs_setting_error``."""
    try:
        endpoint = _optional_url("LOGS_INGESTION_ENDPOINT", get("LOGS_INGESTION_ENDPOINT"))
        rule_id = get("LOGS_DCR_IMMUTABLE_ID")
        if rule_id is not None and not _DCR_IMMUTABLE_ID.match(rule_id):
            raise SettingsError(
                "LOGS_DCR_IMMUTABLE_ID",
                f"must be a data collection rule's immutable id (dcr- and 32 hex digits), got {rule_id!r}",
            )
        stream = get("LOGS_STREAM_NAME") or DEFAULT_LOGS_STREAM_NAME
        if not _STREAM_NAME.match(stream):
            raise SettingsError("LOGS_STREAM_NAME", f"must be a custom stream name (Custom-...), got {stream!r}")
        if bool(endpoint) != bool(rule_id):
            given, missing = (
                ("LOGS_INGESTION_ENDPOINT", "LOGS_DCR_IMMUTABLE_ID")
                if endpoint
                else ("LOGS_DCR_IMMUTABLE_ID", "LOGS_INGESTION_ENDPOINT")
            )
            raise SettingsError(
                missing, f"is needed too: {given} is set, and the export to Azure Monitor Logs needs both"
            )
    except SettingsError as exc:
        if strict:
            raise
        return {"logs_setting_error": f"{exc} The export to Azure Monitor Logs is off until it is fixed."}
    return {"logs_ingestion_endpoint": endpoint, "logs_dcr_immutable_id": rule_id, "logs_stream_name": stream}


def _subscription_ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    ids: list[str] = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        ids.append(parse_subscription_id(part, "AZURE_SUBSCRIPTION_IDS"))
    return tuple(dict.fromkeys(ids))


def parse_subscription_id(value: str, name: str = "--subscription") -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise SettingsError(name, f"{value.strip()!r} is not a subscription id (a GUID)") from None


def _https_url(name: str, value: str, *, allow_query: bool = False) -> str:
    return parse_url(name, value, allow_query=allow_query)


def _optional_url(name: str, value: str | None, *, allow_query: bool = False) -> str | None:
    return _https_url(name, value, allow_query=allow_query) if value else None


def _webhook_url(value: str | None, name: str = "ALERT_WEBHOOK_URL") -> str | None:
    if not value:
        return None
    # The whole value is a secret (the token is in the path): nothing of it is repeated, the host included.
    return parse_url(name, value, secret=True, allow_query=True) and value


def _alert_routes(value: str | None) -> tuple[AlertRoute, ...]:
    """``name=URL`` pairs separated by ``;`` (URLs may hold commas and ``=``, never ``;`` unescaped)."""
    if not value:
        return ()
    routes: dict[str, AlertRoute] = {}
    for number, part in enumerate(filter(None, (p.strip() for p in value.split(";"))), start=1):
        name, sep, url = part.partition("=")
        name = name.strip()
        if not sep or not _ROUTE_NAME.match(name):
            raise SettingsError(
                "ALERT_ROUTES",
                f"entry {number} is not name=https://... (a name of letters, digits, '.', '_' or '-'); "
                "the value is not shown: it is a secret",
            )
        if name.lower() in routes:
            raise SettingsError("ALERT_ROUTES", f"the route {name!r} is defined twice")
        try:
            routes[name.lower()] = AlertRoute(name=name, url=_webhook_url(url.strip(), "ALERT_ROUTES") or "")
        except SettingsError as exc:
            problem = str(exc).removeprefix("Setting ALERT_ROUTES: ")
            raise SettingsError("ALERT_ROUTES", f"the URL of the route {name!r} {problem}") from None
        if not routes[name.lower()].url:
            raise SettingsError("ALERT_ROUTES", f"the route {name!r} has no URL")
    return tuple(routes.values())


def _tag_name(name: str, value: str) -> str:
    if len(value) > 512 or any(ch in value for ch in "<>%&\\?/") or not value.isprintable():
        raise SettingsError(name, f"must be an Azure tag name (up to 512 characters, none of <>%&\\?/), got {value!r}")
    return value


def _choice(name: str, value: str) -> WebhookKind:
    lowered = value.lower()
    if lowered not in WEBHOOK_KINDS:
        raise SettingsError(name, f"must be one of {', '.join(WEBHOOK_KINDS)}, got {value!r}")
    return lowered  # type: ignore[return-value]


def _boolean(name: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(name, f"must be true or false, got {value!r}")


def _integer(name: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(name, f"must be a whole number from {low} to {high}, got {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(name, f"must be a whole number from {low} to {high}, got {number}")
    return number


def _seconds(name: str, value: str | None, default: float, low: float, high: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not low <= number <= high:  # also refuses nan and inf
        raise SettingsError(name, f"must be a number of seconds from {low:g} to {high:g}, got {value!r}")
    return number


# One field of a --connect-to entry: a bracketed IPv6 address, or anything without a colon.
_CONNECT_FIELD = re.compile(r"\[[0-9A-Fa-f:.]+\]|[^:\[\]]*")


def _connect_to(value: str | None) -> tuple[ConnectTo, ...]:
    """``HOST:PORT:CONNECT_HOST:CONNECT_PORT`` entries separated by commas, as curl's ``--connect-to``
    takes them: an empty PORT matches any port, an empty CONNECT_HOST or CONNECT_PORT keeps the original;
    IPv6 addresses go in brackets (``[::1]``). HOST is required: a probe maps names, not everything."""
    if not value:
        return ()
    entries: list[ConnectTo] = []
    for number, part in enumerate(filter(None, (p.strip() for p in value.split(","))), start=1):
        fields_: list[str] = []
        position = 0
        while True:
            match = _CONNECT_FIELD.match(part, position)
            position = match.end() if match else position
            fields_.append(match.group() if match else "")
            if position >= len(part) or part[position] != ":":
                break
            position += 1
        if position != len(part) or len(fields_) != 4:
            raise SettingsError(
                "PROBE_CONNECT_TO",
                f"entry {number} ({part!r}) is not HOST:PORT:CONNECT_HOST:CONNECT_PORT "
                "(IPv6 addresses in brackets, e.g. www.contoso.com:443:[fd00::4]:443)",
            )
        host, port, connect_host, connect_port = fields_
        if not host or host.startswith("[") or not _probe_host(host):
            raise SettingsError("PROBE_CONNECT_TO", f"entry {number}: {host!r} is not a hostname to map")
        if connect_host and not connect_host.startswith("[") and not _probe_host(connect_host):
            raise SettingsError("PROBE_CONNECT_TO", f"entry {number}: {connect_host!r} is not a host to connect to")
        entries.append(
            ConnectTo(
                host=host.lower().rstrip("."),
                port=_port(number, port),
                connect_host=connect_host.strip("[]") or None,
                connect_port=_port(number, connect_port),
            )
        )
    return tuple(entries)


def _probe_host(value: str) -> bool:
    """A DNS name or IPv4 address: letters (any script: IDN), digits, dots, hyphens, no spaces or controls."""
    return len(value) <= 253 and all(ch.isalnum() or ch in ".-_" for ch in value)


def _port(number: int, value: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise SettingsError("PROBE_CONNECT_TO", f"entry {number}: port {value!r} is not a number from 1 to 65535")
    return int(value)


def _exempt_tags(value: str | None) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    pairs: list[tuple[str, str]] = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        key, sep, tag_value = part.partition("=")
        if not sep or not key.strip() or not tag_value.strip():
            raise SettingsError("EXEMPT_TAGS", f"expects key=value pairs separated by commas, got {part!r}")
        pairs.append((key.strip(), tag_value.strip()))
    return tuple(pairs)


def _ncrontab(value: str) -> str:
    fields_ = value.split()
    if len(fields_) != 6 or not all(_NCRONTAB_FIELD.match(f) for f in fields_):
        raise SettingsError(
            "SCAN_SCHEDULE",
            f"must be an NCRONTAB expression with six fields (second minute hour day month weekday), got {value!r}",
        )
    return " ".join(fields_)


def _connection_string(name: str, value: str) -> str:
    """Check the shape only; the message never repeats the value (it holds an account key)."""
    if value.lower().replace(" ", "") == "usedevelopmentstorage=true":
        return value
    pairs = {k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in value.split(";") if "=" in p)}
    keys = set(pairs)
    if pairs.get("tableendpoint"):
        # The SDK would split it on first use, far from the setting's name; http is fine here (Azurite).
        try:
            parse_url(name, pairs["tableendpoint"], schemes=("https", "http"))
        except SettingsError as exc:
            raise SettingsError(name, "its TableEndpoint " + str(exc).removeprefix(f"Setting {name}: ")) from None
    if not ({"accountname", "tableendpoint"} & keys):
        raise SettingsError(
            name,
            "is not a storage connection string (expected AccountName=...;AccountKey=... or TableEndpoint=...; "
            "the value is not shown: it is a secret)",
        )
    return value
