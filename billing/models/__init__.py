"""Billing's models, one module per record kind (Django loads the app's models from here)."""

from billing.models.alerts import AlertDelivery
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
    DailyUserRollup,
    MonthlyRollup,
    RollupState,
)
from billing.models.statements import (
    CreditNote,
    CreditNoteLine,
    DocumentSequence,
    Statement,
    StatementLine,
)
from billing.models.usage import NOT_BILLED_TOKEN_STATUSES, UsageEvent

__all__ = [
    "NOT_BILLED_TOKEN_STATUSES",
    "ROLLUP_LAYOUT",
    "AlertDelivery",
    "BillingExport",
    "Budget",
    "BudgetAlert",
    "BudgetCounter",
    "BudgetHold",
    "CreditNote",
    "CreditNoteLine",
    "DailyRollup",
    "DailyTagRollup",
    "DailyTagSetRollup",
    "DailyUserRollup",
    "DocumentSequence",
    "MonthlyRollup",
    "RollupState",
    "Statement",
    "StatementLine",
    "UsageEvent",
    "validate_alert_thresholds",
]
