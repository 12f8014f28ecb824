"""Billing's models, one module per record kind (Django loads the app's models from here)."""

from billing.models.budgets import (
    Budget,
    BudgetAlert,
    BudgetCounter,
    BudgetHold,
    validate_alert_thresholds,
)
from billing.models.exports import BillingExport
from billing.models.rollups import (
    ROLLUP_LAYOUT,
    DailyRollup,
    DailyTagRollup,
    DailyTagSetRollup,
    MonthlyRollup,
    RollupState,
)
from billing.models.usage import NOT_BILLED_TOKEN_STATUSES, UsageEvent

__all__ = [
    "NOT_BILLED_TOKEN_STATUSES",
    "ROLLUP_LAYOUT",
    "BillingExport",
    "Budget",
    "BudgetAlert",
    "BudgetCounter",
    "BudgetHold",
    "DailyRollup",
    "DailyTagRollup",
    "DailyTagSetRollup",
    "MonthlyRollup",
    "RollupState",
    "UsageEvent",
    "validate_alert_thresholds",
]
