"""The admin's BYOK form refuses an internal base URL with the reason on the `base_url` field
(the same check as the API), and stores nothing."""

import pytest
from django.urls import reverse

from tenants.models import ProviderCredential
from tenants.services import credential_set
from tests.support.network_fakes import install_fake_dns

PLAINTEXT = "sk-live-plaintext-secret-4242"
ADD = "admin:tenants_providercredential_add"


@pytest.fixture
def strict(settings):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = False


@pytest.fixture
def dns(monkeypatch):
    dns = install_fake_dns(monkeypatch)
    dns.answer("proxy.example.test", "93.184.215.14")  # saved only, never connected to
    dns.answer("rebinder.example.test", "127.0.0.1")
    return dns


def post_credential(client, path: str, provider, base_url: str):
    return client.post(
        path,
        {"provider": provider.pk, "api_key": PLAINTEXT, "base_url": base_url, "is_active": "on"},
    )


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://proxy.example.test/v1", "must use https"),
        ("https://127.1/v1", "canonical IPv4"),
        ("https://2130706433/v1", "canonical IPv4"),
        ("https://[::ffff:7f00:1]/v1", "loopback"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://100.64.0.1/v1", "carrier-grade NAT"),
        ("https://api.openai.com@evil.example.test/v1", "credentials"),
        ("https://rebinder.example.test/v1", "resolves to a loopback address"),
    ],
)
def test_add_form_refuses_internal_base_urls(
    strict, dns, client, owner, openai_provider, base_url, reason
):
    client.force_login(owner)
    response = post_credential(client, reverse(ADD), openai_provider, base_url)
    assert response.status_code == 200
    [message] = response.context["adminform"].form.errors["base_url"]
    assert reason in message
    assert PLAINTEXT not in response.content.decode()
    assert not ProviderCredential.objects.exists()


def test_change_form_refuses_too_and_keeps_the_stored_url(
    strict, dns, client, owner, tenant, openai_provider
):
    credential = credential_set(
        tenant=tenant,
        provider=openai_provider,
        api_key="sk-first-key-0001",
        base_url="https://proxy.example.test/v1",
    )
    client.force_login(owner)
    change = reverse("admin:tenants_providercredential_change", args=[credential.pk])
    response = client.post(
        change,
        {"api_key": PLAINTEXT, "base_url": "https://rebinder.example.test/v1", "is_active": "on"},
    )
    assert response.status_code == 200
    assert "loopback" in response.context["adminform"].form.errors["base_url"][0]
    credential.refresh_from_db()
    assert credential.base_url == "https://proxy.example.test/v1"


def test_add_form_accepts_a_public_https_base_url(strict, dns, client, owner, openai_provider):
    client.force_login(owner)
    response = post_credential(
        client, reverse(ADD), openai_provider, "https://proxy.example.test/v1"
    )
    assert response.status_code == 302
    assert ProviderCredential.objects.get().base_url == "https://proxy.example.test/v1"
