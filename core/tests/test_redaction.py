"""The one redaction (core/redaction.py): every key shape the platform handles, in every place
text carries it (prose, headers, JSON, Python reprs, URLs), and ordinary text left alone."""

import pytest

from core.redaction import redact

CASES = [
    # (text, secret that must go, what must stay)
    ("Incorrect API key provided: sk-proj-****Xk9Q.", "Xk9Q", "Incorrect API key provided: sk-"),
    ("key sk-platform-openai-0123456789abcdef here", "0123456789abcdef", "key sk-*** here"),
    ("sk-ant-api03-abcdefghijklmnop", "abcdefghijklmnop", "sk-ant-***"),
    ("AIzaSyD-1234567890abcdef!", "1234567890abcdef", "AIza***!"),
    ("tenant key tg_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd", "AbCdEfGh", "tg_***"),
    ("Authorization: Bearer abcdefghijkl.mnop", "abcdefghijkl", "Authorization: Bearer ***"),
    ("authorization: bearer   some-opaque-token-123", "some-opaque", "bearer   ***"),
    ("x-api-key: my-self-hosted-key", "my-self-hosted-key", "x-api-key: ***"),
    ("{'x-goog-api-key': 'plainvalue123'}", "plainvalue123", "'x-goog-api-key': '***'"),
    ('{"api_key": "whatever-shape-99"}', "whatever-shape-99", '"api_key": "***"'),
    ("https://g/v1beta/models/x:gen?key=AIzaSecret&alt=sse", "Secret", "?key=***&alt=sse"),
    ("GET /v1/models?api_key=opaque123456 HTTP/1.1", "opaque123456", "?api_key=***"),
    ("https://x/y?alt=sse&key=opaque-key-1", "opaque-key-1", "&key=***"),
    ("groq gsk_abcdefghijklmnop xai-abcdefghijklmnop", "abcdefghijklmnop", "groq *** ***"),
]


@pytest.mark.parametrize(("text", "secret", "kept"), CASES)
def test_each_shape_is_masked_in_place(text, secret, kept):
    cleaned = redact(text)
    assert secret not in cleaned
    assert kept in cleaned


def test_known_secrets_of_any_shape_are_masked():
    text = "upstream said: bad key 'hunter2-self-hosted' for model x"
    cleaned = redact(text, secrets=["hunter2-self-hosted", "", "abc"])
    assert "hunter2" not in cleaned
    assert "bad key '***' for model x" in cleaned
    assert redact("abc def", secrets=["abc"]) == "abc def"  # too short to be a key


@pytest.mark.parametrize(
    "harmless",
    [
        "A risk-free, task-based plan for the disk-image",
        "The request body is not valid JSON.",
        "Invalid API key. Send 'Authorization: Bearer tg_...'.",
        "api_key is too short.",
        "upstream HTTP 500: The server had an error while processing your request.",
        "model openai/gpt-4o-mini: error (rate_limit 429) - retry after 1.0 s",
    ],
)
def test_ordinary_text_is_left_alone(harmless):
    assert redact(harmless) == harmless


def test_redaction_is_idempotent():
    once = redact("sk-abcdefghijk Bearer abcdefghijkl ?key=AIzaXXXXXXXX x-api-key: foo-bar-baz")
    assert redact(once) == once


def test_text_with_no_marker_of_any_pattern_is_left_as_it_is_and_the_markers_miss_nothing():
    import random
    import re as regex

    from core import redaction

    line = "request_id=4f3d tenant=bench model=openai/gpt-4o-mini status=200 cache=miss"
    assert redact(line) is line
    # Labels spelt with the letters the patterns' case-insensitive matching takes for k and s.
    assert "abcd1234" not in redact("client_\u017fecret=abcd1234")
    assert "abcd1234" not in redact("api\u212aey: abcd1234")

    def every_pattern(text: str) -> str:
        for pattern, replacement in redaction._PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    pieces = [
        *redaction._MARKERS,
        "KEY",
        "Token",
        "SECRET",
        "Bearer ",
        "x-api-key: ",
        "?key=",
        "&token=",
        "sk-",
        "AIza",
        "tg_",
        "gsk_",
        "=",
        ": ",
        '"',
        " ",
        "-",
        "_",
        "abcdefgh",
        "12345678",
        "é",
        "\u212a",
        "\u017f",
        "/",
        "?",
        "&",
    ]
    rng = random.Random(7)
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        assert redact(text) == every_pattern(text), regex.escape(text)
