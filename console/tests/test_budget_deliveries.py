"""The console's budgets page shows each alert's webhook attempts (the delivery log) and the
end user of a user budget's alert, escaped."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import AlertDelivery, Budget, BudgetAlert


@pytest.mark.django_db
def test_budgets_page_lists_webhook_attempts(client, tenant, owner):
    budget = Budget.objects.create(
        tenant=tenant, scope="user", end_user="*", period="daily", limit_usd=Decimal("1")
    )
    alert = BudgetAlert.objects.create(
        budget=budget,
        tenant=tenant,
        end_user="<b>cust</b>",
        period_key="2026-11-20",
        threshold=80,
        used_pct=Decimal("81"),
    )
    for attempt, outcome, status in ((1, "http_error", 503), (2, "delivered", 200)):
        AlertDelivery.objects.create(
            alert=alert,
            tenant=tenant,
            attempt=attempt,
            url_host="hooks.example.test",
            outcome=outcome,
            status_code=status,
            duration_ms=12 * attempt,
        )
    client.force_login(owner)
    page = client.get(reverse("console:budgets", kwargs={"slug": tenant.slug})).content.decode()
    row = page.split(f'data-deliveries="{alert.pk}"', 1)[1].split("</tr>", 1)[0]
    assert row.index("#1") < row.index("http_error 503") < row.index("#2")
    assert "delivered 200 24 ms" in row and "hooks.example.test" in row
    assert "&lt;b&gt;cust&lt;/b&gt;" in page and "<b>cust</b>" not in page
