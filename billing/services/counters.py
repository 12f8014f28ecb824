"""Transition module: the budget counters now live in budget_specs, counter_plans, micros,
spend_truth, counters_redis, counters_db and counters_rebuild (billing/services/)."""

from billing.services.budget_specs import (  # transition: lead moves importers
    budget_cache_invalidate,
    tenant_budgets,
)
from billing.services.counter_plans import (  # transition: lead moves importers
    all_plans,
    counter_plans,
)
from billing.services.counters_rebuild import (  # transition: lead moves importers
    counter_values_sync,
)
from billing.services.micros import (  # transition: lead moves importers
    MICROS,
    to_micros,
)

__all__ = [
    "MICROS",
    "all_plans",
    "budget_cache_invalidate",
    "counter_plans",
    "counter_values_sync",
    "tenant_budgets",
    "to_micros",
]
