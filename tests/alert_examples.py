"""A small, realistic scan for alert tests, and the generator of the alert examples in docs/.

The examples (``docs/examples/*-message.json`` and the text renderings in ``docs/ALERTS.md``) are not
written by hand: the real scan reads the demo estate (what ``make demo`` scans) through the fake Azure at a
pinned time, and the builders turn its digest into the messages. Regenerate them after changing a builder,
a rule's wording or the demo estate:

    python -m tests.alert_examples

``tests/test_alerts.py`` checks the committed files match what the builders produce now.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.alerts import build_messages, render
from shared.alerts.digest import Ongoing, make_digest
from shared.models import (
    RULE_AUTORENEW,
    RULE_BINDING,
    RULE_EXPIRY,
    Finding,
    Scan,
    ScanResult,
    ScanStatus,
    Severity,
    Status,
    count_by_status,
    entry_key,
)
from tests import sample_results
from tests.fakeazure import FakeAzure
from tests.fakeazure.estate import Estate, sample_estate
from tests.plugins.fake_azure import forget_keyvault_challenges

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
ALERTS_DOC = EXAMPLES.parent / "ALERTS.md"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
SUBSCRIPTION_2 = "11111111-1111-1111-1111-111111111111"
STARTED = datetime(2026, 11, 27, 6, 0, 0, tzinfo=UTC)


def finding(
    vault: str | None,
    certificate: str | None,
    *,
    rule_id: str = RULE_AUTORENEW,
    status: Status = Status.NON_COMPLIANT,
    severity: Severity = Severity.HIGH,
    reason: str = "Only EmailContacts is configured (3 days before expiry); set the lifetime action to AutoRenew.",
    subscription_id: str = SUBSCRIPTION,
    expires_on: datetime | None = datetime(2027, 1, 19, 8, 55, tzinfo=UTC),
    issuer: str | None = "Self",
    lifetime_action: str | None = "EmailContacts",
    with_vault_id: bool = True,
) -> Finding:
    """A finding as the rules would make it, in resource group ``rg-certs``; built by the shared sample builder."""
    return sample_results.finding(
        rule_id,
        status,
        severity,
        vault=vault,
        certificate=certificate,
        reason=reason,
        subscription_id=subscription_id,
        resource_group="rg-certs",
        issuer=issuer,
        action=lifetime_action,
        days_before_expiry=3 if lifetime_action else None,
        expires_in=expires_on - STARTED if expires_on is not None else None,
        now=STARTED,
        with_vault_id=with_vault_id,
    )


def result_of(
    findings: list[Finding], *, status: ScanStatus | None = None, problems: list[str] | None = None
) -> ScanResult:
    certificates = {(f.subscription_id, f.vault_name, f.certificate_name) for f in findings if f.certificate_name}
    vaults = {(f.subscription_id, f.vault_name) for f in findings if f.vault_name}
    counts = count_by_status(findings)
    if status is None:
        status = ScanStatus.PARTIAL if counts[Status.NOT_ASSESSED.value] else ScanStatus.COMPLETED
    scan = Scan(
        id="20261127T060000Z-5f3a9c1e",
        started_at=STARTED,
        finished_at=datetime(2026, 11, 27, 6, 1, 42, tzinfo=UTC),
        status=status,
        counts=counts,
        problems=list(problems or []),
        subscriptions=sorted({f.subscription_id for f in findings if f.subscription_id}),
        vault_count=len(vaults),
        certificate_count=len(certificates),
    )
    return ScanResult(scan=scan, findings=findings)


def example_result() -> ScanResult:
    """Five vaults in two subscriptions: the situations a real estate shows on a normal morning."""
    ok = "AutoRenew is set to renew the certificate 30 days before expiry."
    far = "The certificate expires on 2027-09-01, in 278 days."
    return result_of(
        [
            finding(
                "cc-webapp-key-vault",
                "cloudconformity",
                reason="Only EmailContacts is configured (3 days before expiry): Key Vault will email the "
                "contacts but not renew. Set the lifetime action to AutoRenew.",
            ),
            finding(
                "cc-webapp-key-vault",
                "cloudconformity",
                rule_id=RULE_EXPIRY,
                severity=Severity.CRITICAL,
                expires_on=datetime(2026, 11, 20, 8, 55, tzinfo=UTC),
                reason="The certificate expired on 2026-11-20 (7 days ago); replace it now.",
            ),
            finding(
                "payments-kv",
                "api-payments-contoso-com",
                issuer="Unknown",
                lifetime_action=None,
                expires_on=datetime(2027, 3, 2, tzinfo=UTC),
                reason="The issuer is Unknown (an imported certificate, or a CA Key Vault is not partnered "
                "with), so Key Vault cannot renew it; issue it from an integrated CA, or renew it elsewhere "
                "and tag it autorenew-exempt=true.",
            ),
            finding(
                "payments-kv",
                "api-payments-contoso-com",
                rule_id=RULE_EXPIRY,
                severity=Severity.MEDIUM,
                expires_on=datetime(2026, 12, 20, tzinfo=UTC),
                reason="The certificate expires on 2026-12-20, in 23 days.",
            ),
            finding(
                "kv-legacy-weu",
                None,
                status=Status.NOT_ASSESSED,
                subscription_id=SUBSCRIPTION_2,
                issuer=None,
                lifetime_action=None,
                expires_on=None,
                reason="Could not list the vault's certificates (HTTP 403 ForbiddenByFirewall: Client address "
                "is not authorized and caller is not a trusted service). Allow trusted Microsoft services "
                "or the app's outbound addresses in the vault's firewall.",
            ),
            finding(
                "kv-legacy-weu",
                None,
                rule_id=RULE_EXPIRY,
                status=Status.NOT_ASSESSED,
                subscription_id=SUBSCRIPTION_2,
                issuer=None,
                lifetime_action=None,
                expires_on=None,
                reason="Could not list the vault's certificates (HTTP 403 ForbiddenByFirewall: Client address "
                "is not authorized and caller is not a trusted service). Allow trusted Microsoft services "
                "or the app's outbound addresses in the vault's firewall.",
            ),
            finding("kv-shared-tls", "wildcard-contoso-com", status=Status.COMPLIANT, reason=ok),
            finding("kv-shared-tls", "wildcard-contoso-com", rule_id=RULE_EXPIRY, status=Status.COMPLIANT, reason=far),
            finding(
                "kv-shared-tls",
                "acme-contoso-net",
                status=Status.EXEMPT,
                reason="The certificate is exempt from this rule by its tag Issuer=Acmebot; its expiry is still "
                "checked.",
            ),
            finding("kv-shared-tls", "acme-contoso-net", rule_id=RULE_EXPIRY, status=Status.COMPLIANT, reason=far),
        ]
    )


def example_binding() -> Finding:
    """An Application Gateway pinned to an old version of cloudconformity: joins that certificate's entry."""
    base = finding(
        "cc-webapp-key-vault",
        "cloudconformity",
        rule_id=RULE_BINDING,
        reason="Application Gateway agw-webapp-prod (listener-cloudconformity) serves version 4f1c… of "
        "cloudconformity, which expired on 2026-11-20; the vault's current version is 9a2e…, created "
        "2026-11-19. Use the versionless secret id so the gateway follows renewals.",
    )
    return replace(
        base,
        resource_id=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-web/providers/Microsoft.Network/"
        "applicationGateways/agw-webapp-prod",
        resource_type="Microsoft.Network/applicationGateways",
        binding="listener-cloudconformity",
        bound_version="4f1c",
        current_version="9a2e",
    )


