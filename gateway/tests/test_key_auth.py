"""Keys on /v1: whatever arrives in `Authorization`, a value that is not a live key gets one
401 `invalid_api_key` with the same body, never an echo of the value, and a value that cannot be
a key costs no database query. Driven as raw ASGI (tests/support/asgi.py), so a 1 MB header and
raw UTF-8 bytes reach the app as a server would hand them over, on both /v1 paths: the bare
endpoint and Django's handler."""

import asyncio
import base64
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from config.asgi import application, django_application
from core.redis import close_pipelined_redis
from gateway.services import snapshots
from gateway.services.request_parsing import authenticate
from tenants.services import API_KEY_INVALID_MESSAGE, api_key_create, api_key_revoke
from tests.support.asgi import asgi_request
from tests.support.queries import all_queries

pytestmark = pytest.mark.django_db(transaction=True)  # keys load on worker threads

CHAT_BODY = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}'
BAD_AUTHORIZATION = {
    "sql injection": b"Bearer tg_' OR 1=1 --",
    "sql injection, key-length": b"Bearer tg_'+OR+1=1;DROP+TABLE+tenants_tenantapikey;--xxxxxxx",
    "10 kB": b"Bearer tg_" + b"A" * 10_000,
    "1 MB": b"Bearer tg_" + b"A" * 1_000_000,
    "raw UTF-8": "Bearer tg_ключ-ключ-ключ-ключ-ключ-ключ-ключ-ключ".encode(),
    "raw UTF-8, key length": b"Bearer tg_" + "é".encode() * 30,
    "no tg_ prefix": b"Bearer sk-" + b"A" * 43,
    "prefix only": b"Bearer tg_",
    "too short": b"Bearer tg_" + b"A" * 20,
    "empty": b"",
    "Bearer, no value": b"Bearer",
    "Bearer and spaces": b"Bearer    ",
    "Basic": b"Basic " + base64.b64encode(b"user:tg_" + b"A" * 43),
    "two values": b"Bearer tg_" + b"A" * 43 + b" tg_" + b"B" * 43,
}
MESSAGES_BODY = (
    b'{"model": "auto", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}'
)
ENDPOINTS = [
    ("POST", "/v1/chat/completions", CHAT_BODY),
    ("GET", "/v1/models", b""),
    ("POST", "/v1/embeddings", b'{"model": "auto", "input": "hi"}'),
    ("POST", "/v1/messages", MESSAGES_BODY),
    ("POST", "/v1/messages/count_tokens", MESSAGES_BODY),
]
OPENAI_401 = {
    "error": {
        "message": API_KEY_INVALID_MESSAGE,
        "type": "authentication_error",
        "code": "invalid_api_key",
    }
}
ANTHROPIC_401 = {  # /v1/messages answers in Anthropic's shape, with the same words
    "type": "error",
    "error": {
        "type": "authentication_error",
        "message": API_KEY_INVALID_MESSAGE,
        "code": "invalid_api_key",
    },
}
APPS = {"bare": application, "django": django_application}


def _call(app, method: str, path: str, body: bytes, authorization: bytes | None, **extra: bytes):
    """One request on a loop of its own (the tests are sync: they write rows with the ORM)."""
    headers = [(b"content-type", b"application/json")]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    headers += [(name.replace("_", "-").encode(), value) for name, value in extra.items()]

    async def call():
        try:
            return await asgi_request(app, method, path, headers=headers, body=body)
        finally:
            close_pipelined_redis()

    return asyncio.run(call())


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("case", list(BAD_AUTHORIZATION))
def test_a_bad_x_api_key_is_the_same_401_without_a_query(path, case):
    """/v1/messages also reads the key from `x-api-key` (the anthropic SDK's header)."""
    value = BAD_AUTHORIZATION[case].partition(b" ")[2] or BAD_AUTHORIZATION[case]
    with all_queries() as statements:
        response = _call(application, "POST", path, MESSAGES_BODY, None, x_api_key=value)
    assert response.status == 401
    assert response.json() == ANTHROPIC_401
    assert statements == []


def _authenticate(secret: str) -> snapshots.KeyInfo:
    async def call():
        try:
            return await authenticate(authorization=f"Bearer {secret}")
        finally:
            close_pipelined_redis()

    return asyncio.run(call())


@pytest.mark.parametrize("app_name", list(APPS))
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize("case", list(BAD_AUTHORIZATION))
def test_a_value_that_cannot_be_a_key_is_one_generic_401_without_a_query(
    app_name, method, path, body, case
):
    authorization = BAD_AUTHORIZATION[case]
    with all_queries() as statements:
        response = _call(APPS[app_name], method, path, body, authorization)
    assert response.status == 401
    assert response.json() == (ANTHROPIC_401 if "/messages" in path else OPENAI_401)
    value = authorization.partition(b" ")[2].strip()
    if len(value) > 3:  # "tg_" alone is in the message itself
        assert value not in response.body
        assert all(value not in v for _, v in response.headers)
    assert statements == []
    assert snapshots._state.keys == {}  # and no cache entry to push real keys out


