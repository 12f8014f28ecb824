"""Alert webhook delivery: the body (JSON or Slack-shaped), its signature, and the HTTP
attempts, each logged as an AlertDelivery row.

Signature (README "Signed alert webhooks"): header
`X-Tollgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` over the
exact body bytes sent, with the tenant's secret (tenants/webhook_secrets.py). No secret yet:
no signature header (the tenant creates one with POST /api/v1/tenant/webhook-secret/rotate/).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from billing.models import AlertDelivery, BudgetAlert
from core.errors import InvalidRequest
from core.ssrf import validate_upstream_base_url
from tenants.webhook_secrets import webhook_secret_get

if TYPE_CHECKING:
    from tenants.models import Tenant

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Tollgate-Signature"
WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_RETRY_DELAYS = (0.5, 2.0)  # between attempts; then the Celery task retries later


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The header value: `t=<timestamp>,v1=<hex HMAC-SHA256 over "<timestamp>.<body>">`."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def slack_body(payload: dict) -> dict:
    """A Slack incoming-webhook message: `text` (the notification) plus the same in blocks."""
    budget = payload["budget"]
    limit = f"${budget['limit_usd']}" if budget["limit_usd"] is not None else None
    if budget["limit_tokens"] is not None:
        tokens = f"{budget['limit_tokens']} tokens"
        limit = f"{limit} / {tokens}" if limit else tokens
    who = f" (end user {payload['end_user']})" if payload.get("end_user") else ""
    text = (
        f"Tollgate: {payload['tenant']} used {payload['used_pct']}% of the {budget['period']} "
        f"budget for {budget['scope_label']}{who} (threshold {payload['threshold_pct']}%)."
    )
    fields = [
        f"*Spent*\n${payload['spent_usd']}",
        f"*Limit*\n{limit}",
        f"*Period*\n{payload['period']}",
        f"*Mode*\n{budget['mode']}",
    ]
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"Alert {payload['id']}"}],
            },
        ],
    }


def _request(tenant: Tenant, alert: BudgetAlert, payload: dict) -> tuple[bytes, dict, str]:
    fmt = tenant.alert_webhook_format or "json"
    document = slack_body(payload) if fmt == "slack" else payload
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "X-Tollgate-Alert-Id": str(alert.pk)}
    secret = webhook_secret_get(tenant=tenant)
    if secret:
        headers[SIGNATURE_HEADER] = webhook_signature(
            secret=secret, timestamp=int(time.time()), body=body
        )
    return body, headers, fmt


def _log(alert: BudgetAlert, *, host: str, fmt: str, attempt: int, outcome: str, **extra) -> None:
    AlertDelivery.objects.create(
        alert=alert,
        tenant_id=alert.tenant_id,
        attempt=attempt,
        url_host=host[:255],
        payload_format=fmt,
        outcome=outcome,
        **extra,
    )


def _error_kind(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return AlertDelivery.Outcome.TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return AlertDelivery.Outcome.CONNECT_ERROR
    return AlertDelivery.Outcome.TRANSPORT_ERROR


def webhook_deliver(*, alert: BudgetAlert, url: str, payload: dict) -> tuple[bool, str]:
    """POST the alert (retried with backoff on timeouts, connection errors, 408, 429 and 5xx);
    (delivered, last error). Every attempt is an AlertDelivery row; nothing about the receiver
    beyond its host is kept."""
    tenant = alert.tenant
    host = urlsplit(url).hostname or ""
    body, headers, fmt = _request(tenant, alert, payload)
    first = AlertDelivery.objects.filter(alert=alert).count() + 1
    try:
        validate_upstream_base_url(url)
    except InvalidRequest as exc:
        _log(alert, host=host, fmt=fmt, attempt=first, outcome=AlertDelivery.Outcome.REFUSED_URL)
        return False, f"webhook URL refused: {exc}"
    error = ""
    with httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False) as client:
        for index in range(len(WEBHOOK_RETRY_DELAYS) + 1):
            if index:
                time.sleep(WEBHOOK_RETRY_DELAYS[index - 1])
            started = time.monotonic()
            attempt = first + index
            try:
                response = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                kind = _error_kind(exc)
                _log(alert, host=host, fmt=fmt, attempt=attempt, outcome=kind, **_took(started))
                error = f"webhook attempt {attempt}: {kind}"
                continue
            ok = response.is_success
            outcome = AlertDelivery.Outcome.DELIVERED if ok else AlertDelivery.Outcome.HTTP_ERROR
            _log(
                alert,
                host=host,
                fmt=fmt,
                attempt=attempt,
                outcome=outcome,
                status_code=response.status_code,
                **_took(started),
            )
            if ok:
                return True, ""
            error = f"webhook attempt {attempt}: HTTP {response.status_code}"
            if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                break  # the receiver refuses it; retrying will not help
    logger.warning("Budget alert %s webhook failed: %s", alert.pk, error)
    return False, error


def _took(started: float) -> dict:
    return {"duration_ms": int((time.monotonic() - started) * 1000)}