def morning_digest(
    kind: str, result: ScanResult, *, new: set[str], worse: set[str], remediated: str, **options: Any
) -> list[dict[str, Any]]:
    """A morning's digest to the central webhook: ``new`` and ``worse`` finding keys marked, three ongoing,
    one fixed, an undefined-route note and one auto-remediation of ``remediated`` (``vault/certificate``)."""
    vault_name, certificate_name = remediated.split("/")
    digest = make_digest(
        result,
        marks={**dict.fromkeys(new, "new"), **dict.fromkeys(worse, "worse")},
        listed={entry_key(f) for f in result.problems},
        ongoing=Ongoing(3, STARTED - timedelta(days=5), STARTED - timedelta(days=2)),
        remind_days=7,
        fixed=1,
        notes=[
            "Route 'team-identity' is not defined: 2 problems are tagged alert-route=team-identity, but "
            "ALERT_ROUTES has no route of that name, so only this channel got them. Add the route to "
            "ALERT_ROUTES or fix the tag."
        ],
        remediations=[
            {
                "vault_name": vault_name,
                "certificate_name": certificate_name,
                "before": "EmailContacts at 90% of lifetime",
                "after": "AutoRenew at 80% of lifetime",
                "outcome": "applied",
            }
        ],
        report_url="https://func-autorenew-guard.azurewebsites.net/api/report",
        **options,
    )
    return render(kind, digest)


