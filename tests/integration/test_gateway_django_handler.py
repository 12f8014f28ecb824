"""/v1 through Django's full handler and the Django views behaves exactly like the bare ASGI path."""

import dataclasses

import httpx
import openai
import pytest

from tests.integration.conftest import MESSAGES, cost, settle_events
from tests.support.mock_upstreams import Ok, ServerError

BODY = {"model": "auto", "messages": MESSAGES}


@pytest.fixture
def via_django(gw, django_handler_server):
    return dataclasses.replace(gw, url=django_handler_server)


def test_sdk_plain_and_streaming(via_django):
    raw = via_django.client().chat.completions.with_raw_response.create(
        model="auto", messages=MESSAGES
    )
    assert raw.parse().choices[0].message.content == "Hello from mock"
    assert raw.headers["x-tollgate-model"] == "openai/gpt-4o-mini"
    assert raw.headers["x-tollgate-cache"] == "miss"
    assert raw.headers["content-type"] == "application/json"
    chunks = list(
        via_django.client().chat.completions.create(
            model="anthropic/claude-haiku-4-5",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello from mock"
    )
    assert chunks[-1].usage.completion_tokens == 5
    assert [m.id for m in via_django.client().models.list().data][:2] == ["auto", "default"]
    assert len(settle_events(2)) == 2


def test_errors_have_the_contract_shape(via_django):
    assert via_django.post(b"{").json()["error"]["code"] == "invalid_request"
    assert via_django.post(BODY, secret="tg_nope").status_code == 401
    wrong_method = httpx.get(f"{via_django.url}/v1/chat/completions")
    assert wrong_method.status_code == 405
    assert httpx.get(f"{via_django.url}/v1/nothing").status_code == 404
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{via_django.url}/v1", api_key="tg_x", max_retries=0).models.list()


def test_fallback_and_headers(via_django):
    via_django.upstreams["openai"].script(ServerError(500), ServerError(500))
    response = via_django.post(BODY)
    assert response.headers["x-tollgate-fallback"] == "true"
    assert response.headers["x-tollgate-attempts"] == "3"


def test_the_rest_of_the_site_still_goes_to_django(via_django):
    response = httpx.get(f"{via_django.url}/admin/login/")
    assert response.status_code == 200


def test_disconnect_mid_stream_is_billed_in_full(via_django):
    words = " ".join(f"w{i}" for i in range(40))
    via_django.upstreams["openai"].script(
        Ok(content=words, input_tokens=30, output_tokens=40, chunk_delay=0.05)
    )
    via_django.stream_and_leave(content="x")
    [event] = settle_events(1)
    assert event.output_tokens == 40
    assert event.cost_usd == cost("openai/gpt-4o-mini", 30, 40)
