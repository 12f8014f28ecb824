"""/v1 is served by a bare ASGI endpoint, outside Django's handler: it must refuse a Host that
ALLOWED_HOSTS does not list, exactly as Django does for every other path."""

import httpx
import pytest


@pytest.mark.parametrize("path", ["/v1/models", "/v1/chat/completions"])
def test_v1_refuses_a_host_that_is_not_allowed(gateway_server, path):
    response = httpx.request(
        "GET" if path.endswith("models") else "POST",
        gateway_server + path,
        headers={"Host": "evil.example", "Authorization": "Bearer tg_whatever"},
        json=None if path.endswith("models") else {"model": "auto", "messages": []},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "Host" in response.json()["error"]["message"]


def test_django_paths_refuse_the_same_host(gateway_server):
    response = httpx.get(gateway_server + "/api/v1/models/", headers={"Host": "evil.example"})
    assert response.status_code == 400


def test_an_allowed_host_reaches_the_gateway(gateway_server):
    response = httpx.get(
        gateway_server + "/v1/models", headers={"Host": "localhost", "Authorization": "Bearer x"}
    )
    assert response.status_code == 401  # past the host check: the key is what fails


def test_a_host_with_a_port_and_a_forwarded_host_without_trust(gateway_server, settings):
    response = httpx.get(
        gateway_server + "/v1/models",
        headers={"Host": "127.0.0.1:9", "X-Forwarded-Host": "evil.example"},
    )
    assert response.status_code == 401  # the port is ignored; X-Forwarded-Host is not trusted