def example_messages(kind: str) -> list[dict[str, Any]]:
    """A morning's digest to the central webhook: two entries new, one worse, three ongoing, one fixed."""
    result = example_result()
    result = replace(result, findings=[*result.findings, example_binding()])
    return morning_digest(
        kind,
        result,
        new={f.key for f in result.problems if f.vault_name == "payments-kv" or f.rule_id == RULE_BINDING},
        worse={f.key for f in result.problems if f.vault_name == "kv-legacy-weu"},
        remediated="kv-shared-tls/intranet-contoso-com",
    )


def example_full_messages(kind: str) -> list[dict[str, Any]]:
    """The full digest (``POST /api/alerts``) of the example scan."""
    result = example_result()
    return build_messages(
        kind,
        result,
        marks=dict.fromkeys((f.key for f in result.problems), "new"),
        report_url="https://func.example/api/report",
    )


# --- the docs' examples: the demo estate, scanned ----------------------------------------------------------

DEMO_SCAN_ID = "20261127T060000Z-5f3a9c1e"


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """The fake's variables (endpoints, managed identity, CA bundle) and no developer credential, restored after."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.upper().startswith(("AZURE_", "MSI_", "IDENTITY_", "IMDS_", "ALERT_", "FINDINGS_")):
            del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def demo_result() -> ScanResult:
    """The demo estate scanned by the app's own scan, through the real SDK clients and the fake Azure, at
    :data:`STARTED`. Thumbprints are the estate's synthetic ones, so the text is the same on every run."""
    from shared.azure.clients import AzureClients
    from shared.scan import scan_estate
    from shared.settings import Settings

    data = sample_estate()
    data["thumbprints"] = "synthetic"
    # No TLS probe: the frontends serve real certificates, whose thumbprints are not the synthetic ones,
    # and their local addresses would show in the text (ServedCertificate is in docs/report-services.png).
    with (
        FakeAzure(Estate.from_dict(data, now=STARTED)) as azure,
        _environment({**azure.env, "PROBE_ENDPOINTS": "false"}),
    ):
        forget_keyvault_challenges()
        settings = Settings.from_env()
        clients = AzureClients(settings)
        try:
            result = scan_estate(settings, clients, now=STARTED)
        finally:
            clients.close()
            forget_keyvault_challenges()
        # The fake serves each vault on a local port; the docs show the vault's address in Azure.
        hosts = {
            azure.vault_uri(v.name): f"https://{v.name}.vault.azure.net/"
            for sub in azure.estate.subscriptions
            for v in sub.vaults
        }
    result.scan.id = DEMO_SCAN_ID  # the random part of a scan id, and the finish time of a real scan
    result.scan.finished_at = STARTED + timedelta(minutes=1, seconds=42)
    return replace(result, findings=[_in_azure(f, hosts) for f in result.findings])


