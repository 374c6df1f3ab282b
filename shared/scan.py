"""The scan itself: discover → read → evaluate, into one :class:`ScanResult`.

Vaults are read concurrently (``SCAN_VAULT_CONCURRENCY`` at a time, each with at most
``SCAN_REQUESTS_PER_VAULT`` requests in flight), and each vault's certificates are turned into findings
as soon as the vault is done, so memory grows with the findings, not with the SDK objects.

The services that serve certificates (CertificateBinding) are listed per subscription while the vaults are
discovered; each reference is matched to its vault, and the vault's reader also fetches the current and
pinned versions of the certificates services reference, so those findings come out with the vault's.

Failures are data, not exceptions: a subscription or vault that cannot be listed, or a certificate that
cannot be read, becomes ``not_assessed`` findings and the scan ends ``partial``. The scan ends ``failed``
only when nothing at all could be read (no subscription list, no token).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared import rules
from shared.azure import discovery, probe, services
from shared.azure.clients import AzureClients
from shared.azure.keyvault import (
    VaultRead,
    VersionsRead,
    origin,
    read_error,
    read_vault,
)
from shared.azure.kvpending import read_pending_operations
from shared.azure.kvversions import list_certificate_versions
from shared.models import (
    Binding,
    Certificate,
    CertificateVersion,
    Finding,
    ReadError,
    Scan,
    ScanResult,
    ScanStatus,
    Status,
    Vault,
    count_by_status,
    new_scan_id,
    utcnow,
)
from shared.routes import RouteIndex, with_routes
from shared.settings import Settings
from shared.text import SINGLE_LINE_LOGS

log = logging.getLogger(__name__)
log.addFilter(SINGLE_LINE_LOGS)  # estate text in log arguments cannot forge a line


class ScanTargetError(ValueError):
    """The caller asked for something the estate does not have (e.g. a vault name no subscription holds)."""


@dataclass(frozen=True, slots=True)
class ScanTarget:
    """What to scan. Empty means everything the identity can read (or ``AZURE_SUBSCRIPTION_IDS``)."""

    subscription_ids: tuple[str, ...] = ()
    vault_names: tuple[str, ...] = ()


@dataclass(slots=True)
class Progress:
    """Counters a progress display can read while the scan runs."""

    vaults_total: int = 0
    vaults_done: int = 0
    certificates: int = 0


ProgressCallback = Callable[[Progress], None]
Remediator = Callable[[ScanResult], Sequence[Mapping[str, Any]]]


@dataclass(slots=True)
class _Collector:
    findings: list[Finding] = field(default_factory=list)
    subscriptions_failed: int = 0
    vaults_read: int = 0
    vaults_failed: int = 0
    certificates: int = 0
    routes: RouteIndex = field(default_factory=lambda: RouteIndex("alert-route"))
    # ServedCertificate: references with hostnames whose vault and certificate were read.
    served: list[tuple[Binding, rules.ServedTarget]] = field(default_factory=list)


def rule_options(settings: Settings) -> rules.RuleOptions:
    return rules.RuleOptions(expiry_warning_days=settings.expiry_warning_days, exempt_tags=settings.exempt_tags)


def scan_estate(
    settings: Settings,
    clients: AzureClients,
    *,
    target: ScanTarget = ScanTarget(),
    now: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> ScanResult:
    started = now or utcnow()
    scan = Scan(id=new_scan_id(started), started_at=started)
    options = rule_options(settings)
    collected = _Collector(routes=RouteIndex(settings.alert_route_tag))
    clock = time.monotonic()

    subscription_ids, failure = _subscriptions(settings, clients, target)
    if failure is not None:
        scan.problems.append(
            f"Could not list subscriptions ({failure.describe()}). {rules.error_hint(failure)}".strip()
        )
        return _finish(scan, collected, nothing_read=True)
    scan.subscriptions = list(subscription_ids)

    # The services that serve certificates are listed while the vaults are discovered (SPEC §2).
    workers = max(1, min(settings.vault_concurrency, len(subscription_ids)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="services") as service_pool:
        service_reads = [service_pool.submit(services.read_services, clients, s) for s in subscription_ids]
        discovered = _vaults(settings, clients, subscription_ids, collected)
        vaults = _select(discovered, target.vault_names)
        bindings = _bindings([f.result() for f in service_reads], discovered, vaults, started, collected)
    for vault in vaults:
        collected.routes.add_vault(vault)
    progress = Progress(vaults_total=len(vaults))
    if on_progress:
        on_progress(progress)

    with ThreadPoolExecutor(max_workers=settings.vault_concurrency, thread_name_prefix="vault") as pool:
        futures = [
            pool.submit(
                _read, clients, vault, settings.requests_per_vault, started, bindings.get(vault.name.lower(), [])
            )
            for vault in vaults
        ]
        for future in as_completed(futures):
            read = future.result()
            _evaluate(read, started, options, collected, bindings=bindings.get(read.vault.name.lower(), []))
            progress.vaults_done += 1
            progress.certificates = collected.certificates
            if on_progress:
                on_progress(progress)

    scan.vault_count = len(vaults)
    scan.probing = "on" if settings.probe_endpoints else "off"
    if settings.probe_endpoints:
        _check_served(settings, clients, collected, started)
    log.info(
        "Scanned %d certificates in %d vaults of %d subscriptions in %.1f s",
        collected.certificates,
        len(vaults),
        len(subscription_ids),
        time.monotonic() - clock,
    )
    # Failed means nothing at all could be read: every subscription refused, or every vault did.
    nothing_read = (bool(subscription_ids) and collected.subscriptions_failed == len(subscription_ids)) or (
        bool(vaults) and collected.vaults_read == 0
    )
    return _finish(scan, collected, nothing_read=nothing_read)


def _subscriptions(
    settings: Settings, clients: AzureClients, target: ScanTarget
) -> tuple[tuple[str, ...], ReadError | None]:
    chosen = target.subscription_ids or settings.subscription_ids
    if chosen:
        return tuple(dict.fromkeys(chosen)), None
    try:
        return tuple(s.id for s in discovery.list_subscriptions(clients)), None
    except Exception as exc:  # noqa: BLE001 - reported as a failed scan with the reason
        error = read_error(exc)
        log.warning("Could not list subscriptions: %s", error.describe())
        return (), error


def _vaults(
    settings: Settings, clients: AzureClients, subscription_ids: Sequence[str], collected: _Collector
) -> list[Vault]:
    def one(subscription_id: str) -> tuple[str, list[Vault] | ReadError]:
        try:
            return subscription_id, discovery.list_vaults(clients, subscription_id)
        except Exception as exc:  # noqa: BLE001 - becomes not_assessed findings for the subscription
            return subscription_id, read_error(exc)

    vaults: list[Vault] = []
    workers = max(1, min(settings.vault_concurrency, len(subscription_ids)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="subscription") as pool:
        for subscription_id, listed in pool.map(one, subscription_ids):
            if isinstance(listed, ReadError):
                log.warning("Could not list vaults of subscription %s: %s", subscription_id, listed.describe())
                collected.findings.extend(rules.unreadable_subscription(subscription_id, listed))
                collected.subscriptions_failed += 1
            else:
                vaults.extend(listed)
    return vaults


def _select(vaults: list[Vault], names: Iterable[str]) -> list[Vault]:
    wanted = {name.lower() for name in names}
    if not wanted:
        return vaults
    chosen = [v for v in vaults if v.name.lower() in wanted]
    missing = wanted - {v.name.lower() for v in chosen}
    if missing:
        raise ScanTargetError(
            f"No vault named {', '.join(sorted(missing))} in the scanned subscriptions ({len(vaults)} vaults found)."
        )
    return chosen


def _bindings(
    reads: Sequence[services.ServiceRead],
    discovered: Sequence[Vault],
    selected: Sequence[Vault],
    now: datetime,
    collected: _Collector,
) -> dict[str, list[Binding]]:
    """Every Key Vault reference, grouped by the scanned vault it names (key: vault name, lower-case).

    A reference is matched to a vault by its URI's scheme, host and port against the vaults' vaultUri, or
    by the vault's resource id (case-insensitive). A malformed reference, or one to a vault that is not
    among the scanned vaults, is judged here; one to a discovered vault left out by ``--vault`` is skipped.
    """
    by_uri = {origin(v.uri): v for v in discovered}
    by_id = {(v.resource_id or "").rstrip("/").lower(): v for v in discovered if v.resource_id}
    chosen = {v.name.lower() for v in selected}
    grouped: dict[str, list[Binding]] = {}
    for read in reads:
        collected.findings.extend(
            rules.unlistable_service_type(f.subscription_id, f.resource_type, f.error) for f in read.failures
        )
        for binding in read.bindings:
            vault = None
            if binding.vault_uri:
                vault = by_uri.get(origin(binding.vault_uri))
            elif binding.vault_resource_id:
                vault = by_id.get(binding.vault_resource_id.rstrip("/").lower())
            if binding.problem is not None or vault is None:
                collected.findings.append(rules.check_binding(binding, None, now=now))
            elif vault.name.lower() in chosen:
                grouped.setdefault(vault.name.lower(), []).append(binding)
    return grouped


def _read(
    clients: AzureClients, vault: Vault, requests_in_flight: int, now: datetime, bindings: Sequence[Binding]
) -> VaultRead:
    try:
        # Refuses (UntrustedHostError) a vault URI off the Key Vault domains before any request or token.
        client = clients.certificates(vault.uri)
    except Exception as exc:  # noqa: BLE001 - e.g. a malformed or untrusted vault URI from Resource Manager
        error = read_error(exc)
        log.warning("Could not open vault %s: %s", vault.name, error.describe())
        return VaultRead(vault=vault, error=error)
    # Versions only for certificates some service references (SPEC §2): the current one and pinned ones.
    referenced: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    for binding in bindings:
        if not binding.certificate_name:
            continue  # cannot happen: a binding without a certificate name has a problem
        name = names.setdefault(binding.certificate_name.lower(), binding.certificate_name)
        versions = referenced.setdefault(name, set())
        if binding.version:
            versions.add(binding.version)
    with client:
        read = read_vault(client, vault, requests_in_flight=requests_in_flight, referenced=referenced)
        # Why a renewal looks stuck is in its pending operation: read it for those certificates only.
        read.certificates = read_pending_operations(
            client,
            read.certificates,
            lambda certificate: rules.renewal_looks_stuck(certificate, now),
            requests_in_flight=requests_in_flight,
        )
        return read


def _evaluate(
    read: VaultRead,
    now: datetime,
    options: rules.RuleOptions,
    collected: _Collector,
    *,
    bindings: Sequence[Binding] = (),
) -> None:
    versions = read.versions
    certificates = read.certificates
    if versions:
        # The newest version of a referenced certificate is its current one: say when it is disabled.
        certificates = [_with_newest_version(c, versions.get(c.name.lower())) for c in certificates]
    collected.findings.extend(rules.evaluate_all(certificates, now=now, options=options))
    collected.routes.add_certificates(certificates)
    by_name = {c.name.lower(): c for c in certificates}
    for binding in bindings:
        name = (binding.certificate_name or "").lower()
        found = versions.get(name)
        target = rules.BindingTarget(
            vault=read.vault,
            certificate=by_name.get(name),
            current=found.current if found else None,
            pinned=found.pinned.get((binding.version or "").lower()) if found else None,
            certificate_missing=found.certificate_missing if found else False,
            version_missing=bool(found and binding.version and binding.version.lower() in found.missing_versions),
            plain_secret=found.plain_secret if found else None,
            error=(found.error if found else None) or (read.error if found is None else None),
        )
        collected.findings.append(rules.check_binding(binding, target, now=now))
        if binding.hostnames and found is not None and found.current is not None and found.error is None:
            served = rules.ServedTarget(vault=read.vault, current=found.current, certificate=by_name.get(name))
            collected.served.append((binding, served))
    collected.certificates += len(read.certificates)
    if read.error is not None:
        collected.vaults_failed += 1
        collected.findings.extend(rules.unreadable_vault(read.vault, read.error, listed=len(read.certificates)))
    else:
        collected.vaults_read += 1


def _check_served(settings: Settings, clients: AzureClients, collected: _Collector, now: datetime) -> None:
    """ServedCertificate (SPEC §2), one step after the vaults: probe every hostname of the references whose
    vault and certificate were read, list the versions of a certificate only where some address serves
    another thumbprint than its current version, and judge each (service, hostname)."""
    if not collected.served:
        return
    options = probe.ProbeOptions(
        timeout=settings.probe_timeout_seconds,
        concurrency=settings.probe_concurrency,
        connect_to=settings.probe_connect_to,
    )
    clock = time.monotonic()
    probes = probe.probe_hostnames((h for binding, _ in collected.served for h in binding.hostnames), options)
    log.info("Probed %d hostnames in %.1f s", len(probes), time.monotonic() - clock)
    wanted: dict[tuple[str, str], rules.ServedTarget] = {}
    for binding, target in collected.served:
        if any(rules.needs_versions(probes[h], target.current) for h in binding.hostnames):
            wanted.setdefault(_served_key(binding, target), target)
    versions = _read_all_versions(clients, list(wanted.items()), settings.vault_concurrency)
    for binding, read in collected.served:
        found = versions.get(_served_key(binding, read))
        target = (
            dataclasses.replace(read, versions_error=found)
            if isinstance(found, ReadError)
            else dataclasses.replace(read, versions=found)
            if found is not None
            else read
        )
        collected.findings.extend(rules.check_served(binding, probes[h], target, now=now) for h in binding.hostnames)


def _served_key(binding: Binding, target: rules.ServedTarget) -> tuple[str, str]:
    return target.vault.name.lower(), (binding.certificate_name or "").lower()


def _read_all_versions(
    clients: AzureClients, wanted: Sequence[tuple[tuple[str, str], rules.ServedTarget]], concurrency: int
) -> dict[tuple[str, str], tuple[CertificateVersion, ...] | ReadError]:
    """Each wanted certificate's version list, one client per vault, vaults read concurrently."""
    by_vault: dict[str, list[tuple[tuple[str, str], rules.ServedTarget]]] = {}
    for key, target in wanted:
        by_vault.setdefault(key[0], []).append((key, target))

    def one_vault(
        entries: list[tuple[tuple[str, str], rules.ServedTarget]],
    ) -> list[tuple[tuple[str, str], tuple[CertificateVersion, ...] | ReadError]]:
        vault = entries[0][1].vault
        try:
            client = clients.certificates(vault.uri)
        except Exception as exc:  # noqa: BLE001 - the rule says the versions could not be listed
            return [(key, read_error(exc)) for key, _ in entries]
        results: list[tuple[tuple[str, str], tuple[CertificateVersion, ...] | ReadError]] = []
        with client:
            for key, target in entries:
                name = target.certificate.name if target.certificate else key[1]
                try:
                    results.append((key, list_certificate_versions(client, vault, name)))
                except Exception as exc:  # noqa: BLE001 - becomes the finding's versions_error
                    results.append((key, read_error(exc)))
        return results

    found: dict[tuple[str, str], tuple[CertificateVersion, ...] | ReadError] = {}
    if not by_vault:
        return found
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(by_vault))), thread_name_prefix="versions") as pool:
        for results in pool.map(one_vault, by_vault.values()):
            found.update(results)
    return found


def _with_newest_version(certificate: Certificate, found: VersionsRead | None) -> Certificate:
    """What the current version read for a service tells the certificate rules: whether it is disabled,
    and which CA issued it (SPEC §4: a Self policy over a CA-issued certificate)."""
    if found is None or found.current is None:
        return certificate
    current = found.current
    return dataclasses.replace(
        certificate,
        newest_version_disabled=None if current.enabled is None else not current.enabled,
        issued_by_ca=current.issued_by_ca,
    )


def _finish(scan: Scan, collected: _Collector, *, nothing_read: bool) -> ScanResult:
    collected.findings = with_routes(collected.findings, collected.routes)  # every finding, bindings too
    scan.finished_at = utcnow()
    scan.certificate_count = collected.certificates
    scan.counts = count_by_status(collected.findings)
    if nothing_read:
        scan.status = ScanStatus.FAILED
    elif scan.counts[Status.NOT_ASSESSED.value]:
        scan.status = ScanStatus.PARTIAL
    else:
        scan.status = ScanStatus.COMPLETED
    return ScanResult(scan=scan, findings=collected.findings)
