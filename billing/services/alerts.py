"""Budget alerts: evaluate thresholds against the counters, deliver by webhook and email.

Each (budget, period, threshold) fires once: the BudgetAlert row is unique, and only the
evaluation that inserts it queues a delivery. Delivery is idempotent per channel (a sent
timestamp, set by a conditional update) and the webhook payload carries the alert id, so a
receiver can drop a duplicate if a worker dies between POST and bookkeeping. The webhook's
body, signature and attempts (each logged) are alert_webhooks.py. A user budget alerts per end
user (the alert names the user).
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import AlertDelivery, Budget, BudgetAlert
from billing.services.alert_webhooks import webhook_deliver
from billing.services.budget_specs import tenant_budgets
from billing.services.counter_plans import spec_plans
from billing.services.counters_rebuild import counter_values_sync, every_plan
from billing.services.micros import MICROS
from core.errors import ApplicationError
from tenants.models import Tenant

logger = logging.getLogger(__name__)


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
        plans = every_plan(budgets=budgets, at=now)
        values = dict(
            zip(
                [p.key for p in plans],
                counter_values_sync(plans=plans, tz=budgets.tz),
                strict=True,
            )
        )
        for spec in budgets.budgets:
            if not spec.thresholds:
                continue
            for plan in spec_plans(spec, plans):
                for alert_id in _plan_alerts(spec, plan, values[plan.key], tenant_id=tenant.pk):
                    created.append(alert_id)
                    if on_created is not None:
                        transaction.on_commit(lambda a=alert_id: on_created(a))
    return created


def _plan_alerts(spec, plan, value: tuple[int, int], *, tenant_id: int) -> list[int]:
    """The new alerts of one budget on one counter (one end user's, for a user budget)."""
    micros, tokens = value
    pcts = [
        pct
        for pct in (_used_pct(micros, spec.limit_micros), _used_pct(tokens, spec.limit_tokens))
        if pct is not None
    ]
    if not pcts:
        return []
    pct = max(pcts)
    created = []
    for threshold in spec.thresholds:
        if pct < threshold:
            continue
        alert_id = _alert_insert(
            spec=spec,
            tenant_id=tenant_id,
            period_key=plan.window.key,
            threshold=threshold,
            pct=pct,
            micros=micros,
            tokens=tokens,
            end_user=plan.end_user,
        )
        if alert_id is not None:
            created.append(alert_id)
    return created


def _alert_insert(
    *,
    spec,
    tenant_id: int,
    period_key: str,
    threshold: int,
    pct,
    micros: int,
    tokens: int,
    end_user: str = "",
) -> int | None:
    if BudgetAlert.objects.filter(
        budget_id=spec.id, period_key=period_key, threshold=threshold, end_user=end_user
    ).exists():
        return None
    try:
        with transaction.atomic():
            alert = BudgetAlert.objects.create(
                budget_id=spec.id,
                tenant_id=tenant_id,
                end_user=end_user,
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
        "end_user": alert.end_user or None,
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
    delivered, error = webhook_deliver(alert=alert, url=url, payload=payload)
    attempts = AlertDelivery.objects.filter(alert=alert).count()
    if delivered:
        BudgetAlert.objects.filter(pk=alert.pk, webhook_sent_at__isnull=True).update(
            webhook_sent_at=timezone.now(), delivery_attempts=attempts, last_error=""
        )
        return
    BudgetAlert.objects.filter(pk=alert.pk).update(
        delivery_attempts=attempts, last_error=error[:300]
    )
    if error.startswith("webhook URL refused"):
        return  # retrying cannot help until the tenant fixes its URL
    raise AlertDeliveryFailed(error)
