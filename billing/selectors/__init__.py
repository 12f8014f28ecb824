"""Billing's reads, one module per thing read. Every query is scoped to one tenant
(`tenant=None` only where platform staff may read across tenants, and it says so)."""

from billing.selectors.rollup_state import rolled_through  # transition: lead moves importers  # noqa: F401
from billing.selectors.usage_aggregates import usage_aggregate  # transition: lead moves importers  # noqa: F401
from billing.selectors.usage_filters import UsageFilters  # transition: lead moves importers  # noqa: F401
