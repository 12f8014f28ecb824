"""budgets/ with scope `user`: one end user or "*" (each end user), field-named validation
errors, and the status figures of a user budget (README "Per-end-user budgets")."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from billing.models import Budget
from billing.tests.api.conftest import make_event
from tests.support.api import assert_error

URL = "/api/v1/budgets/"
NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
USER_BUDGET = {"scope": "user", "end_user": "*", "period": "daily", "limit_usd": "1.00"}


def test_user_budget_for_each_end_user_and_for_one(owner_client, tenant):
    each = owner_client.post(URL, USER_BUDGET, format="json")
    assert each.status_code == 201, each.content
    assert each.json()["scope"] == "user" and each.json()["end_user"] == "*"
    one = owner_client.post(URL, {**USER_BUDGET, "end_user": "cust-42"}, format="json")
    assert one.status_code == 201, one.content
    assert Budget.objects.get(pk=one.json()["id"]).scope_label == "end user 'cust-42'"
    changed = owner_client.patch(f"{URL}{one.json()['id']}/", {"scope": "tenant"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["end_user"] == ""  # another scope names no end user


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**USER_BUDGET, "end_user": ""}, "end_user"),
        ({"scope": "user", "period": "daily", "limit_usd": "1"}, "end_user"),
        ({**USER_BUDGET, "end_user": " padded "}, "end_user"),
        ({**USER_BUDGET, "end_user": "tab\there"}, "end_user"),
        ({**USER_BUDGET, "end_user": "u" * 129}, "end_user"),
        ({**USER_BUDGET, "scope": "tenant"}, "end_user"),
        ({**USER_BUDGET, "scope": "people"}, "scope"),
    ],
)
def test_invalid_user_budgets_name_the_field(owner_client, payload, field):
    error = assert_error(owner_client.post(URL, payload, format="json"), 400, "invalid_request")
    assert field in error["fields"], error
    assert not Budget.objects.exists()


@pytest.fixture
def users_spending(tenant, other_tenant):
    with time_machine.travel(NOW, tick=False):
        make_event(tenant, "u1", NOW, cost_usd=Decimal("0.30"), end_user="alice")
        make_event(tenant, "u2", NOW, cost_usd=Decimal("0.20"), end_user="alice")
        make_event(tenant, "u3", NOW, cost_usd=Decimal("0.10"), end_user="bob")
        make_event(tenant, "u4", NOW, cost_usd=Decimal("5"))  # no end user
        make_event(other_tenant, "u5", NOW, cost_usd=Decimal("9"), end_user="alice")
    each = Budget.objects.create(
        tenant=tenant, scope="user", end_user="*", period="daily", limit_usd=Decimal("1.00")
    )
    bob = Budget.objects.create(
        tenant=tenant, scope="user", end_user="bob", period="daily", limit_usd=Decimal("0.50")
    )
    return {"each": each, "bob": bob}


def test_status_of_a_user_budget_is_per_end_user(owner_client, users_spending):
    each = f"{URL}{users_spending['each'].pk}/"
    with time_machine.travel(NOW, tick=False):
        top = owner_client.get(each).json()
        asked = owner_client.get(each, {"user": "bob"}).json()
        nobody = owner_client.get(each, {"user": "carol"}).json()
        named = owner_client.get(f"{URL}{users_spending['bob'].pk}/").json()
        listed = {b["id"]: b for b in owner_client.get(URL).json()["results"]}
    assert top["status_end_user"] == "alice"  # the biggest spender, without ?user=
    assert (top["spent_usd"], top["remaining_usd"], top["used_pct"]) == ("0.50", "0.50", "50.00")
    assert [(u["end_user"], u["spent_usd"]) for u in top["top_users"]] == [
        ("alice", "0.50"),
        ("bob", "0.10"),
    ]
    assert (asked["status_end_user"], asked["spent_usd"]) == ("bob", "0.10")
    assert (nobody["status_end_user"], nobody["spent_usd"], nobody["top_users"]) == (
        "carol",
        "0.00",
        [],
    )
    assert (named["status_end_user"], named["used_pct"]) == ("bob", "20.00")
    assert listed[users_spending["each"].pk]["spent_usd"] == "0.50"


def test_other_scopes_have_no_user_figures(owner_client, tenant):
    created = owner_client.post(
        URL, {"scope": "tenant", "period": "daily", "limit_usd": "1"}, format="json"
    ).json()
    assert created["status_end_user"] is None and created["top_users"] is None


def test_status_user_parameter_is_bounded(owner_client, users_spending):
    each = f"{URL}{users_spending['each'].pk}/"
    for bad in ("u" * 129, "a\tb"):
        error = assert_error(owner_client.get(each, {"user": bad}), 400, "invalid_request")
        assert "user" in error["fields"]
