"""Tenancy fixtures: two tenants, an owner and a member of the first, an outsider who owns the
second, and a platform operator (healthchecks-style). Registered in the root conftest's
`pytest_plugins`; the isolation tests on every endpoint use these same people.
"""

import pytest

from tenants.models import Membership, Tenant
from tenants.services import membership_set, tenant_create


@pytest.fixture
def tenant(db) -> Tenant:
    return tenant_create(slug="acme", name="Acme Corp", timezone_name="Europe/Berlin")


@pytest.fixture
def other_tenant(db) -> Tenant:
    return tenant_create(slug="globex", name="Globex", timezone_name="America/New_York")


def _staff_member(user_model, tenant: Tenant, *, username: str, role: str):
    """A staff user (password `pw-<name>-123`) with one membership."""
    user = user_model.objects.create_user(
        username=username, password=f"pw-{username}-123", is_staff=True
    )
    membership_set(tenant=tenant, user=user, role=role)
    return user


@pytest.fixture
def owner(tenant, django_user_model):
    return _staff_member(django_user_model, tenant, username="alice", role=Membership.Role.OWNER)


@pytest.fixture
def member(tenant, django_user_model):
    return _staff_member(django_user_model, tenant, username="bob", role=Membership.Role.VIEWER)


@pytest.fixture
def outsider(other_tenant, django_user_model):
    return _staff_member(
        django_user_model, other_tenant, username="mallory", role=Membership.Role.OWNER
    )


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser(username="op", password="pw-op-123")
