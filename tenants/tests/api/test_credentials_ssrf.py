"""credentials/: a BYOK base URL that could reach an internal address is refused when it is
saved (400 naming `base_url`, nothing stored), by create, PUT and PATCH alike, and so is a host
name that resolves to one (answers from a test resolver, never real DNS)."""

import pytest

from core.errors import InvalidRequest
from tenants.models import ProviderCredential
from tenants.services import credential_secret, credential_set
from tests.support.api import assert_error
from tests.support.network_fakes import install_fake_dns

URL = "/api/v1/credentials/"
SECRET = "sk-test-abcdefghijklmnop-9876"
PUBLIC = "93.184.215.14"  # an answer of the test resolver; nothing connects to it here

REFUSED = [
    "http://api.example.test/v1",
    "https://127.0.0.1/v1",
    "https://127.1/v1",
    "https://2130706433/v1",
    "https://0177.0.0.1/v1",
    "https://0x7f.1/v1",
    "https://localhost:8443/v1",
    "https://[::1]/v1",
    "https://[::ffff:127.0.0.1]/v1",
    "https://[::ffff:7f00:1]/v1",
    "https://10.0.0.5/v1",
    "https://172.16.3.4/v1",
    "https://192.168.1.10/v1",
    "https://169.254.169.254/latest/meta-data",
    "https://[fe80::1]/v1",
    "https://100.64.0.1/v1",
    "https://0.0.0.0/v1",
    "https://[64:ff9b::a9fe:a9fe]/v1",
    "https://[2002:c0a8:101::1]/v1",
    "https://metadata.google.internal/computeMetadata/v1",
    "https://user:pw@api.example.test/v1",
    "https://api.openai.com@evil.example.test/v1",
    "file:///etc/passwd",
]


@pytest.fixture
def strict(settings):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = False


@pytest.fixture
def dns(monkeypatch):
    dns = install_fake_dns(monkeypatch)
    dns.answer("proxy.example.test", PUBLIC)
    dns.answer("rebinder.example.test", "127.0.0.1")
    dns.answer("split.example.test", PUBLIC, "10.0.0.9")
    dns.answer("metadata-alias.example.test", "169.254.169.254")
    return dns


def base_url_error(response) -> str:
    """The 400 in the contract's shape, with the message for the `base_url` field."""
    error = assert_error(response, 400, "invalid_request")
    [message] = error["fields"]["base_url"]
    return message


@pytest.mark.parametrize("base_url", REFUSED)
def test_create_refuses_internal_base_urls(strict, dns, owner_client, small_catalog, base_url):
    response = owner_client.post(
        URL, {"provider": "openai", "api_key": SECRET, "base_url": base_url}, format="json"
    )
    assert base_url_error(response)
    assert SECRET not in response.content.decode()
    assert not ProviderCredential.objects.exists()


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("rebinder.example.test", "loopback"),
        ("split.example.test", "private"),
        ("metadata-alias.example.test", "link-local"),
    ],
)
def test_create_refuses_names_that_resolve_internally(
    strict, dns, owner_client, small_catalog, host, reason
):
    response = owner_client.post(
        URL,
        {"provider": "openai", "api_key": SECRET, "base_url": f"https://{host}/v1"},
        format="json",
    )
    message = base_url_error(response)
    assert "resolves to" in message and reason in message
    assert host in dns.lookups
    assert not ProviderCredential.objects.exists()


def test_create_accepts_a_public_https_base_url(strict, dns, owner_client, small_catalog):
    response = owner_client.post(
        URL,
        {"provider": "openai", "api_key": SECRET, "base_url": "https://proxy.example.test/v1"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["base_url"] == "https://proxy.example.test/v1"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_refuses_internal_base_urls_and_keeps_the_stored_one(
    strict, dns, owner_client, tenant, small_catalog, method
):
    credential = credential_set(
        tenant=tenant,
        provider=small_catalog["openai"],
        api_key=SECRET,
        base_url="https://proxy.example.test/v1",
    )
    detail = f"{URL}{credential.pk}/"
    for base_url in ("https://rebinder.example.test/v1", "https://169.254.169.254/v1"):
        response = getattr(owner_client, method)(
            detail, {"api_key": "sk-new-key-0000-1111", "base_url": base_url}, format="json"
        )
        assert base_url_error(response)
    credential.refresh_from_db()
    assert credential.base_url == "https://proxy.example.test/v1"
    assert credential_secret(credential=credential) == SECRET


def test_the_service_refuses_too_and_names_the_field(strict, dns, tenant, small_catalog):
    with pytest.raises(InvalidRequest, match="loopback") as refused:
        credential_set(
            tenant=tenant,
            provider=small_catalog["openai"],
            api_key=SECRET,
            base_url="https://rebinder.example.test/v1",
        )
    assert "loopback" in refused.value.extra["fields"]["base_url"][0]
    assert not ProviderCredential.objects.exists()


def test_with_the_allow_setting_a_local_upstream_is_accepted(settings, owner_client, small_catalog):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = True
    response = owner_client.post(
        URL,
        {"provider": "openai", "api_key": SECRET, "base_url": "http://127.0.0.1:11434/v1"},
        format="json",
    )
    assert response.status_code == 201, response.content
    refused = owner_client.post(
        URL,
        {"provider": "openai", "api_key": SECRET, "base_url": "http://me:pw@127.0.0.1/v1"},
        format="json",
    )
    assert "credentials" in base_url_error(refused)
