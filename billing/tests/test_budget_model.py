import pytest
from django.core.exceptions import ValidationError

from billing.models import Budget
from billing.tests.test_budget_support import make_key
from tests.support.catalog import config_create

pytestmark = pytest.mark.django_db


def _errors(budget: Budget) -> dict:
    with pytest.raises(ValidationError) as info:
        budget.full_clean()
    return info.value.message_dict


def test_a_limit_is_required(tenant):
    errors = _errors(Budget(tenant=tenant, scope="tenant", period="daily"))
    assert "limit_usd" in errors


def test_config_scope_needs_own_config(tenant, other_tenant):
    assert "config" in _errors(Budget(tenant=tenant, scope="config", period="daily", limit_usd=1))
    foreign = config_create(other_tenant, name="plan", validate=False)
    errors = _errors(
        Budget(tenant=tenant, scope="config", config=foreign, period="daily", limit_usd=1)
    )
    assert "another tenant" in errors["config"][0]


def test_key_scope_needs_own_key(tenant, other_tenant):
    assert "api_key" in _errors(Budget(tenant=tenant, scope="key", period="daily", limit_usd=1))
    foreign = make_key(other_tenant)
    errors = _errors(
        Budget(tenant=tenant, scope="key", api_key=foreign, period="daily", limit_usd=1)
    )
    assert "api_key" in errors


def test_tenant_scope_rejects_a_config(tenant):
    config = config_create(tenant, name="plan", validate=False)
    errors = _errors(
        Budget(tenant=tenant, scope="tenant", config=config, period="daily", limit_usd=1)
    )
    assert "config" in errors


@pytest.mark.parametrize("thresholds", [[0], [50, 50], ["80"], [True], "50", [1001], [50.5]])
def test_alert_thresholds_are_validated(tenant, thresholds):
    errors = _errors(
        Budget(tenant=tenant, period="daily", limit_usd=1, alert_thresholds=thresholds)
    )
    assert "alert_thresholds" in errors


def test_bad_period_mode_and_negative_limit_name_fields(tenant):
    errors = _errors(Budget(tenant=tenant, period="weekly", mode="hard", limit_usd=-1))
    assert {"period", "mode", "limit_usd"} <= set(errors)


def test_valid_budget_sorts_thresholds(tenant):
    budget = Budget(
        tenant=tenant, period="monthly", limit_tokens=1000, alert_thresholds=[100, 50, 80]
    )
    budget.full_clean()
    assert budget.alert_thresholds == [50, 80, 100]
