"""Keys on the management API (/api/v1/): the same checks as /v1. A value that is not a live key
is one 401 `invalid_api_key` with one body (missing, malformed, unknown, revoked, expired alike),
never echoed, and a value that cannot be a key costs no query. Raw ASGI into Django's handler
(tests/support/asgi.py) carries the bytes a client could send; keys only count in the header."""

import asyncio
import base64
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from config.asgi import django_application
from tenants.services import API_KEY_INVALID_MESSAGE, api_key_create, api_key_revoke
from tests.support.api import assert_error
from tests.support.asgi import asgi_request
from tests.support.queries import all_queries

URL = "/api/v1/keys/"
BAD_AUTHORIZATION = {
    "sql injection": b"Bearer tg_' OR 1=1 --",
    "sql injection, key-length": b"Bearer tg_'+OR+1=1;DROP+TABLE+tenants_tenantapikey;--xxxxxxx",
    "10 kB": b"Bearer tg_" + b"A" * 10_000,
    "1 MB": b"Bearer tg_" + b"A" * 1_000_000,
    "raw UTF-8": "Bearer tg_ключ-ключ-ключ-ключ-ключ-ключ-ключ-ключ".encode(),
    "raw UTF-8, key length": b"Bearer tg_" + "é".encode() * 30,
    "no tg_ prefix": b"Bearer sk-" + b"A" * 43,
    "too short": b"Bearer tg_" + b"A" * 20,
    "empty": b"",
    "Bearer, no value": b"Bearer",
    "Bearer and spaces": b"Bearer    ",
    "Basic": b"Basic " + base64.b64encode(b"user:tg_" + b"A" * 43),
    "two values": b"Bearer tg_" + b"A" * 43 + b" tg_" + b"B" * 43,
}


def _get(url: str, authorization: bytes | None, method: str = "GET", body: bytes = b""):
    headers = [(b"content-type", b"application/json")]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    return asyncio.run(asgi_request(django_application, method, url, headers=headers, body=body))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(BAD_AUTHORIZATION))
def test_a_value_that_cannot_be_a_key_is_one_generic_401_without_a_query(case):
    authorization = BAD_AUTHORIZATION[case]
    with all_queries() as statements:
        response = _get(URL, authorization)
    assert response.status == 401
    assert response.json() == {
        "error": {
            "message": API_KEY_INVALID_MESSAGE,
            "type": "authentication_error",
            "code": "invalid_api_key",
        }
    }
    value = authorization.partition(b" ")[2].strip()
    if len(value) > 3:
        assert value not in response.body
        assert all(value not in v for _, v in response.headers)
    assert statements == []


@pytest.mark.django_db(transaction=True)
def test_every_refusal_has_the_same_body(tenant):
    revoked, revoked_secret = api_key_create(tenant=tenant, scopes=["read"])
    api_key_revoke(key=revoked)
    _expired, expired_secret = api_key_create(
        tenant=tenant, scopes=["read"], expires_at=timezone.now() - timedelta(seconds=1)
    )
    refusals = [*BAD_AUTHORIZATION.values(), None]
    refusals += [f"Bearer {s}".encode() for s in (revoked_secret, expired_secret)]
    refusals.append(b"Bearer tg_" + b"Z" * 43)  # well formed, unknown
    bodies = set()
    for authorization in refusals:
        response = _get(URL, authorization)
        assert response.status == 401
        assert response.header("WWW-Authenticate") == 'Bearer realm="tollgate"'
        bodies.add(response.body)
    assert len(bodies) == 1


@pytest.mark.django_db(transaction=True)
def test_a_well_formed_unknown_key_is_looked_up():
    """The control for the no-query test: the counter sees the lookup of a possible key."""
    with all_queries() as statements:
        assert _get(URL, b"Bearer tg_" + b"Q" * 43).status == 401
    assert any("tenants_tenantapikey" in s for s in statements)


def test_two_keys_sharing_a_long_prefix_authenticate_as_themselves(
    tenant, other_tenant, monkeypatch
):
    common = "S" * 27  # with "tg_": the first 30 characters are the same
    keys = {}
    for t, tail in ((tenant, "a"), (other_tenant, "b")):
        monkeypatch.setattr(
            "tenants.services.secrets.token_urlsafe", lambda _n, tail=tail: common + tail * 16
        )
        keys[t.slug] = api_key_create(tenant=t, scopes=["read"])
    (key_a, secret_a), (key_b, secret_b) = keys["acme"], keys["globex"]
    assert secret_a[:30] == secret_b[:30] and secret_a != secret_b
    for key, secret in ((key_a, secret_a), (key_b, secret_b)):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        listed = client.get(URL).json()["results"]
        assert [row["id"] for row in listed] == [key.pk]
    for near_miss in (secret_a[:-1] + "b", secret_a[:30] + "c" * 16, secret_a + "a"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {near_miss}")
        assert_error(client.get(URL), 401, "invalid_api_key")


@pytest.mark.parametrize("param", ["api_key", "key", "access_token", "token"])
def test_a_key_in_the_query_string_is_ignored(tenant, param):
    _key, secret = api_key_create(tenant=tenant, scopes=["read", "manage"])
    client = APIClient()
    assert_error(client.get(f"{URL}?{param}={secret}"), 401, "invalid_api_key")
    response = client.post(f"{URL}?{param}={secret}", {"name": "x"}, format="json")
    assert_error(response, 401, "invalid_api_key")


def test_a_key_in_the_body_is_ignored(tenant):
    _key, secret = api_key_create(tenant=tenant, scopes=["read", "manage"])
    body = {"name": "sneaky", "api_key": secret, "key": secret, "authorization": secret}
    response = APIClient().post(URL, body, format="json")
    assert_error(response, 401, "invalid_api_key")
    assert not tenant.api_keys.filter(name="sneaky").exists()


def test_a_key_expires_at_its_expiry(tenant):
    expires = timezone.now() + timedelta(minutes=10)
    _key, secret = api_key_create(tenant=tenant, scopes=["read"], expires_at=expires)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get(URL).status_code == 200
    with time_machine.travel(expires + timedelta(seconds=1), tick=False):
        error = assert_error(client.get(URL), 401, "invalid_api_key")
    assert error["message"] == API_KEY_INVALID_MESSAGE


def test_a_revoked_key_stops_at_once(tenant):
    key, secret = api_key_create(tenant=tenant, scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get(URL).status_code == 200
    api_key_revoke(key=key)
    assert_error(client.get(URL), 401, "invalid_api_key")


def test_a_key_of_a_suspended_tenant_is_refused(tenant):
    from tenants.models import Tenant

    _key, secret = api_key_create(tenant=tenant, scopes=["read"])
    tenant.status = Tenant.Status.SUSPENDED
    tenant.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert_error(client.get(URL), 401, "invalid_api_key")