@pytest.mark.parametrize("app_name", list(APPS))
def test_every_refusal_has_the_same_body(app_name, tenant):
    key, secret = api_key_create(tenant=tenant, scopes=["inference"])
    api_key_revoke(key=key)
    refusals = [*BAD_AUTHORIZATION.values(), None, f"Bearer {secret}".encode()]
    refusals.append(b"Bearer tg_" + b"Z" * 43)  # well formed, unknown
    bodies = set()
    for authorization in refusals:
        response = _call(APPS[app_name], "GET", "/v1/models", b"", authorization)
        assert response.status == 401
        bodies.add(response.body)
    assert len(bodies) == 1


def test_a_well_formed_unknown_key_is_looked_up_once_then_cached():
    """The control for the tests above: the query counter does see a lookup."""
    authorization = b"Bearer tg_" + b"Q" * 43
    with all_queries() as statements:
        first = _call(application, "GET", "/v1/models", b"", authorization)
        second = _call(application, "GET", "/v1/models", b"", authorization)
    assert first.status == second.status == 401
    assert first.body == second.body
    assert len([s for s in statements if "tenants_tenantapikey" in s]) == 1


def _fixed_secret(monkeypatch, random_part: str) -> None:
    monkeypatch.setattr("tenants.services.secrets.token_urlsafe", lambda _n: random_part)


def test_two_keys_sharing_a_long_prefix_authenticate_as_themselves(
    tenant, other_tenant, monkeypatch
):
    common = "S" * 27  # with "tg_": the first 30 characters are the same
    _fixed_secret(monkeypatch, common + "a" * 16)
    key_a, secret_a = api_key_create(tenant=tenant, scopes=["inference"])
    _fixed_secret(monkeypatch, common + "b" * 16)
    key_b, secret_b = api_key_create(tenant=other_tenant, scopes=["inference"])
    assert secret_a[:30] == secret_b[:30] and secret_a != secret_b
    assert key_a.prefix == key_b.prefix  # the visible prefix cannot tell them apart

    for _ in range(2):  # cold, then from the snapshot
        info_a, info_b = _authenticate(secret_a), _authenticate(secret_b)
        assert (info_a.key_id, info_a.tenant_id) == (key_a.pk, tenant.pk)
        assert (info_b.key_id, info_b.tenant_id) == (key_b.pk, other_tenant.pk)
    for near_miss in (secret_a[:-1] + "b", secret_a[:30] + "c" * 16, secret_a + "a"):
        response = _call(application, "GET", "/v1/models", b"", f"Bearer {near_miss}".encode())
        assert response.status == 401


@pytest.mark.parametrize("app_name", list(APPS))
@pytest.mark.parametrize("where", ["?api_key=", "?key=", "?access_token=", "body"])
def test_a_key_outside_the_authorization_header_is_ignored(app_name, where, tenant):
    _key, secret = api_key_create(tenant=tenant, scopes=["inference"])
    if where == "body":
        path = "/v1/chat/completions"
        body = (
            b'{"model": "auto", "api_key": "'
            + secret.encode()
            + b'", "key": "'
            + secret.encode()
            + b'", "messages": [{"role": "user", "content": "hi"}]}'
        )
    else:
        path, body = f"/v1/chat/completions{where}{secret}", CHAT_BODY
    response = _call(APPS[app_name], "POST", path, body, None)
    assert response.status == 401
    assert response.json()["error"]["message"] == API_KEY_INVALID_MESSAGE
    models = _call(APPS[app_name], "GET", f"/v1/models?api_key={secret}", b"", None)
    assert models.status == 401


def test_an_expired_key_stops_at_its_expiry_even_from_the_snapshot(tenant):
    expires = timezone.now() + timedelta(minutes=10)
    _key, secret = api_key_create(tenant=tenant, scopes=["inference"], expires_at=expires)
    authorization = f"Bearer {secret}".encode()
    assert _call(application, "GET", "/v1/models", b"", authorization).status == 200
    assert snapshots._state.keys  # cached for KEY_TTL_SECONDS from here
    with time_machine.travel(expires + timedelta(seconds=1), tick=False):
        response = _call(application, "GET", "/v1/models", b"", authorization)
    assert response.status == 401
    assert response.json()["error"]["message"] == API_KEY_INVALID_MESSAGE


def test_a_key_revoked_in_this_process_stops_at_once(tenant):
    key, secret = api_key_create(tenant=tenant, scopes=["inference"])
    authorization = f"Bearer {secret}".encode()
    assert _call(application, "GET", "/v1/models", b"", authorization).status == 200
    api_key_revoke(key=key)
    assert _call(application, "GET", "/v1/models", b"", authorization).status == 401
