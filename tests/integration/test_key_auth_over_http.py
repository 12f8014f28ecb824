"""Keys over real HTTP: uvicorn (httptools) hands an over-long or non-ASCII Authorization
header to the app, which answers the one generic 401 (gateway/tests/test_key_auth.py holds the
cases at the ASGI level, query counts included)."""

import socket

import httpx
import orjson
import pytest

from tenants.services import API_KEY_INVALID_MESSAGE

GENERIC = {
    "message": API_KEY_INVALID_MESSAGE,
    "type": "authentication_error",
    "code": "invalid_api_key",
}


def _raw_get(url: str, authorization: bytes) -> tuple[bytes, bytes]:
    """GET /v1/models over a bare socket with the header bytes exactly as given."""
    host, port = url.removeprefix("http://").split(":")
    request = (
        b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        b"Authorization: " + authorization + b"\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer tg_" + b"A" * 10_000,
        b"Bearer tg_" + b"A" * 1_000_000,
        "Bearer tg_ключ-ключ-ключ-ключ-ключ-ключ-ключ-ключ".encode(),
        b"Bearer tg_' OR 1=1 --",
    ],
    ids=["10 kB", "1 MB", "raw UTF-8", "sql injection"],
)
def test_a_hostile_header_over_http_is_the_generic_401(gateway_server, authorization):
    head, body = _raw_get(gateway_server, authorization)
    assert head.startswith(b"HTTP/1.1 401 "), head[:100]
    assert orjson.loads(body) == {"error": GENERIC}
    value = authorization.partition(b" ")[2]
    assert value not in head and value not in body


def test_httpx_with_bytes_headers_gets_the_generic_401(gateway_server):
    response = httpx.get(
        f"{gateway_server}/v1/models",
        headers={b"Authorization": "Bearer tg_é-ü-ß".encode() + b"x" * 40},
    )
    assert response.status_code == 401
    assert response.json() == {"error": GENERIC}
