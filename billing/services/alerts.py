"""Budget alerts: evaluate thresholds against the counters, deliver by webhook and email.

Each (budget, period, threshold) fires once: the BudgetAlert row is unique, and only the
evaluation that inserts it queues a delivery. Delivery is idempotent per channel (a sent
timestamp, set by a conditional update) and the webhook payload carries the alert id, so a
receiver can drop a duplicate if a worker dies between POST and bookkeeping.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from decimal import Decimal

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Budget, BudgetAlert
from billing.services.budget_specs import tenant_budgets
from billing.services.counter_plans import all_plans
from billing.services.counters_rebuild import counter_values_sync
from billing.services.micros import MICROS
from core.errors import ApplicationError, InvalidRequest
from core.ssrf import validate_upstream_base_url
from tenants.models import Tenant

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_RETRY_DELAYS = (0.5, 2.0)  # between attempts; then the Celery task retries later


class AlertDeliveryFailed(ApplicationError):
    status = 502
    code = "alert_delivery_failed"


def _used_pct(used: int, limit: int | None) -> Decimal | None:
    if limit is None:
        return None
    if limit == 0:
        return Decimal(100) if used == 0 else Decimal(1000)
    return Decimal(used * 100) / Decimal(limit)


def alerts_evaluate(*, now: datetime | None = None, on_created=None) -> list[int]:
    """Create an alert row for each threshold a budget has crossed in its current period;
    returns the new alert ids (each queued once through `on_created` after commit)."""
    now = now or timezone.now()
    created: list[int] = []
    tenant_ids = (
        Budget.objects.filter(is_active=True)
        .exclude(alert_thresholds=[])
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    for tenant in Tenant.objects.filter(pk__in=list(tenant_ids)):
        budgets = tenant_budgets(tenant_id=tenant.pk)
        plans = all_plans(budgets=budgets, at=now)
        values = dict(
            zip(
                [(p.scope, p.scope_id, p.period) for p in plans],
                counter_values_sync(plans=plans, tz=budgets.tz),
                strict=True,
            )
        )
        windows = {p.period: p.window for p in plans}
        for spec in budgets.budgets:
            if not spec.thresholds:
                continue
            micros, tokens = values[(spec.scope, spec.scope_id, spec.period)]
            pcts = [
                pct
                for pct in (
                    _used_pct(micros, spec.limit_micros),
                    _used_pct(tokens, spec.limit_tokens),
                )
                if pct is not None
            ]
            if not pcts:
                continue
            pct = max(pcts)
            for threshold in spec.thresholds:
                if pct < threshold:
                    continue
                alert_id = _alert_insert(
                    spec=spec,
                    tenant_id=tenant.pk,
                    period_key=windows[spec.period].key,
                    threshold=threshold,
                    pct=pct,
                    micros=micros,
                    tokens=tokens,
                )
                if alert_id is not None:
                    created.append(alert_id)
                    if on_created is not None:
                        transaction.on_commit(lambda a=alert_id: on_created(a))
    return created


def _alert_insert(
    *, spec, tenant_id: int, period_key: str, threshold: int, pct, micros: int, tokens: int
) -> int | None:
    if BudgetAlert.objects.filter(
        budget_id=spec.id, period_key=period_key, threshold=threshold
    ).exists():
        return None
    try:
        with transaction.atomic():
            alert = BudgetAlert.objects.create(
                budget_id=spec.id,
                tenant_id=tenant_id,
                period_key=period_key,
                threshold=threshold,
                used_pct=min(pct, Decimal("99999999")).quantize(Decimal("0.01")),
                spent_usd=Decimal(micros) / MICROS,
                tokens=tokens,
            )
    except IntegrityError:  # another evaluation inserted it first
        return None
    return alert.pk


def _payload(alert: BudgetAlert) -> dict:
    budget = alert.budget
    return {
        "type": "budget.threshold_crossed",
        "id": alert.pk,
        "tenant": alert.tenant.slug,
        "budget": {
            "id": budget.pk,
            "scope": budget.scope,
            "scope_label": budget.scope_label,
            "period": budget.period,
            "mode": budget.mode,
            "limit_usd": None if budget.limit_usd is None else str(budget.limit_usd),
            "limit_tokens": budget.limit_tokens,
        },
        "period": alert.period_key,
        "threshold_pct": alert.threshold,
        "used_pct": str(alert.used_pct),
        "spent_usd": str(alert.spent_usd.normalize()),
        "tokens": alert.tokens,
        "created_at": alert.created_at.isoformat(),
    }


def alert_deliver(*, alert_id: int) -> BudgetAlert:
    """Send one alert by webhook (retried with backoff) and email; raise AlertDeliveryFailed
    when the webhook still fails so the task can retry later."""
    alert = BudgetAlert.objects.select_related("budget__config", "budget__api_key", "tenant").get(
        pk=alert_id
    )
    tenant = alert.tenant
    payload = _payload(alert)
    if tenant.alert_email and not alert.email_sent_at:
        send_mail(
            subject=f"[Tollgate] {tenant.slug}: {alert.threshold}% of the "
            f"{alert.budget.period} budget for {alert.budget.scope_label} used",
            message=(
                f"Budget {alert.budget} reached {alert.used_pct}% in period {alert.period_key} "
                f"(threshold {alert.threshold}%, spent ${payload['spent_usd']})."
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[tenant.alert_email],
        )
        BudgetAlert.objects.filter(pk=alert.pk, email_sent_at__isnull=True).update(
            email_sent_at=timezone.now()
        )
    if tenant.alert_webhook_url and not alert.webhook_sent_at:
        _deliver_webhook(alert, tenant.alert_webhook_url, payload)
    alert.refresh_from_db()
    return alert


def _deliver_webhook(alert: BudgetAlert, url: str, payload: dict) -> None:
    try:
        validate_upstream_base_url(url)
    except InvalidRequest as exc:
        BudgetAlert.objects.filter(pk=alert.pk).update(last_error=f"webhook URL refused: {exc}")
        return
    error = ""
    attempts = len(WEBHOOK_RETRY_DELAYS) + 1
    with httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False) as client:
        for attempt in range(attempts):
            try:
                response = client.post(
                    url, json=payload, headers={"X-Tollgate-Alert-Id": str(alert.pk)}
                )
            except httpx.HTTPError as exc:
                error = f"webhook attempt {attempt + 1}: {type(exc).__name__}"
            else:
                if response.is_success:
                    BudgetAlert.objects.filter(pk=alert.pk, webhook_sent_at__isnull=True).update(
                        webhook_sent_at=timezone.now(),
                        delivery_attempts=alert.delivery_attempts + attempt + 1,
                        last_error="",
                    )
                    return
                error = f"webhook attempt {attempt + 1}: HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                    break  # the receiver refuses it; retrying will not help
            if attempt + 1 < attempts:
                time.sleep(WEBHOOK_RETRY_DELAYS[attempt])
    BudgetAlert.objects.filter(pk=alert.pk).update(
        delivery_attempts=alert.delivery_attempts + attempts, last_error=error[:300]
    )
    logger.warning("Budget alert %s webhook failed: %s", alert.pk, error)
    raise AlertDeliveryFailed(error)
