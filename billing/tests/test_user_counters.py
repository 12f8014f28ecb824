"""Which counters a request with an end user touches: one per (tenant, end user, period),
keyed by a bounded digest of the id, shared by a "*" budget and one naming that user (the
stricter limit applies); none for a request without an end user."""

from datetime import UTC, datetime

import pytest

from billing.services.budget_specs import tenant_budgets_load
from billing.services.counter_plans import all_plans, counter_plans
from billing.services.counters_rebuild import counters_rebuild, every_plan
from billing.services.micros import limit_micros, to_micros
from billing.tests.test_budget_support import make_budget, make_event


def _plans(tenant, end_user):
    budgets = tenant_budgets_load(tenant_id=tenant.pk)
    return counter_plans(budgets=budgets, api_key_id=None, config_id=None, end_user=end_user)


@pytest.mark.django_db
def test_each_end_user_has_a_counter_of_their_own(tenant, other_tenant):
    make_budget(tenant, scope="user", end_user="*", period="daily", limit_usd="2.00")
    make_budget(tenant, scope="user", end_user="bob", period="daily", limit_usd="0.50")
    make_budget(other_tenant, scope="user", end_user="*", period="daily", limit_usd="9.00")
    [alice] = _plans(tenant, "alice")
    [bob] = _plans(tenant, "bob")
    [theirs] = _plans(other_tenant, "alice")
    assert len({alice.key, bob.key, theirs.key}) == 3
    assert alice.limit_micros == limit_micros("2.00")
    assert bob.limit_micros == limit_micros("0.50")  # the stricter of "*" and bob's own
    assert (alice.end_user, alice.label) == ("alice", "end user 'alice'")
    assert _plans(tenant, None) == [] and _plans(tenant, "") == []


@pytest.mark.django_db
def test_counter_keys_are_bounded_and_hide_the_id(tenant):
    make_budget(tenant, scope="user", end_user="*", period="monthly", limit_usd="1.00")
    long_id = "x{}:" * 32  # 128 characters with braces and colons
    [plan] = _plans(tenant, long_id)
    assert len(plan.key) <= 120  # BudgetCounter.key
    assert "x{}" not in plan.key and plan.key.startswith(f"tg:bud:{{t:{tenant.pk}}}:user:")
    assert _plans(tenant, long_id)[0].key == plan.key  # stable
    assert _plans(tenant, long_id[:-1])[0].key != plan.key


@pytest.mark.django_db
def test_all_plans_walks_the_given_end_users(tenant):
    make_budget(tenant, scope="user", end_user="*", period="daily", limit_usd="1.00")
    make_budget(tenant, scope="user", end_user="carol", period="daily", limit_usd="1.00")
    make_budget(tenant, period="daily", limit_usd="5.00")
    budgets = tenant_budgets_load(tenant_id=tenant.pk)
    plans = all_plans(budgets=budgets, end_users=["alice", "bob"])
    assert sorted(p.end_user for p in plans if p.scope == "user") == ["alice", "bob", "carol"]
    assert [p.scope for p in plans if p.scope != "user"] == ["tenant"]


@pytest.mark.django_db
def test_rebuild_raises_each_active_end_users_counter_to_the_truth(tenant, redis_client):
    make_budget(tenant, scope="user", end_user="*", period="monthly", limit_usd="5.00")
    now = datetime.now(UTC)
    for user, cost in (("alice", "0.25"), ("bob", "0.125"), ("", "3")):
        event = make_event(tenant, at=now, cost=cost)
        event.end_user = user
        event.save()
    assert counters_rebuild(now=now) == 2  # alice's and bob's; no counter for "no end user"
    budgets = tenant_budgets_load(tenant_id=tenant.pk)
    seeded = {
        plan.end_user: int(redis_client.hget(plan.key, "sm"))
        for plan in every_plan(budgets=budgets, at=now)
    }
    assert seeded == {"alice": to_micros("0.25"), "bob": to_micros("0.125")}
