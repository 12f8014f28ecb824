"""Budgets with what each has spent in its period, and the alerts each sent."""

from django.http import HttpRequest, HttpResponse

from billing.selectors.budgets import budget_alert_list, budget_list
from billing.services.budget_status import budget_statuses
from console.access import ConsoleAccess, tenant_page
from console.rendering import render_page

ALERTS_SHOWN = 20


@tenant_page
def budgets(request: HttpRequest, access: ConsoleAccess) -> HttpResponse:
    budgets = list(budget_list(tenant=access.tenant))
    statuses = budget_statuses(budgets=[b for b in budgets if b.is_active])
    lines = [
        {
            "budget": budget,
            "status": statuses.get(budget.pk),
            "alerts": list(budget_alert_list(budget=budget)[:ALERTS_SHOWN]),
        }
        for budget in budgets
    ]
    return render_page(request, "console/budgets.html", title="Budgets", access=access, lines=lines)