def _in_azure(finding: Finding, hosts: Mapping[str, str]) -> Finding:
    changes: dict[str, Any] = {}
    for name in ("vault_uri", "certificate_id", "reason"):
        value = getattr(finding, name)
        if isinstance(value, str):
            for local, real in hosts.items():
                value = value.replace(local, real)
            changes[name] = value
    return replace(finding, **changes)


def demo_messages(kind: str, result: ScanResult) -> list[dict[str, Any]]:
    """A morning's digest of the demo scan to the central webhook: the Front Door and payments problems new,
    the unreadable vaults worse, three ongoing, one fixed, a note and an auto-remediation."""
    problems = result.problems
    return morning_digest(
        kind,
        result,
        new={
            f.key
            for f in problems
            if f.vault_name is None or "pay" in (f.vault_name or "") or f.rule_id == RULE_BINDING
        },
        worse={f.key for f in problems if f.status == Status.NOT_ASSESSED},
        remediated="cc-webapp-key-vault/intranet",
        max_items=8,
    )


def teams_text(message: Mapping[str, Any]) -> str:
    """What the Teams card says, as plain lines (buttons in brackets, separators as rules): the text of
    docs/ALERTS.md, read from the card the builder made rather than drawn by hand."""
    lines: list[str] = []

    def walk(element: Mapping[str, Any]) -> None:
        kind = element.get("type")
        if element.get("separator"):
            lines.append("─" * 78)
        if kind == "TextBlock":
            lines.append(str(element.get("text", "")))
        elif kind == "RichTextBlock":
            lines.append("".join(str(run.get("text", "")) for run in element.get("inlines", [])))
        elif kind == "ActionSet":
            lines.append("  ".join(f"[ {a.get('title')} ]" for a in element.get("actions", [])))
        for child in (*element.get("body", []), *element.get("items", []), *element.get("columns", [])):
            walk(child)

    walk(message["attachments"][0]["content"])
    return "\n".join(lines)


def slack_text(message: Mapping[str, Any]) -> str:
    """What the Slack message says, block by block, as plain lines."""
    lines: list[str] = []
    for block in message["blocks"]:
        kind = block["type"]
        if kind == "divider":
            lines.append("─" * 40)
        elif kind in ("header", "section"):
            lines.append(str(block["text"]["text"]))
        elif kind == "context":
            lines.append(" ".join(str(e.get("text", "")) for e in block["elements"]))
        elif kind == "actions":
            lines.append("  ".join(f"[ {e['text']['text']} ]" for e in block["elements"]))
    return "\n".join(lines)


def _with_block(doc: str, name: str, text: str) -> str:
    """``doc`` with the fenced block between ``<!-- example:NAME -->`` and ``<!-- /example:NAME -->`` replaced."""
    pattern = re.compile(rf"(<!-- example:{name} -->\n)```text\n.*?\n```\n(<!-- /example:{name} -->)", re.DOTALL)
    if not pattern.search(doc):
        raise ValueError(f"docs/ALERTS.md has no <!-- example:{name} --> block")
    return pattern.sub(lambda m: f"{m.group(1)}```text\n{text}\n```\n{m.group(2)}", doc)


def example_files() -> dict[Path, str]:
    """Every generated example: the two JSON messages and docs/ALERTS.md with their text renderings."""
    result = demo_result()
    teams, slack = demo_messages("teams", result)[0], demo_messages("slack", result)[0]
    doc = ALERTS_DOC.read_text(encoding="utf-8")
    doc = _with_block(doc, "teams", teams_text(teams))
    doc = _with_block(doc, "slack", slack_text(slack))
    return {
        EXAMPLES / "teams-message.json": json.dumps(teams, indent=2, ensure_ascii=False) + "\n",
        EXAMPLES / "slack-message.json": json.dumps(slack, indent=2, ensure_ascii=False) + "\n",
        ALERTS_DOC: doc,
    }


def main() -> None:
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for path, text in example_files().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
