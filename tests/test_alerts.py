"""Chat alerts: the Teams/Slack/generic builders against their limits, and the sender against a local receiver."""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from shared.alerts import (
    DeliveryResult,
    WebhookSender,
    build_messages,
    notify,
    resolve_kind,
)
from shared.alerts.digest import portal_link
from shared.alerts.fitting import ZERO_WIDTH_SPACE as ZWSP
from shared.alerts.fitting import breakable, pack, split_text
from shared.alerts.slack import (
    SLACK_HEADER_LIMIT,
    SLACK_MAX_BLOCKS,
    SLACK_TEXT_LIMIT,
    escape_mrkdwn,
    slack_length,
)
from shared.alerts.teams import TEAMS_MESSAGE_BUDGET, TEAMS_MESSAGE_LIMIT
from shared.models import RULE_EXPIRY, ScanResult, ScanStatus, Severity, Status
from shared.settings import Settings
from shared.store import FindingsStore
from tests.alert_examples import example_binding, example_files, example_result, finding, result_of
from tests.plugins.webhook_receiver import SECRET_PATH, Reply, WebhookReceiver

SEVERITIES = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW]

# Element types the Adaptive Card 1.5 schema defines (https://adaptivecards.io/explorer/).
CARD_ELEMENTS_1_5 = {
    "TextBlock",
    "RichTextBlock",
    "Image",
    "Media",
    "Container",
    "ColumnSet",
    "FactSet",
    "ImageSet",
    "ActionSet",
    "Table",
    "Input.Text",
    "Input.Number",
    "Input.Date",
    "Input.Time",
    "Input.Toggle",
    "Input.ChoiceSet",
}
HOSTILE = [
    "<!channel>",
    "<!here>",
    "*bold*",
    "[link](http://evil)",
    "&amp;",
    "<https://evil.example|click>",
    "<b>x</b>",
]


# --- helpers ----------------------------------------------------------------------------------------------


def many_problems(count: int, reason: str | None = None) -> ScanResult:
    findings = [
        finding(
            f"kv-{i % 7}",
            f"cert-{i:04d}",
            severity=SEVERITIES[i % len(SEVERITIES)],
            reason=reason or f"Certificate number {i} has only EmailContacts configured; set AutoRenew.",
        )
        for i in range(count)
    ]
    findings.append(finding("kv-0", "fine-cert", status=Status.COMPLIANT, reason="AutoRenew 30 days before."))
    return result_of(findings)


def clean_result() -> ScanResult:
    return result_of(
        [
            finding("kv-a", "one", status=Status.COMPLIANT, reason="AutoRenew is set."),
            finding("kv-a", "one", rule_id=RULE_EXPIRY, status=Status.COMPLIANT, reason="Expires in 200 days."),
            finding("kv-b", "two", status=Status.COMPLIANT, reason="AutoRenew is set."),
            finding("kv-b", "two", rule_id=RULE_EXPIRY, status=Status.COMPLIANT, reason="Expires in 300 days."),
        ]
    )


def hostile_result() -> ScanResult:
    return result_of(
        [
            finding(
                "kv-<!channel>",
                "*bold*_it_~s~`tick`",
                reason="Tag owner=[link](http://evil) &amp; <https://evil.example|click> <!here> @channel "
                "*boom* <b>x</b>",
            )
        ]
    )


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def slack_texts(message: dict[str, Any]) -> list[str]:
    return [n["text"] for n in walk(message["blocks"]) if n.get("type") in ("mrkdwn", "plain_text")]


def card_of(message: dict[str, Any]) -> dict[str, Any]:
    return message["attachments"][0]["content"]  # type: ignore[no-any-return]


