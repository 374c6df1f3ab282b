"""Routes and cadence end to end: the real CLI and Functions app against the fake Azure (over HTTPS, through
the real SDK clients), Azurite as the store, and three HTTPS webhook receivers — a central channel and two
teams' channels.

The estate tags certificates and vaults with ``alert-route``; what each channel receives is read the way its
owner would: which certificates are listed, which lines say what is missing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

import function_app
from shared.alerts import notify
from shared.alerts.routing import Webhook
from shared.cli import main
from shared.models import Severity, Status, utcnow
from shared.settings import AlertRoute, Settings
from shared.store import FindingsStore, PostedProblem
from tests.alert_examples import finding, result_of
from tests.fakeazure import cert, estate, firewall_fault, subscription, vault
from tests.fakeazure.server import shared_tls
from tests.plugins.webhook_receiver import Reply, WebhookReceiver
from tests.test_function_app import FUNCTIONS  # the app indexes its functions once per process

EMAIL_3D = [("EmailContacts", {"days_before_expiry": 3})]
AUTO_80 = [("AutoRenew", {"lifetime_percentage": 80})]


def routed_estate() -> dict[str, Any]:
    """Two teams' vaults, a vault tagged with a route nobody defined, certificate tags that override their
    vault's, a tag value carrying a bidirectional override and a bell, and a vault behind a firewall."""
    return estate(
        subscription(
            "Production",
            vault(
                "payments-kv",
                cert("pay-api", "Self", EMAIL_3D),
                cert("pay-web", "Self", AUTO_80),
                cert("pay-ops", "Unknown", [], tags={"alert-route": "team-b"}),
                tags={"alert-route": "team-a"},
            ),
            vault("identity-kv", cert("sso", "Self", EMAIL_3D), tags={"Alert-Route": "team-ghost"}),
            vault(
                "shared-kv",
                cert("wildcard", "Self", EMAIL_3D, tags={"alert-route": "\u202eTeam-B\x07"}),
                cert("intranet", "Self", AUTO_80),
            ),
            vault("walled-kv", cert("hidden"), tags={"alert-route": "team-b"}, fault={"list": firewall_fault()}),
        )
    )


class Channels:
    def __init__(self) -> None:
        self.central = WebhookReceiver()
        self.team_a = WebhookReceiver()
        self.team_b = WebhookReceiver()

    def all(self) -> list[WebhookReceiver]:
        return [self.central, self.team_a, self.team_b]

    def routes(self) -> str:
        return f"team-a={self.team_a.url};Team-B={self.team_b.url}"

    def forget(self) -> None:
        for receiver in self.all():
            receiver.requests.clear()

    def close(self) -> None:
        for receiver in self.all():
            receiver.close()


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch) -> Iterator[Channels]:
    made = Channels()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(shared_tls().ca_path))
    yield made
    made.close()


@pytest.fixture
def routed(fake_azure, app_store_connection: str, channels: Channels, monkeypatch: pytest.MonkeyPatch) -> Any:
    azure = fake_azure(routed_estate())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(shared_tls().ca_path))
    for name in ("ALERT_WEBHOOK_KIND", "AUTO_REMEDIATE", "ALERT_ON_CLEAN", "ALERT_MAX_ITEMS", "ALERT_REMIND_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALERT_WEBHOOK_URL", channels.central.url)
    monkeypatch.setenv("ALERT_ROUTES", channels.routes())
    function_app.context.reset()
    yield azure
    function_app.context.reset()


def scan_and_notify() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["scan", "--notify"], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def listed(receiver: WebhookReceiver) -> list[str]:
    """The entries a generic digest lists, as ``vault/certificate`` (the certificate is None for a vault)."""
    return sorted({f"{p['vault_name']}/{p['certificate_name']}" for body in receiver.bodies for p in body["problems"]})


def stored_problems() -> list[str]:
    response = FUNCTIONS["get_findings"](
        func.HttpRequest(method="GET", url="http://localhost:7071/api/findings", body=b"", params={})
    )
    return list(json.loads(response.get_body())["scan"]["problems"])


EVERY_PROBLEM = [
    "identity-kv/sso",
    "payments-kv/pay-api",
    "payments-kv/pay-ops",
    "shared-kv/wildcard",
    "walled-kv/None",
]


