"""Shared adapter machinery: SSE decoding, auth headers, Retry-After, redaction, registry."""

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from llm.providers.contract import ProviderError, Usage
from llm.providers.errors import parse_retry_after, redact
from llm.providers.registry import get_adapter
from llm.providers.sse import ChunkFactory, SSEDecoder
from llm.providers.wire_helpers import auth_headers, parse_data_url, parse_json_body
from llm.tests.wire_support import WIRE, feed

# Each adapter's recorded streams (error streams aside), by the fixture folder they sit in.
ADAPTER_FOLDERS = {"openai": "openai_chat", "anthropic": "anthropic_messages", "gemini": "gemini"}
STREAMS = [
    (folder, path.name)
    for folder in ADAPTER_FOLDERS
    for path in sorted((WIRE / folder).glob("stream_*.sse"))
    if "error" not in path.name
]


def test_sse_decoder_handles_every_line_ending_and_any_split():
    raw = (
        b": comment\r\n"
        b'event: one\r\ndata: {"a": 1}\r\n\r\n'
        b"data: line1\ndata: line2\n\n"
        b"id: 7\rdata: cr-only\r\r"
        b"data: caf\xc3\xa9\n\n"
    )
    expected = [("one", '{"a": 1}'), (None, "line1\nline2"), (None, "cr-only"), (None, "café")]
    assert SSEDecoder().feed(raw) == expected
    decoder = SSEDecoder()
    byte_by_byte = [event for i in range(len(raw)) for event in decoder.feed(raw[i : i + 1])]
    assert byte_by_byte == expected


def test_sse_decoder_keeps_an_unfinished_event_until_its_blank_line():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: partial") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [(None, "partial")]


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("bearer", {"Authorization": "Bearer k-1"}),
        ("x_api_key", {"x-api-key": "k-1"}),
        ("x_goog_api_key", {"x-goog-api-key": "k-1"}),
        ("api_key_header", {"api-key": "k-1"}),
        ("none", {}),
    ],
)
def test_auth_headers_per_style(style, expected):
    assert auth_headers(style, "k-1") == expected
    assert auth_headers(style, None) == {}


def test_auth_headers_refuse_an_unknown_style():
    with pytest.raises(ValueError):
        auth_headers("query_param", "k-1")


def test_retry_after_from_seconds_ms_and_http_date():
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    later = datetime.now(UTC) + timedelta(seconds=30)
    seconds = parse_retry_after({"Retry-After": format_datetime(later, usegmt=True)})
    assert 27 <= seconds <= 30
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_redact_removes_keys_and_partial_keys():
    text = (
        "Incorrect API key provided: sk-proj-****Xk9Q. Also sk-ant-api03-abcdefgh, "
        "AIzaSyD-1234567890abcdef, tg_abcdefghijklmnop, Authorization: Bearer abcdefghijkl, "
        "https://x/y?key=AIzaSecret&alt=sse"
    )
    cleaned = redact(text)
    for secret in ("Xk9Q", "abcdefgh", "1234567890", "ijklmnop", "abcdefghijkl", "Secret"):
        assert secret not in cleaned
    assert "Incorrect API key provided" in cleaned
    harmless = "A risk-free, task-based plan for the disk-image"
    assert redact(harmless) == harmless


def test_parse_json_body_rejects_non_objects_as_malformed():
    assert parse_json_body(b'{"a": 1}') == {"a": 1}
    for body in (b"{broken", b"[1, 2]", b"\xff\xfe"):
        with pytest.raises(ProviderError) as caught:
            parse_json_body(body)
        assert caught.value.kind == "malformed"
        assert caught.value.retryable


def test_data_url_parsing():
    assert parse_data_url("data:image/png;base64,iVBORw0KGgo=") == ("image/png", "iVBORw0KGgo=")
    assert parse_data_url("https://example.com/cat.png") is None
    with pytest.raises(ProviderError):
        parse_data_url("data:text/plain,hello")


def test_usage_chunk_has_no_choices():
    usage = Usage(10, 3, 4, cache_write_tokens=2, reasoning_tokens=1)
    chunk = ChunkFactory(model="m", request_id="r1", created=5).usage_chunk(usage)
    assert chunk["choices"] == []
    assert chunk["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "total_tokens": 13,
        "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    assert chunk["id"] == "chatcmpl-r1"


def test_registry_maps_every_wire_format():
    for wire_format in ("openai_chat", "anthropic_messages", "gemini"):
        assert get_adapter(wire_format).wire_format == wire_format
    with pytest.raises(ValueError):
        get_adapter("cohere")


@pytest.mark.parametrize(("folder", "fixture"), STREAMS)
def test_byte_by_byte_feeding_gives_the_same_chunks_as_one_feed(folder, fixture):
    adapter = get_adapter(ADAPTER_FOLDERS[folder])
    data = (WIRE / folder / fixture).read_bytes()
    whole = adapter.stream_parser(model="m", request_id="same")
    one_by_one = adapter.stream_parser(model="m", request_id="same")
    one_by_one.factory.created = whole.factory.created
    expected = whole.feed(data)
    chunks = feed(one_by_one, data, [1] * len(data))

    def strip_ids(items):  # Gemini sends no call ids: the parser makes one per call
        return json.loads(re.sub(r'"id": "call_[0-9a-f]+"', '"id": "call"', json.dumps(items)))

    if folder == "gemini":
        expected, chunks = strip_ids(expected), strip_ids(chunks)
    assert chunks == expected and expected
    assert (one_by_one.usage, one_by_one.finished) == (whole.usage, whole.finished)