def serialized(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def sender(**options: Any) -> tuple[WebhookSender, list[float]]:
    sleeps: list[float] = []
    options.setdefault("timeout", 5.0)
    return WebhookSender(sleep=sleeps.append, **options), sleeps


def settings_for(url: str, kind: str = "auto", *, on_clean: bool = False) -> Settings:
    return Settings(alert_webhook_url=url, alert_webhook_kind=kind, alert_on_clean=on_clean)  # type: ignore[arg-type]


def buttons(kind: str, message: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, url) of every link button of a message."""
    if kind == "teams":
        return [
            (a["title"], a["url"])
            for n in walk(card_of(message)["body"])
            if n.get("type") == "ActionSet"
            for a in n["actions"]
        ]
    return [(e["text"]["text"], e["url"]) for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def assert_valid_slack(message: dict[str, Any]) -> None:
    assert message["text"].strip(), "a top-level text fallback is required"
    assert 1 <= len(message["blocks"]) <= SLACK_MAX_BLOCKS
    for block in message["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()  # slack-sdk's own limits: 3000 per section text, 150 per header...
        assert parsed.to_dict() == block, "a key slack-sdk does not know would be dropped by Slack too"
    for node in walk(message["blocks"]):
        if node.get("type") in ("mrkdwn", "plain_text"):
            assert 1 <= slack_length(node["text"]) <= SLACK_TEXT_LIMIT
        if node.get("type") == "header":
            assert slack_length(node["text"]["text"]) <= SLACK_HEADER_LIMIT


def assert_valid_teams(message: dict[str, Any]) -> None:
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert tuple(int(p) for p in card["version"].split(".")) <= (1, 5)
    assert len(serialized(message)) <= TEAMS_MESSAGE_BUDGET < TEAMS_MESSAGE_LIMIT
    for element in card["body"]:
        assert element["type"] in CARD_ELEMENTS_1_5
    for node in walk(card["body"]):
        if node.get("type") == "Container":
            assert all(item["type"] in CARD_ELEMENTS_1_5 for item in node["items"])
        if node.get("type") == "RichTextBlock":
            assert all(inline["type"] == "TextRun" for inline in node["inlines"])
        if node.get("type") == "TextBlock":
            assert isinstance(node["text"], str)
            assert node["text"]
    text_runs = [n for n in walk(card["body"]) if n.get("type") == "TextRun"]
    rich_runs = [i for n in walk(card["body"]) if n.get("type") == "RichTextBlock" for i in n["inlines"]]
    assert len(text_runs) == len(rich_runs), "a TextRun is only valid inside a RichTextBlock"


def titles(kind: str, messages: list[dict[str, Any]]) -> list[str]:
    if kind == "teams":
        return [card_of(m)["body"][0]["text"] for m in messages]
    if kind == "slack":
        return [m["blocks"][0]["text"]["text"] for m in messages]
    return [m["headline"] for m in messages]


def problem_names(kind: str, message: dict[str, Any]) -> list[str]:
    """Certificate names of the problems a message shows, in order."""
    if kind == "teams":
        runs = [n["text"] for n in walk(card_of(message)["body"]) if n.get("type") == "TextRun"]
        return [m.group(1) for run in runs if (m := re.fullmatch(r"kv-\d / (cert-\d{4})", run))]
    if kind == "slack":
        return [name for text in slack_texts(message) for name in re.findall(r"`kv-\d` / `(cert-\d{4})`", text)]
    return [p["certificate_name"] for p in message["problems"]]


# --- choosing the format -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", "slack"),
        ("https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x", "teams"),
        ("https://default0a1b.2c.environment.api.powerplatform.com/powerautomate/automations/direct/x", "teams"),
        ("https://contoso.webhook.office.com/webhookb2/abc", "teams"),
        ("https://example.com/hooks/autorenew", "generic"),
        ("https://hooks.slack.com.evil.example/services/x", "generic"),
        ("https://notlogic.azure.com.evil.example/x", "generic"),
        ("https://evillogic.azure.com/x", "generic"),
        ("http://127.0.0.1:8080/hook", "generic"),
    ],
)
def test_auto_kind_follows_the_webhook_host(url: str, expected: str) -> None:
    assert resolve_kind("auto", url) == expected
    assert resolve_kind("AUTO", url) == expected


def test_an_explicit_kind_wins_over_the_host() -> None:
    assert resolve_kind("teams", "https://hooks.slack.com/services/x") == "teams"
    assert resolve_kind("generic", "https://hooks.slack.com/services/x") == "generic"
    assert resolve_kind("slack", "https://example.com/x") == "slack"
    with pytest.raises(ValueError, match="unknown alert webhook kind"):
        resolve_kind("discord", "https://example.com/x")
    with pytest.raises(ValueError, match="unknown alert kind"):
        build_messages("auto", example_result())


# --- the builders --------------------------------------------------------------------------------------------


def test_slack_digest_validates_against_slack_sdk_block_kit_models() -> None:
    [message] = build_messages("slack", example_result(), report_url="https://func.example/api/report")
    assert_valid_slack(message)
    assert message["text"].startswith("AutoRenew Guard: 2 certificates need attention")
    text = "\n".join(slack_texts(message))
    assert "*Findings:* Non-compliant 4 · Not assessed 2 · Compliant 3 · Exempt 1\n" in text, "zeros left out"
    assert ("Open the full report", "https://func.example/api/report") in buttons("slack", message)


def test_teams_digest_is_an_adaptive_card_1_5_in_the_workflows_envelope() -> None:
    [message] = build_messages("teams", example_result(), report_url="https://func.example/api/report")
    assert_valid_teams(message)
    card = card_of(message)
    assert set(card) <= {"$schema", "type", "version", "msteams", "fallbackText", "body"}
    assert card["body"][0]["text"] == card["fallbackText"]
    texts = [n["text"] for n in walk(card["body"]) if n.get("type") == "TextBlock"]
    assert "Non-compliant 4 · Not assessed 2 · Compliant 3 · Exempt 1" in texts, "counts on one line, zeros left out"
    assert all(n["wrap"] for n in walk(card["body"]) if n.get("type") == "TextBlock")
    actions = [a for n in walk(card["body"]) if n.get("type") == "ActionSet" for a in n["actions"]]
    assert actions
    assert all(a["type"] == "Action.OpenUrl" for a in actions)
    assert ("Open the full report", "https://func.example/api/report") in buttons("teams", message)


def test_a_certificate_with_two_problems_is_one_entry_worst_first_with_each_rules_reason() -> None:
    [message] = build_messages("slack", example_result())
    [entry] = [t for t in slack_texts(message) if "cloudconformity" in t]
    assert entry.startswith(":red_circle: *Critical* · `cc-webapp-key-vault` / `cloudconformity` · expired 2026-11-20")
    critical = entry.index("*Critical* · Non-compliant · CertificateExpiry\nThe certificate expired on 2026-11-20")
    high = entry.index("*High* · Non-compliant · KeyVault-006\nOnly EmailContacts is configured")
    assert critical < high
    assert (
        "Open the certificate",
        "https://portal.azure.com/#asset/Microsoft_Azure_KeyVault/Certificate/"
        "https://cc-webapp-key-vault.vault.azure.net/certificates/cloudconformity",
    ) in buttons("slack", message)


def test_a_binding_joins_its_certificates_entry_and_names_the_service() -> None:
    result = example_result()
    result = ScanResult(scan=result.scan, findings=[*result.findings, example_binding()])
    service = "Application Gateway agw-webapp-prod (listener-cloudconformity)"
    gateway = (
        "https://portal.azure.com/#@/resource/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
        "rg-web/providers/Microsoft.Network/applicationGateways/agw-webapp-prod"
    )
    [slack] = build_messages("slack", result)
    [entry] = [t for t in slack_texts(slack) if "cloudconformity" in t]
    assert f"*High* · Non-compliant · CertificateBinding · {service}\n" in entry
    assert ("Open the Application Gateway", gateway) in buttons("slack", slack)
    [teams] = build_messages("teams", result)
    runs = [n["text"] for n in walk(card_of(teams)["body"]) if n.get("type") == "TextRun"]
    assert f" · {service}" in runs
    assert ("Open the Application Gateway", gateway) in buttons("teams", teams)
    [generic] = build_messages("generic", result)
    entries = {p["entry"] for p in generic["problems"] if p["certificate_name"] == "cloudconformity"}
    assert entries == {"cc-webapp-key-vault / cloudconformity"}


def test_an_unreadable_vault_is_one_entry_with_its_reason_said_once() -> None:
    for kind in ("slack", "teams"):
        [message] = build_messages(kind, example_result())
        text = json.dumps(message, ensure_ascii=False)
        assert text.count("Could not list the vault's certificates (HTTP 403 ForbiddenByFirewall") == 1, kind
        assert "KeyVault-006, CertificateExpiry" in text
        vault_links = [url for _, url in buttons(kind, message) if "kv-legacy-weu" in url]
        assert vault_links == [
            "https://portal.azure.com/#@/resource/subscriptions/11111111-1111-1111-1111-111111111111"
            "/resourceGroups/rg-certs/providers/Microsoft.KeyVault/vaults/kv-legacy-weu/certificates"
        ]


def test_severity_is_a_word_as_well_as_a_colour() -> None:
    [teams] = build_messages("teams", example_result())
    coloured = [n for n in walk(card_of(teams)["body"]) if n.get("type") == "TextRun" and n.get("color") == "Attention"]
    assert coloured
    assert all(n["text"] in ("Critical", "High") for n in coloured)
    [slack] = build_messages("slack", example_result())
    assert all(
        re.match(r":(red|large_orange|large_yellow)_circle: \*(Critical|High|Medium)\*", t)
        for t in slack_texts(slack)
        if "_circle:" in t
    )


def test_problems_come_most_severe_first_in_every_format() -> None:
    result = many_problems(12)
    expected = [f.certificate_name for f in result.problems]
    for kind in ("teams", "slack", "generic"):
        [message] = build_messages(kind, result, max_items=100)
        assert problem_names(kind, message) == expected, kind
    assert [f.severity for f in result.problems[:3]] == [Severity.CRITICAL] * 3


@pytest.mark.parametrize("kind", ["teams", "slack", "generic"])
def test_a_500_problem_digest_is_split_across_numbered_messages_and_each_problem_appears_once(kind: str) -> None:
    result = many_problems(500, reason=None if kind != "generic" else "A reason of some length. " * 30)
    messages = build_messages(kind, result, max_items=1000)
    parts = len(messages)
    assert parts > 1
    assert titles(kind, messages) == [
        f"AutoRenew Guard: 500 certificates need attention in 1 subscription ({i}/{parts})" for i in range(1, parts + 1)
    ]
    shown = [name for message in messages for name in problem_names(kind, message)]
    assert shown == [f.certificate_name for f in result.problems]
    assert len(set(shown)) == 500
    for message in messages:
        if kind == "teams":
            assert_valid_teams(message)
        elif kind == "slack":
            assert_valid_slack(message)
        else:
            assert len(serialized(message)) <= 256 * 1024
            assert message["parts"] == parts


def test_a_reason_longer_than_a_text_object_is_wrapped_not_cut() -> None:
    reason = " ".join(f"word{i:05d}" for i in range(1000))  # 10 000 characters: 4 Slack texts, 1 Teams card
    result = result_of([finding("kv-1", "long", reason=reason)])

    slack = build_messages("slack", result)
    for message in slack:
        assert_valid_slack(message)
    joined = "".join(t for m in slack for t in slack_texts(m))
    assert all(f"word{i:05d}" in joined for i in range(1000))
    assert sum(t.count("word") for t in slack_texts(slack[0])) == 1000

    teams = build_messages("teams", result)
    assert len(teams) == 1
    assert_valid_teams(teams[0])
    runs = "".join(n["text"] for n in walk(card_of(teams[0])["body"]) if n.get("type") == "TextRun")
    assert reason in runs


def test_a_reason_bigger_than_a_teams_message_spreads_over_messages() -> None:
    reason = "x" * 30_000 + " end-of-reason"
    messages = build_messages("teams", result_of([finding("kv-1", "huge", reason=reason)]))
    assert len(messages) > 1
    for message in messages:
        assert_valid_teams(message)
    runs = "".join(n["text"] for m in messages for n in walk(card_of(m)["body"]) if n.get("type") == "TextRun")
    assert reason in runs.replace(ZWSP, "").replace("continued: kv-1 / huge", "")


def test_an_entry_split_across_messages_says_which_certificate_it_continues() -> None:
    reason = "y" * 30_000
    for kind in ("teams", "slack"):
        messages = build_messages(kind, result_of([finding("kv-1", "huge-certificate", reason=reason)]))
        assert len(messages) > 1, kind
        for message in messages[1:]:
            if kind == "teams":
                first = card_of(message)["body"][1]
                assert [r["text"] for r in first["inlines"]] == ["continued: ", "kv-1 / huge-certificate"]
            else:
                assert message["blocks"][1]["text"]["text"] == "_continued:_ `kv-1` / `huge-certificate`"
                assert_valid_slack(message)


def test_long_unbroken_names_get_break_opportunities_and_still_read_the_same() -> None:
    name = "api-payments-westeurope-production-contoso-com-" + "x" * 60
    assert breakable("short-name stays") == "short-name stays"
    broken = breakable(name)
    assert broken.replace(ZWSP, "") == name
    assert max(len(part) for part in broken.split(ZWSP)) <= 24
    result = result_of([finding("kv-1", name)])
    [teams] = build_messages("teams", result)
    heading = card_of(teams)["body"][4]["items"][0]
    assert broken in [r["text"] for r in heading["inlines"]][2]
    [slack] = build_messages("slack", result)
    assert f"`{broken}`" in "\n".join(slack_texts(slack))
    [generic] = build_messages("generic", result)
    assert generic["problems"][0]["certificate_name"] == name, "data stays exact"


def test_at_most_max_items_entries_then_and_n_more_with_the_report_button() -> None:
    result = many_problems(10)
    for kind in ("teams", "slack", "generic"):
        [message] = build_messages(kind, result, max_items=3, report_url="https://func.example/api/report")
        assert problem_names(kind, message) == [f.certificate_name for f in result.problems][:3], kind
        text = json.dumps(message, ensure_ascii=False)
        assert "… and 7 more, not listed here: open the full report for everything." in text or (
            kind == "generic" and message["more"] == 7
        )
        if kind != "generic":
            assert buttons(kind, message).count(("Open the full report", "https://func.example/api/report")) == 2


def test_new_and_worse_entries_are_marked_in_every_format() -> None:
    current = result_of([finding("kv-1", "old-problem"), finding("kv-1", "was-fine", severity=Severity.MEDIUM)])
    [old, new] = current.findings

    [slack] = build_messages("slack", current, marks={new.key: "new"})
    sections = [t for t in slack_texts(slack) if "`kv-1`" in t]
    assert [":new: *NEW*" in t for t in sections] == [False, True]
    assert "(1 new since the last digest)" in "\n".join(slack_texts(slack))

    [teams] = build_messages("teams", current, marks={new.key: "new", old.key: "worse"})
    containers = [e for e in card_of(teams)["body"] if e["type"] == "Container"]
    marked = [[n["text"] for n in walk(c) if n.get("text") in ("NEW ", "WORSE ")] for c in containers]
    assert marked == [["WORSE "], ["NEW "]]

    [generic] = build_messages("generic", current, marks={new.key: "new"})
    assert [(p["certificate_name"], p["new"]) for p in generic["problems"]] == [
        ("old-problem", False),
        ("was-fine", True),
    ]


def test_hostile_estate_text_is_inert_in_slack() -> None:
    [message] = build_messages("slack", hostile_result())
    assert_valid_slack(message)
    texts = slack_texts(message)
    everything = "\n".join(texts)
    for raw in ("<!channel>", "<!here>", "<https://evil.example|click>", "<b>", "&amp;"):
        assert raw not in everything.replace("&amp;amp;", ""), raw
    assert "&lt;!channel&gt;" in everything
    assert "&lt;!here&gt;" in everything
    assert "&amp;amp;" in everything  # the literal text "&amp;" shows as such
    z = ZWSP
    assert f"{z}*{z}boom{z}*{z}" in everything  # cannot open or close bold
    assert "@channel" in everything  # verbatim text: not a mention
    assert "[link](http://evil)" in everything.replace(ZWSP, "")  # Slack has no [text](url) links: it stays literal
    # Names sit in code spans, where formatting characters are literal; a backtick cannot end the span.
    assert "`kv-&lt;!channel&gt;` / `*bold*_it_~s~\u02cbtick\u02cb`" in everything
    assert all(block["text"]["verbatim"] for block in message["blocks"] if block["type"] == "section")


def test_slack_escaping_fences_only_what_could_format() -> None:
    z = ZWSP
    assert escape_mrkdwn("tag autorenew_exempt=true on cert_a*b") == "tag autorenew_exempt=true on cert_a*b"
    assert escape_mrkdwn("_tmp_ *x* ~y~") == f"{z}_{z}tmp{z}_{z} {z}*{z}x{z}*{z} {z}~{z}y{z}~{z}"
    assert escape_mrkdwn("a`b") == f"a{z}`{z}b"
    assert escape_mrkdwn("<!channel> & >") == "&lt;!channel&gt; &amp; &gt;"


def test_hostile_estate_text_stays_plain_text_in_teams() -> None:
    hostile = hostile_result()
    [message] = build_messages("teams", hostile)
    assert_valid_teams(message)
    body = card_of(message)["body"]
    markdown_texts = [n["text"] for n in walk(body) if n.get("type") == "TextBlock"]
    for text in markdown_texts:
        for raw in [*HOSTILE, "kv-<!channel>", "_it_", "`tick`"]:
            assert raw not in text, (raw, text)
    [(title, url)] = buttons("teams", message)
    assert title == "Open the certificate"
    assert re.fullmatch(r"https://[^\s()\[\]<>*`|]+", url)
    runs = [n["text"] for n in walk(body) if n.get("type") == "TextRun"]
    assert "kv-<!channel> / *bold*_it_~s~`tick`" in runs
    assert hostile.findings[0].reason in [r.replace(ZWSP, "") for r in runs]  # a TextRun never renders Markdown


def test_bidirectional_and_control_characters_never_reach_a_payload() -> None:
    sneaky = result_of(
        [
            finding(
                "kv-\u202eevil",
                "cert\u2066name\x07",
                reason="Expires\u202e soon\x1b[31m; owner \u200fteam\u2069.",
            )
        ]
    )
    for kind in ("teams", "slack", "generic"):
        for message in build_messages(kind, sneaky):
            text = json.dumps(message, ensure_ascii=False)
            for char in ("\u202e", "\u2066", "\u2069", "\u200f", "\x07", "\x1b"):
                assert char not in text, (kind, char)
            assert "kv-evil" in text, kind
            assert "certname" in text, kind


def test_links_cannot_break_out_of_markdown_or_slack_link_syntax() -> None:
    evil = replace(
        finding("kv-1", "c", reason="r"),
        certificate_id="https://kv-1.vault.azure.net/certificates/c) [evil](http://evil.example|x> <y",
    )
    link = portal_link(evil)
    assert link is not None
    assert re.fullmatch(r"[^\s()<>|\[\]]+", link)
    for kind in ("teams", "slack"):
        [message] = build_messages(kind, result_of([evil]))
        [(_, url)] = buttons(kind, message)
        assert url == link
        assert not [n for n in walk(message) if isinstance(n.get("text"), str) and "](" in n["text"]]


def test_all_clear_is_short_and_only_posted_when_asked() -> None:
    result = clean_result()
    [slack] = build_messages("slack", result)
    assert_valid_slack(slack)
    assert slack["text"] == "AutoRenew Guard: all 2 certificates renew themselves"
    [teams] = build_messages("teams", result)
    assert_valid_teams(teams)
    assert len(card_of(teams)["body"]) <= 4
    assert build_messages("slack", result, all_clear=False) == []
    remediated = build_messages("slack", result, all_clear=False, remediations=[{"vault_name": "kv-a"}])
    assert len(remediated) == 1, "a remediation is news even on a clean scan"


def test_a_failed_scan_is_never_an_all_clear() -> None:
    result = result_of([], status=ScanStatus.FAILED, problems=["Could not list subscriptions (HTTP 401 Unauthorized)."])
    [message] = build_messages("slack", result, all_clear=False)
    assert message["text"] == "AutoRenew Guard: the scan failed"
    assert "Could not list subscriptions (HTTP 401 Unauthorized)." in "\n".join(slack_texts(message))


def test_remediations_get_their_own_short_section() -> None:
    changes = [
        {
            "vault_name": "kv-1",
            "certificate_name": "web",
            "before": "EmailContacts",
            "after": "AutoRenew",
            "outcome": "applied",
        },
        {
            "vault_name": "kv-2",
            "certificate_name": "api",
            "before": "none",
            "after": "AutoRenew",
            "outcome": "failed: HTTP 403 Forbidden",
        },
    ]
    [slack] = build_messages("slack", example_result(), remediations=changes)
    text = "\n".join(slack_texts(slack))
    assert "*Changed by auto-remediation* (2)" in text
    assert ":white_check_mark: `kv-1` / `web`: EmailContacts → AutoRenew (applied)" in text
    assert ":x: `kv-2` / `api`: none → AutoRenew (failed: HTTP 403 Forbidden)" in text
    [teams] = build_messages("teams", example_result(), remediations=changes)
    runs = [n["text"] for n in walk(card_of(teams)["body"]) if n.get("type") == "TextRun"]
    assert ": none → AutoRenew (failed: HTTP 403 Forbidden)" in runs
    [generic] = build_messages("generic", example_result(), remediations=changes)
    assert generic["remediations"] == changes


def test_generic_messages_are_a_subset_of_the_scan_document() -> None:
    result = example_result()
    [message] = build_messages("generic", result, marks=dict.fromkeys((f.key for f in result.problems), "new"))
    assert message["scan"] == result.scan.to_dict()
    assert message["part"] == message["parts"] == 1
    assert len(message["problems"]) == len(result.problems) == 6
    first = message["problems"][0]
    assert first["status"] == "non_compliant"
    assert first["severity"] == "critical"
    assert first["expires_on"] == "2026-11-20T08:55:00Z"
    assert first["new"] is True
    assert first["portal_url"].startswith("https://portal.azure.com/#asset/Microsoft_Azure_KeyVault/Certificate/")
    json.dumps(message)  # plain JSON


def test_split_text_and_pack_never_drop_or_cut_anything() -> None:
    chunks = split_text("a&b " * 100, 20, tokens=lambda text: [c.replace("&", "&amp;") for c in text])
    assert "".join(chunks) == "a&amp;b " * 100
    assert all(len(c) <= 20 for c in chunks)
    assert all("&amp;" in c or "&" not in c for c in chunks)
    assert split_text("", 10) == [""]
    pages = pack([[1, 2], [3], [50], [4, 5, 6]], lambda n: (n,), (10,))
    assert pages == [[1, 2, 3], [50], [4, 5], [6]]  # a page of its own for 50; the too-big group spreads
    assert [n for page in pages for n in page] == [1, 2, 3, 50, 4, 5, 6]
    labelled = pack([[1, 2], [3], [50], [4, 5, 6]], lambda n: (n,), (10,), continued=lambda group: [0])
    assert labelled == [[1, 2, 3], [50], [4, 5], [0, 6]]  # only a group spread over pages is labelled


def test_docs_examples_are_what_the_builders_produce() -> None:
    for path, text in example_files().items():
        assert path.read_text(encoding="utf-8") == text, f"regenerate with: python -m tests.alert_examples ({path})"


# --- the sender, against a local receiver --------------------------------------------------------------------


PAYLOAD = {"text": "hello"}


def test_429_with_retry_after_is_retried_after_the_given_seconds(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.reply(Reply(429, b"rate_limited", {"Retry-After": "7"}), Reply(200, b"ok"))
    post, sleeps = sender(max_attempts=3)
    assert post.post(webhook_receiver.url, [PAYLOAD]) == DeliveryResult(1, 1, None)
    assert sleeps == [7.0]
    assert webhook_receiver.bodies == [PAYLOAD, PAYLOAD]
    assert webhook_receiver.requests[0].headers["Content-Type"] == "application/json"


def test_retry_after_is_capped_at_max_backoff(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.reply(Reply(503, headers={"Retry-After": "3600"}), Reply(200))
    post, sleeps = sender(max_backoff=30.0)
    assert post.post(webhook_receiver.url, [PAYLOAD]).ok
    assert sleeps == [30.0]


def test_slack_200_ok_is_success(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.reply(Reply(200, b"ok"))
    post, sleeps = sender()
    assert post.post(webhook_receiver.url, [PAYLOAD]) == DeliveryResult(1, 1, None)
    assert sleeps == []


def test_workflows_202_with_an_empty_body_is_success(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.default = Reply(202, b"")
    messages = build_messages("teams", many_problems(60))
    assert len(messages) > 1
    post, sleeps = sender()
    assert post.post(webhook_receiver.url, messages) == DeliveryResult(len(messages), len(messages), None)
    assert sleeps == []
    assert webhook_receiver.bodies == messages


def test_repeated_500s_fail_after_max_attempts_without_the_url(
    webhook_receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    webhook_receiver.default = Reply(500, b"Internal Server Error at " + SECRET_PATH.encode())
    post, sleeps = sender(max_attempts=3, backoff=1.0)
    delivery = post.post(webhook_receiver.url, [PAYLOAD])
    assert delivery == DeliveryResult(1, 0, "the message: HTTP 500 after 3 attempts")
    assert len(webhook_receiver.requests) == 3
    assert sleeps == [1.0, 2.0]
    assert "HTTP 500" in caplog.text
    assert "<redacted webhook path>" in caplog.text  # urllib3 logged the request line, path replaced
    assert_no_secret(caplog.text, webhook_receiver)


def test_a_4xx_is_final_at_once_and_the_next_message_still_goes(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.reply(Reply(400, b"invalid_blocks"), Reply(200, b"ok"))
    post, sleeps = sender()
    delivery = post.post(webhook_receiver.url, [PAYLOAD, PAYLOAD])
    assert delivery == DeliveryResult(2, 1, "message 1 of 2: HTTP 400 invalid_blocks")
    assert sleeps == []
    assert len(webhook_receiver.requests) == 2


def test_an_endpoint_that_keeps_failing_stops_the_remaining_messages(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.reply(Reply(200, b"ok"), *[Reply(502)] * 2)
    post, _ = sender(max_attempts=2)
    delivery = post.post(webhook_receiver.url, [PAYLOAD, PAYLOAD, PAYLOAD])
    assert delivery.delivered == 1
    assert delivery.error == "message 2 of 3: HTTP 502 after 2 attempts; 1 later message(s) not sent"
    assert len(webhook_receiver.requests) == 3


def test_a_timeout_is_retried_then_fails(webhook_receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    webhook_receiver.reply(Reply(200, delay=30), Reply(200, delay=30))
    post, sleeps = sender(timeout=0.3, max_attempts=2)
    delivery = post.post(webhook_receiver.url, [PAYLOAD])
    assert delivery == DeliveryResult(1, 0, "the message: no answer within 0.3 s after 2 attempts")
    assert len(webhook_receiver.requests) == 2
    assert len(sleeps) == 1
    assert_no_secret(caplog.text, webhook_receiver)


def test_connection_refused_fails_without_the_url(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}{SECRET_PATH}"
    post, sleeps = sender(max_attempts=2)
    delivery = post.post(url, [PAYLOAD])
    assert delivery == DeliveryResult(1, 0, "the message: could not connect after 2 attempts")
    assert len(sleeps) == 1
    assert str(port) not in (delivery.error or "")
    for secret in (SECRET_PATH, "xoxSecretToken"):
        assert secret not in (delivery.error or "")
        assert secret not in caplog.text


def test_a_url_that_is_not_http_is_refused_without_a_request() -> None:
    post, _ = sender()
    delivery = post.post("ftp://example.com/services/T/B/secret", [PAYLOAD])
    assert delivery == DeliveryResult(1, 0, "the webhook URL is not an http(s) URL")


def assert_no_secret(text: str, receiver: WebhookReceiver) -> None:
    assert SECRET_PATH not in text
    assert "xoxSecretToken" not in text
    assert receiver.url not in text


# --- notify: the one call of the timer, the CLI and POST /api/alerts -----------------------------------------


def test_notify_without_a_webhook_is_a_quiet_no_op(webhook_receiver: WebhookReceiver) -> None:
    assert notify(Settings(), example_result()) is None
    assert webhook_receiver.requests == []


def test_notify_posts_the_digest_in_the_configured_format(webhook_receiver: WebhookReceiver) -> None:
    post, _ = sender()
    delivery = notify(settings_for(webhook_receiver.url, "slack"), example_result(), sender=post)
    assert delivery == DeliveryResult(1, 1, None)
    [body] = webhook_receiver.bodies
    assert_valid_slack(body)
    assert body["text"].startswith("AutoRenew Guard: 2 certificates need attention")
    assert body["text"].count("NEW") == 0
    assert sum(t.count(":new:") for t in slack_texts(body)) == 3, "no store: every entry is new"


def test_notify_stays_quiet_on_a_clean_scan_unless_asked(webhook_receiver: WebhookReceiver) -> None:
    post, _ = sender()
    url = webhook_receiver.url
    assert notify(settings_for(url, "teams"), clean_result(), sender=post) is None
    assert webhook_receiver.requests == []
    assert notify(settings_for(url, "teams", on_clean=True), clean_result(), sender=post) == DeliveryResult(1, 1)
    assert notify(settings_for(url, "teams"), clean_result(), sender=post, full=True) == DeliveryResult(1, 1)
    assert len(webhook_receiver.requests) == 2
    assert_valid_teams(webhook_receiver.bodies[0])


def test_notify_reports_a_failing_webhook_instead_of_raising(
    webhook_receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    webhook_receiver.default = Reply(500)
    post, _ = sender(max_attempts=2)
    delivery = notify(settings_for(webhook_receiver.url, "slack"), example_result(), sender=post)
    assert delivery == DeliveryResult(1, 0, "ALERT_WEBHOOK_URL: the message: HTTP 500 after 2 attempts")
    assert_no_secret(caplog.text, webhook_receiver)


def test_notify_survives_a_broken_transport() -> None:
    class Broken(WebhookSender):
        def post(self, url: str, payloads: Any) -> DeliveryResult:
            raise RuntimeError(f"boom while posting to {url}")

    url = "https://hooks.slack.com" + SECRET_PATH
    delivery = notify(settings_for(url), example_result(), sender=Broken())
    assert delivery == DeliveryResult(1, 0, "ALERT_WEBHOOK_URL: unexpected error while posting (RuntimeError)")


def test_a_problem_whose_key_has_a_newline_or_is_very_long_is_listed_once_then_settles(
    findings_store: FindingsStore, webhook_receiver: WebhookReceiver
) -> None:
    """Issue 19.4: the alert state is keyed by a digest of the exact finding key. A key the store could not
    keep as it is (a line break, more than 4,096 characters) must not read back as a different key, or the
    problem is new at every scan and the channel hears it daily."""
    problems = [
        finding("payments-kv", "line-one\nline-two"),
        finding("payments-kv", "x" * 5_000),
        finding("payments-kv", "plain"),
    ]
    result = result_of(problems)
    settings = settings_for(webhook_receiver.url, "generic")
    post, _ = sender()
    now = result.scan.started_at + timedelta(hours=1)

    first = notify(settings, result, store=findings_store, sender=post, now=now)
    assert first is not None
    assert first.ok
    [body] = webhook_receiver.bodies
    assert len(body["problems"]) == 3

    webhook_receiver.requests.clear()
    assert notify(settings, result, store=findings_store, sender=post, now=now + timedelta(hours=1)) is None
    assert webhook_receiver.requests == [], "nothing new, nothing worse, nothing due: nothing posted"

    fixed = result_of([replace(p, status=Status.COMPLIANT) for p in problems])
    notify(settings, fixed, store=findings_store, sender=post, now=now + timedelta(hours=2))
    webhook_receiver.requests.clear()
    again = notify(settings, result, store=findings_store, sender=post, now=now + timedelta(hours=3))
    assert again is not None, "fixed, then back: new again, so the state of the fixed ones was forgotten"
    assert len(webhook_receiver.bodies[0]["problems"]) == 3
