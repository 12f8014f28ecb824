"""Alert webhooks: signed as README "Signed alert webhooks" says (its own Python and shell
recipes verify a delivery and refuse a changed body), Slack-shaped on request, every attempt in
the delivery log, alerts per end user, the secret's rotation API and the alert history."""

import json
import re
import shutil
import subprocess
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from billing.models import AlertDelivery, BudgetAlert
from billing.services import alert_webhooks
from billing.services.alerts import AlertDeliveryFailed, alert_deliver, alerts_evaluate
from billing.services.budget_specs import budget_cache_invalidate
from billing.tests.test_budget_support import make_budget, make_event
from tenants.webhook_secrets import webhook_secret_rotate

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_block(language: str) -> str:
    section = README.read_text().split("### Signed alert webhooks", 1)[1]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def _python_verify():
    namespace: dict = {}
    exec(compile(_readme_block("python"), "README.md", "exec"), namespace)
    return namespace["verify_tollgate_signature"]


def _shell_verify(secret: str, header: str, body: bytes, tmp_path) -> str:
    if shutil.which("openssl") is None:
        pytest.skip("the shell recipe needs openssl")
    body_file = tmp_path / "body"
    body_file.write_bytes(body)
    env = {
        "SIGNATURE": header,
        "BODY_FILE": str(body_file),
        "SECRET": secret,
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        ["sh", "-c", _readme_block("sh")], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class _Receiver:
    """A webhook receiver on 127.0.0.1: queued statuses first, then `judge(body)` (200 by
    default). Keeps each request's raw body and headers."""

    def __init__(self, statuses=(), judge=None):
        self.statuses, self.requests = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((raw, dict(self.headers)))
                if receiver.statuses:
                    status = receiver.statuses.pop(0)
                else:
                    status = judge(json.loads(raw)) if judge else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made = []

    def make(**kwargs):
        made.append(_Receiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    budget_cache_invalidate()
    monkeypatch.setattr(alert_webhooks, "WEBHOOK_RETRY_DELAYS", (0.0, 0.0))


def _alert(tenant, url: str, **budget) -> int:
    tenant.alert_webhook_url = url
    tenant.save()
    make_budget(tenant, limit_usd="1.00", alert_thresholds=[50], **budget)
    now = datetime.now(UTC)
    make_event(tenant, at=now, cost="0.75")
    [alert_id] = alerts_evaluate(now=now)
    return alert_id


@pytest.mark.django_db
def test_signed_webhook_verifies_with_the_readme_recipes_and_fails_when_changed(
    tenant, receiver_factory, tmp_path
):
    secret = webhook_secret_rotate(tenant=tenant)
    receiver = receiver_factory()
    alert_deliver(alert_id=_alert(tenant, receiver.url))
    [(raw, headers)] = receiver.requests
    header = headers["X-Tollgate-Signature"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    verify = _python_verify()
    assert verify(secret, header, raw) is True
    changed = raw.replace(b'"threshold_pct":50', b'"threshold_pct":5')
    assert changed != raw
    assert verify(secret, header, changed) is False
    assert verify(secret + "x", header, raw) is False
    assert _shell_verify(secret, header, raw, tmp_path) == "valid"
    assert _shell_verify(secret, header, changed, tmp_path) == "INVALID"
    stale = re.sub(r"t=(\d+)", lambda m: f"t={int(m.group(1)) - 3600}", header)
    assert verify(secret, stale, raw) is False  # replayed an hour later
    tenant.refresh_from_db()
    assert secret not in tenant.alert_webhook_secret  # encrypted at rest


@pytest.mark.django_db
def test_rotation_replaces_the_secret_and_no_secret_means_unsigned(tenant, receiver_factory):
    receiver = receiver_factory()
    alert_deliver(alert_id=_alert(tenant, receiver.url))
    assert "X-Tollgate-Signature" not in receiver.requests[0][1]
    first = webhook_secret_rotate(tenant=tenant)
    second = webhook_secret_rotate(tenant=tenant)
    assert first != second and second.startswith("whsec_")
    BudgetAlert.objects.update(webhook_sent_at=None)
    tenant.refresh_from_db()
    alert_deliver(alert_id=BudgetAlert.objects.get().pk)
    raw, headers = receiver.requests[1]
    verify = _python_verify()
    assert verify(second, headers["X-Tollgate-Signature"], raw)
    assert not verify(first, headers["X-Tollgate-Signature"], raw)


def _slack_judge(body) -> int:
    """What Slack's incoming webhooks accept: a non-empty `text`, and blocks that are objects
    with a `type` (sections with mrkdwn/plain text or fields, context with elements)."""
    if not isinstance(body.get("text"), str) or not body["text"]:
        return 400
    for block in body.get("blocks", []):
        if block.get("type") not in {"section", "context", "divider", "header"}:
            return 400
        texts = [block["text"]] if "text" in block else []
        texts += block.get("fields", []) + block.get("elements", [])
        if not texts or any(t.get("type") not in {"mrkdwn", "plain_text"} for t in texts):
            return 400
        if any(not isinstance(t.get("text"), str) or not t["text"] for t in texts):
            return 400
    return 200


@pytest.mark.django_db
def test_slack_format_is_accepted_by_a_slack_shaped_receiver(tenant, receiver_factory):
    tenant.alert_webhook_format = "slack"
    receiver = receiver_factory(judge=_slack_judge)
    alert = alert_deliver(alert_id=_alert(tenant, receiver.url))
    assert alert.webhook_sent_at is not None
    body = json.loads(receiver.requests[0][0])
    assert set(body) == {"text", "blocks"}
    assert "75.00%" in body["text"] and "acme" in body["text"]
    assert _slack_judge({"type": "budget.threshold_crossed"}) == 400  # the judge can refuse


@pytest.mark.django_db
def test_delivery_log_for_a_failing_then_succeeding_receiver(tenant, receiver_factory):
    receiver = receiver_factory(statuses=[500, 503, 502, 200])
    alert_id = _alert(tenant, receiver.url)
    with pytest.raises(AlertDeliveryFailed):
        alert_deliver(alert_id=alert_id)  # three attempts: 500, 503, 502
    alert = alert_deliver(alert_id=alert_id)  # the task's later retry: 200
    assert alert.webhook_sent_at is not None and alert.delivery_attempts == 4
    rows = list(AlertDelivery.objects.filter(alert_id=alert_id).order_by("attempt"))
    assert [(r.attempt, r.outcome, r.status_code) for r in rows] == [
        (1, "http_error", 500),
        (2, "http_error", 503),
        (3, "http_error", 502),
        (4, "delivered", 200),
    ]
    assert {r.url_host for r in rows} == {"127.0.0.1"}  # never the path with its token
    assert all(r.duration_ms >= 0 and r.at is not None for r in rows)


@pytest.mark.django_db
def test_unreachable_receiver_is_logged_by_error_kind(tenant, receiver_factory):
    receiver = receiver_factory()
    url = receiver.url
    receiver.close()
    alert_id = _alert(tenant, url)
    with pytest.raises(AlertDeliveryFailed):
        alert_deliver(alert_id=alert_id)
    outcomes = list(
        AlertDelivery.objects.filter(alert_id=alert_id).values_list("outcome", flat=True)
    )
    assert outcomes == ["connect_error"] * 3


@pytest.mark.django_db
def test_user_budget_alerts_once_per_end_user(tenant, receiver_factory):
    receiver = receiver_factory()
    tenant.alert_webhook_url = receiver.url
    tenant.save()
    make_budget(tenant, scope="user", end_user="*", period="daily", alert_thresholds=[50])
    now = datetime.now(UTC)
    for user, cost in (("alice", "0.60"), ("bob", "0.20"), ("carol", "0.55")):
        event = make_event(tenant, at=now, cost=cost)
        event.end_user = user
        event.save()
    created = alerts_evaluate(now=now)
    assert sorted(
        BudgetAlert.objects.filter(pk__in=created).values_list("end_user", flat=True)
    ) == [
        "alice",
        "carol",
    ]
    assert alerts_evaluate(now=now) == []  # each user's threshold once per period
    alert_deliver(alert_id=BudgetAlert.objects.get(end_user="alice").pk)
    assert json.loads(receiver.requests[0][0])["end_user"] == "alice"


@pytest.mark.django_db
def test_rotate_api_shows_the_secret_once_and_history_lists_deliveries(
    owner_client, member_client, outsider_client, tenant, receiver_factory
):
    url = "/api/v1/tenant/webhook-secret/rotate/"
    assert member_client.post(url).status_code == 403
    response = owner_client.post(url)
    assert response.status_code == 201, response.content
    secret = response.json()["secret"]
    assert secret.startswith("whsec_") and response.json()["header"] == "X-Tollgate-Signature"
    tenant.refresh_from_db()
    receiver = receiver_factory(statuses=[500])
    alert_id = _alert(tenant, receiver.url)
    alert_deliver(alert_id=alert_id)
    budget_id = BudgetAlert.objects.get(pk=alert_id).budget_id
    history = owner_client.get(f"/api/v1/budgets/{budget_id}/alerts/").json()["results"]
    assert [(d["attempt"], d["outcome"], d["status_code"]) for d in history[0]["deliveries"]] == [
        (1, "http_error", 500),
        (2, "delivered", 200),
    ]
    assert history[0]["deliveries"][0]["url_host"] == "127.0.0.1"
    assert secret not in json.dumps(history)
    assert outsider_client.get(f"/api/v1/budgets/{budget_id}/alerts/").status_code == 404
    verify = _python_verify()
    assert all(verify(secret, h["X-Tollgate-Signature"], raw) for raw, h in receiver.requests)