def test_the_central_channel_gets_every_problem_and_each_team_exactly_its_own(routed, channels: Channels) -> None:
    code, out, err = scan_and_notify()
    assert code == 1, err

    assert listed(channels.central) == EVERY_PROBLEM
    assert listed(channels.team_a) == ["payments-kv/pay-api"], "the vault's tag routes its certificates"
    assert listed(channels.team_b) == ["payments-kv/pay-ops", "shared-kv/wildcard", "walled-kv/None"], (
        "a certificate's own tag wins over its vault's; control characters and case do not matter"
    )
    [central] = channels.central.bodies
    [note] = [n for n in central["notes"] if "team-ghost" in n]
    assert note.startswith("Route 'team-ghost' is not defined: 1 problem is tagged alert-route=team-ghost")
    assert all("team-ghost" not in json.dumps(b) for b in channels.team_a.bodies + channels.team_b.bodies)
    assert [b["route"] for b in channels.team_b.bodies] == ["Team-B"]
    assert channels.team_b.bodies[0]["headline"].startswith("AutoRenew Guard · Team-B: 2 certificates need attention")
    for receiver in channels.all():
        text = receiver.requests[0].body.decode()
        assert "\u202e" not in text
        assert "\\u202e" not in text
        assert "\x07" not in text
        assert "\\u0007" not in text
    assert "Posted 3 alert message(s)" in out


def test_a_second_scan_right_after_posts_none_of_the_unchanged_problems(routed, channels: Channels) -> None:
    scan_and_notify()
    channels.forget()
    code, out, _ = scan_and_notify()
    assert code == 1
    assert [r.requests for r in channels.all()] == [[], [], []], "nothing new, nothing worse, nothing due"
    assert "Posted" not in out


def test_a_newly_non_compliant_certificate_is_the_only_one_listed_next_time(routed, channels: Channels) -> None:
    scan_and_notify()
    channels.forget()
    routed.set_policy(
        "payments-kv",
        "pay-web",
        {
            **(routed.policy("payments-kv", "pay-web") or {}),
            "lifetime_actions": [{"trigger": {"days_before_expiry": 3}, "action": {"action_type": "EmailContacts"}}],
        },
    )
    scan_and_notify()

    assert listed(channels.central) == ["payments-kv/pay-web"]
    assert listed(channels.team_a) == ["payments-kv/pay-web"]
    assert channels.team_b.requests == []
    [central] = channels.central.bodies
    assert [p["new"] for p in central["problems"]] == [True]
    assert central["ongoing"].startswith("5 ongoing, last posted ")
    [team_a] = channels.team_a.bodies
    assert team_a["ongoing"].startswith("1 ongoing, last posted ")


def test_a_recreated_route_webhook_starts_fresh(routed, channels: Channels, monkeypatch: pytest.MonkeyPatch) -> None:
    scan_and_notify()
    channels.forget()
    replacement = WebhookReceiver()
    try:
        monkeypatch.setenv("ALERT_ROUTES", f"team-a={replacement.url}?v=2;Team-B={channels.team_b.url}")
        scan_and_notify()
        assert listed(replacement) == ["payments-kv/pay-api"], "a new URL has never been posted to"
        assert [r.requests for r in channels.all()] == [[], [], []]
    finally:
        replacement.close()


def test_a_failing_route_is_recorded_and_the_others_still_get_theirs(routed, channels: Channels) -> None:
    channels.team_a.default = Reply(400, b"invalid_payload")
    code, out, err = scan_and_notify()
    assert code == 1
    assert listed(channels.central) == EVERY_PROBLEM
    assert listed(channels.team_b) == ["payments-kv/pay-ops", "shared-kv/wildcard", "walled-kv/None"]
    [problem] = [p for p in stored_problems() if "webhook" in p]
    assert "route team-a: the message: HTTP 400 invalid_payload" in problem
    assert "ALERT_WEBHOOK_URL" not in problem
    assert "Team-B" not in problem
    for receiver in channels.all():
        assert receiver.url not in problem + out + err
    assert "the alert was not delivered" in err

    channels.forget()
    channels.team_a.default = Reply(200, b"ok")
    scan_and_notify()
    assert listed(channels.team_a) == ["payments-kv/pay-api"], "a digest that failed was not posted: listed again"
    assert channels.central.requests == []
    assert channels.team_b.requests == []


