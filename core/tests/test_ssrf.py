import pytest

from core.errors import InvalidRequest
from core.ssrf import validate_upstream_base_url


@pytest.fixture
def strict(settings):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1",
        "https://127.0.0.1/v1",
        "https://localhost/v1",
        "https://10.0.0.5/v1",
        "https://172.16.3.4/v1",
        "https://192.168.1.10/v1",
        "https://169.254.169.254/latest/meta-data",
        "https://metadata.google.internal/computeMetadata/v1",
        "https://[::1]/v1",
        "https://[::ffff:127.0.0.1]/v1",
        "https://0.0.0.0/v1",
        "https://100.64.0.1/v1",
        "https://user:pw@api.example.com/v1",
        "ftp://api.example.com/v1",
        "http://8.8.8.8/v1",
    ],
)
def test_private_and_odd_urls_are_refused(strict, url):
    with pytest.raises(InvalidRequest):
        validate_upstream_base_url(url, resolve=False)


def test_public_https_ip_is_allowed(strict):
    assert validate_upstream_base_url("https://8.8.8.8/v1", resolve=False)


def test_hostname_resolving_to_loopback_is_refused(strict, monkeypatch):
    import socket

    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(None, None, None, "", ("127.0.0.1", 443))]
    )
    with pytest.raises(InvalidRequest, match="private"):
        validate_upstream_base_url("https://innocent.example.com/v1")


def test_platform_setting_allows_local_upstreams(settings):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = True
    assert validate_upstream_base_url("http://127.0.0.1:9999/v1")
    with pytest.raises(InvalidRequest):
        validate_upstream_base_url("file:///etc/passwd")
