"""SSRF through the whole gateway: a BYOK host name that answered a public address when it was
saved and answers 127.0.0.1 when the gateway connects is never called, and a redirect from an
upstream is never followed. The attempts say why.

Name answers come from the test resolver. Whatever may be connected to is on 127.0.0.1: the
public answer exists only while the credential is saved.
"""

import functools

import pytest

from core.ssrf import validate_upstream_base_url
from gateway.services import snapshots
from llm.models import Provider
from tenants.services import credential_set
from tests.integration.conftest import MESSAGES, settle_events
from tests.support.network_fakes import counting_listener, install_fake_dns, redirector

PUBLIC = "93.184.215.14"
BYOK_KEY = "sk-tenant-own-key-abcdef123456"
REFUSAL = "upstream address refused: byok.example.test resolves to a loopback address"


@pytest.fixture
def dns(monkeypatch):
    return install_fake_dns(monkeypatch)


def save_byok(gw, base_url: str) -> None:
    credential_set(
        tenant=gw.tenant,
        provider=Provider.objects.get(slug="openai"),
        api_key=BYOK_KEY,
        base_url=base_url,
    )
    gw.set_config(use_byok=True, fallback_models=[])


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_name_rebound_to_loopback_after_saving_is_never_called(
    gw, settings, dns, monkeypatch, stream
):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = False
    with counting_listener() as listener:
        dns.answer("byok.example.test", PUBLIC)
        save_byok(gw, f"https://byok.example.test:{listener.port}/v1")  # checked: public
        dns.answer("byok.example.test", "127.0.0.1")  # rebound before the first request
        # As if the snapshot had been loaded before the rebinding (its own re-check passed):
        # only the check at connect time stands between the key and 127.0.0.1.
        monkeypatch.setattr(
            snapshots,
            "validate_upstream_base_url",
            functools.partial(validate_upstream_base_url, resolve=False),
        )
        response = gw.post({"model": "auto", "messages": MESSAGES, "stream": stream})
        assert listener.connections == 0
    assert response.status_code == 502
    assert REFUSAL in response.json()["error"]["message"]
    assert BYOK_KEY not in response.text
    [event] = settle_events(1)
    assert event.status == "error" and event.attempts
    for attempt in event.attempts:
        assert attempt["status"] == "error" and attempt["kind"] == "connection"
        assert attempt["note"] == REFUSAL


def test_the_snapshot_recheck_refuses_a_name_that_resolves_internally_now(gw, settings, dns):
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = False
    with counting_listener() as listener:
        dns.answer("byok.example.test", PUBLIC)
        save_byok(gw, f"https://byok.example.test:{listener.port}/v1")
        dns.answer("byok.example.test", "127.0.0.1")
        response = gw.post({"model": "auto", "messages": MESSAGES})
        assert listener.connections == 0
    assert response.status_code == 502
    [event] = settle_events(1)
    [attempt] = event.attempts
    assert attempt["status"] == "skipped"
    assert "BYOK base URL refused" in attempt["note"] and "loopback" in attempt["note"]


def test_control_the_listener_sees_a_gateway_that_is_let_through(gw, settings):
    """The allow setting lets a BYOK URL point at 127.0.0.1: then the gateway does connect, so
    the listener above would have seen a connection that the guard had not stopped."""
    settings.TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = True
    with counting_listener() as listener:
        save_byok(gw, f"https://127.0.0.1:{listener.port}/v1")
        response = gw.post({"model": "auto", "messages": MESSAGES})
        assert listener.connections >= 1
    assert response.status_code == 502
    assert "upstream address refused" not in response.text


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_upstream_redirect_to_an_internal_url_is_not_followed(gw, openai_upstream, stream):
    internal = f"{openai_upstream.base_url}/chat/completions"
    with redirector(internal) as base_url:
        save_byok(gw, base_url)
        response = gw.post({"model": "auto", "messages": MESSAGES, "stream": stream})
    assert response.status_code == 502
    assert openai_upstream.requests == []  # the redirect target never saw the key
    assert "redirect" in response.json()["error"]["message"]
    [event] = settle_events(1)
    [attempt] = event.attempts
    assert attempt["http_status"] == 302 and attempt["kind"] == "malformed"
    assert "redirects are not followed" in attempt["note"]
