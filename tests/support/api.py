"""API test support: a client for each kind of caller (session users, API keys) and the
contract's error shape. Fixtures registered in the root conftest's `pytest_plugins`; import
`assert_error` directly.
"""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from tenants.models import Tenant
from tenants.services import api_key_create


def assert_error(response, status: int, code: str) -> dict:
    """The contract's error shape, with the expected status and code."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["type"]
    return body["error"]


def _session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner) -> APIClient:
    return _session_client(owner)


@pytest.fixture
def member_client(member) -> APIClient:
    return _session_client(member)


@pytest.fixture
def outsider_client(outsider) -> APIClient:
    return _session_client(outsider)


@pytest.fixture
def operator_client(operator) -> APIClient:
    return _session_client(operator)


@pytest.fixture
def key_client(tenant) -> Callable[..., APIClient]:
    """key_client("read", "manage") -> a client with a fresh key of the tenant."""

    def make(*scopes: str, for_tenant: Tenant | None = None) -> APIClient:
        _key, secret = api_key_create(tenant=for_tenant or tenant, scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make
