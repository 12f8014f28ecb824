"""Benchmark tenant set-up, run by run.sh through `manage.py shell` after create_tenant.

Gives the tenant `bench` every hot-path feature: a default routing config with rules and a
fallback chain (requests use `"model": "auto"`, so the router evaluates the rules, including the
budget-state rule), strict daily and monthly budgets large enough never to block, and request
and token rate limits on the benchmark's API key, as large (every request is checked and
counted, none refused). Prints one line per thing it set up; a missing feature is reported, not
silently skipped.
"""

from decimal import Decimal

from django.apps import apps

from llm.models import RoutingConfig
from tenants.models import Tenant, TenantApiKey

tenant = Tenant.objects.get(slug="bench")

config = RoutingConfig(
    tenant=tenant,
    name="default",
    is_default=True,
    primary_model="openai/gpt-4o-mini",
    fallback_models=["openai/gpt-4.1-mini", "openai/gpt-4.1-nano"],
    params={"temperature": 0.2},
    rules=[
        {"when": {"task": "code"}, "route": {"model": "openai/gpt-4.1"}},
        {"when": {"budget_used_pct_gte": 80}, "route": {"model": "openai/gpt-4.1-nano"}},
        {
            "when": {"tags_any": ["experiment"]},
            "route": {
                "split": [
                    {"model": "openai/gpt-4.1", "weight": 90},
                    {"model": "openai/gpt-4.1-mini", "weight": 10},
                ]
            },
        },
    ],
)
config.full_clean()
config.save()
print(f"SETUP routing_config=default rules={len(config.rules)} fallbacks={config.fallback_models}")

try:
    Budget = apps.get_model("billing", "Budget")
except LookupError:
    Budget = None
if Budget is None:
    print("SETUP budget=MISSING (billing.models.Budget does not exist yet)")
else:
    fields = {f.name for f in Budget._meta.get_fields()}
    for period in ("daily", "monthly"):
        wanted = {
            "tenant": tenant,
            "scope": "tenant",
            "period": period,
            "limit_usd": Decimal("1000000.00"),
            "limit_tokens": None,
            "mode": "strict",
            "alert_thresholds": [50, 80, 100],
        }
        budget = Budget(**{k: v for k, v in wanted.items() if k in fields})
        budget.full_clean()
        budget.save()
        print(f"SETUP budget={period} strict limit_usd=1000000 id={budget.pk}")

# Up to 2**31 - 1 (the fields' type): far above what a benchmark run sends in a minute.
RPM_LIMIT, TPM_LIMIT = 100_000_000, 2_000_000_000
keys = TenantApiKey.objects.filter(tenant=tenant)
keys.update(rpm_limit=RPM_LIMIT, tpm_limit=TPM_LIMIT)
print(f"SETUP rate_limits keys={keys.count()} rpm_limit={RPM_LIMIT} tpm_limit={TPM_LIMIT}")