def test_post_alerts_with_max_items_3_lists_three_and_says_how_many_more(
    routed, channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan_and_notify()
    channels.forget()
    monkeypatch.setenv("ALERT_MAX_ITEMS", "3")
    monkeypatch.setenv("REPORT_URL", "https://func.example/api/report")
    function_app.context.reset()
    response = FUNCTIONS["post_alerts"](
        func.HttpRequest(method="POST", url="http://localhost:7071/api/alerts", body=b"", params={})
    )
    assert response.status_code == 200, response.get_body()

    [central] = channels.central.bodies
    assert len({p["entry"] for p in central["problems"]}) == 3
    assert central["more"] == 2
    assert central["report_url"] == "https://func.example/api/report"
    assert central["summary"].startswith("All 5 open problems, most severe first")
    assert listed(channels.team_a) == ["payments-kv/pay-api"], "the full digest goes to every route too"
    assert len({p["entry"] for b in channels.team_b.bodies for p in b["problems"]}) == 3


def test_post_alerts_teams_card_lists_three_and_says_how_many_more(
    routed, channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_KIND", "teams")
    monkeypatch.setenv("ALERT_MAX_ITEMS", "3")
    monkeypatch.setenv("REPORT_URL", "https://func.example/api/report")
    function_app.context.reset()
    scan_and_notify()
    channels.forget()
    FUNCTIONS["post_alerts"](
        func.HttpRequest(method="POST", url="http://localhost:7071/api/alerts", body=b"", params={})
    )
    [card] = [b["attachments"][0]["content"] for b in channels.central.bodies]
    text = json.dumps(card, ensure_ascii=False)
    assert "… and 2 more, not listed here: open the full report for everything." in text
    headings = [
        c["items"][0]
        for c in card["body"]
        if c["type"] == "Container" and c["items"][0]["type"] == "RichTextBlock" and c.get("separator")
    ]
    severities = [run["text"] for h in headings for run in h["inlines"] if run.get("color") in ("Attention", "Warning")]
    assert severities == ["High", "High", "High"], "three entries, each with its severity as a word"


# --- the cadence against the real store, with a clock ------------------------------------------------------------


def central_settings(url: str, **changes: Any) -> Settings:
    return Settings(alert_webhook_url=url, alert_webhook_kind="generic", **changes)


def post_count(receiver: WebhookReceiver) -> int:
    return len(receiver.requests)


def test_an_unchanged_problem_is_posted_again_after_alert_remind_days(
    findings_store: FindingsStore, webhook_receiver: WebhookReceiver
) -> None:
    result = result_of([finding("kv-1", "stale"), finding("kv-1", "fine", status=Status.COMPLIANT, reason="ok")])
    settings = central_settings(webhook_receiver.url, alert_remind_days=7)
    start = utcnow()
    assert notify(settings, result, store=findings_store, now=start) is not None
    assert notify(settings, result, store=findings_store, now=start + timedelta(days=6)) is None
    delivery = notify(settings, result, store=findings_store, now=start + timedelta(days=7))
    assert delivery is not None
    assert delivery.ok
    first, reminder = webhook_receiver.bodies
    assert [p["mark"] for p in first["problems"]] == ["new"]
    assert [p["mark"] for p in reminder["problems"]] == [None], "a reminder is not news"
    assert reminder["summary"] == "1 problem to act on, most severe first: 1 due for a reminder."

    every_scan = central_settings(webhook_receiver.url, alert_remind_days=0)
    assert notify(every_scan, result, store=findings_store, now=start + timedelta(days=7, hours=1)) is not None
    assert post_count(webhook_receiver) == 3


def test_a_problem_that_got_worse_is_listed_and_marked_worse(
    findings_store: FindingsStore, webhook_receiver: WebhookReceiver
) -> None:
    settings = central_settings(webhook_receiver.url)
    before = result_of([finding("kv-1", "soon", severity=Severity.MEDIUM), finding("kv-1", "other")])
    after = result_of([finding("kv-1", "soon", severity=Severity.CRITICAL), finding("kv-1", "other")])
    notify(settings, before, store=findings_store)
    notify(settings, after, store=findings_store)
    _, second = webhook_receiver.bodies
    assert [(p["certificate_name"], p["mark"]) for p in second["problems"]] == [("soon", "worse")]
    assert second["ongoing"].startswith("1 ongoing, last posted ")


def test_a_fixed_problem_is_counted_once_and_nothing_is_posted_when_nothing_changed(
    findings_store: FindingsStore, webhook_receiver: WebhookReceiver
) -> None:
    settings = central_settings(webhook_receiver.url)
    notify(settings, result_of([finding("kv-1", "a"), finding("kv-1", "b")]), store=findings_store)
    fixed = result_of([finding("kv-1", "a"), finding("kv-1", "b", status=Status.COMPLIANT, reason="ok")])
    assert notify(settings, fixed, store=findings_store) is not None
    assert webhook_receiver.bodies[1]["resolved"] == 1
    assert webhook_receiver.bodies[1]["problems"] == []
    assert notify(settings, fixed, store=findings_store) is None
    assert post_count(webhook_receiver) == 2


def test_alert_on_clean_posts_even_when_nothing_changed(
    findings_store: FindingsStore, webhook_receiver: WebhookReceiver
) -> None:
    settings = central_settings(webhook_receiver.url, alert_on_clean=True)
    result = result_of([finding("kv-1", "a")])
    notify(settings, result, store=findings_store)
    assert notify(settings, result, store=findings_store) is not None
    assert webhook_receiver.bodies[1]["summary"] == "Nothing new or worse since the last digest."
    assert webhook_receiver.bodies[1]["ongoing"].startswith("1 ongoing")


def test_an_alert_setting_error_posts_nothing(webhook_receiver: WebhookReceiver) -> None:
    settings = central_settings(webhook_receiver.url, alert_setting_error="Setting ALERT_ROUTES: broken.")
    assert notify(settings, result_of([finding("kv-1", "a")])) is None
    assert webhook_receiver.requests == []


def test_what_was_posted_is_kept_per_route_and_url_and_retention_forgets_it(findings_store: FindingsStore) -> None:
    url = "https://hooks.slack.com/services/T/B/secret"
    keys = {
        Webhook("route team-a", url, "auto", route="team-a").state_key,
        Webhook("route team-a", url + "2", "auto", route="team-a").state_key,
        Webhook("route team-b", url, "auto", route="team-b").state_key,
        Webhook("ALERT_WEBHOOK_URL", url, "auto").state_key,
    }
    assert len(keys) == 4, "a renamed or recreated route starts fresh"
    assert all("secret" not in key and "hooks" not in key for key in keys), "never the URL itself"

    key = Webhook("route team-a", url, "auto", route="team-a").state_key
    now = utcnow()
    findings_store.record_posted(
        key,
        [
            PostedProblem("KeyVault-006|s|kv|old", "non_compliant", "high", now - timedelta(days=100)),
            PostedProblem("KeyVault-006|s|kv|new", "non_compliant", "high", now),
        ],
    )
    assert set(findings_store.posted_problems(key)) == {"KeyVault-006|s|kv|old", "KeyVault-006|s|kv|new"}
    findings_store.purge(retention_days=90)
    assert set(findings_store.posted_problems(key)) == {"KeyVault-006|s|kv|new"}
    findings_store.record_posted(key, [], forget=["KeyVault-006|s|kv|new"])
    assert findings_store.posted_problems(key) == {}


def test_route_settings_name_the_route_not_the_url() -> None:
    with pytest.raises(Exception, match="ALERT_ROUTES") as raised:
        Settings.from_env({"ALERT_ROUTES": "team-a=http://hooks.example/secret-token"})
    assert "secret-token" not in str(raised.value)
    assert AlertRoute("x", "https://a/secret").__repr__() == "AlertRoute(name='x')"


def test_a_vault_that_could_not_be_read_this_time_does_not_make_its_problems_resolved_or_new(
    findings_store: FindingsStore, webhook_receiver: WebhookReceiver
) -> None:
    settings = central_settings(webhook_receiver.url)
    readable = result_of([finding("kv-1", "a"), finding("kv-2", "b")])
    walled = result_of(
        [
            finding("kv-1", "a"),
            finding("kv-2", None, status=Status.NOT_ASSESSED, reason="Could not list the vault (HTTP 403)."),
        ]
    )
    notify(settings, readable, store=findings_store)
    notify(settings, walled, store=findings_store)
    notify(settings, readable, store=findings_store)
    _, blocked, back = webhook_receiver.bodies
    assert blocked["resolved"] == 0
    assert [p["vault_name"] for p in blocked["problems"]] == ["kv-2"], "the unreadable vault is new"
    assert back["problems"] == [], "kv-2/b was posted before and is unchanged: not new again"
    assert back["resolved"] == 1, "the vault can be read again"
    assert notify(settings, readable, store=findings_store) is None
