"""The OpenAI stream relay (`OpenAIStreamParser.relay`): what the stream pump sends when it does
not assemble the answer must be, byte for byte, what the chunk path (`feed` + `sse_event`) sends,
whatever the upstream read sizes."""

import random

import orjson
import pytest

from gateway.services.responses import sse_event
from gateway.services.streaming import _read_preamble
from llm.providers.contract import ProviderError
from llm.providers.openai_chat import OpenAIChatAdapter
from llm.tests.wire_support import WIRE, split_sizes

adapter = OpenAIChatAdapter()


def _event(choices: list, **extra) -> bytes:
    head = {"id": "up-1", "object": "chat.completion.chunk", "created": 1, "model": "up-model"}
    return b"data: " + orjson.dumps({**head, "choices": choices, **extra}) + b"\n\n"


def _choice(delta: dict, *, index: int = 0, finish=None) -> dict:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


# Every branch of the relay: the role chunk, plain text (quotes, newlines, emoji, empty), a
# delta with extra fields, two choices, tool calls, a finish, the usage chunk, [DONE].
MIXED = b"".join(
    [
        _event([_choice({"role": "assistant", "content": "", "refusal": None})], usage=None),
        _event([_choice({"content": 'He said "hi"\n\tthen 👋 \\ left'})], usage=None),
        _event([_choice({"content": ""})]),
        _event([_choice({"content": "x", "refusal": None, "role": "assistant"})]),
        _event([_choice({"content": "with refusal", "refusal": "no"})]),
        _event([_choice({"content": "one"}), _choice({"content": "two"}, index=1)]),
        _event([_choice({"content": "second choice first"}, index=1)]),
        _event([_choice({"content": None, "tool_calls": [{"index": 0, "id": "c1"}]})]),
        _event([_choice({}, finish="stop")]),
        _event([], usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}),
        b"data: [DONE]\n\n",
    ]
)
STREAMS = {
    "text": (WIRE / "openai" / "stream_text.sse").read_bytes(),
    "tool_calls": (WIRE / "openai" / "stream_tool_calls.sse").read_bytes(),
    "mixed": MIXED,
}


def _pair():
    chunked = adapter.stream_parser(model="gpt-4o-mini", request_id="req-9")
    relayed = adapter.stream_parser(model="gpt-4o-mini", request_id="req-9")
    relayed.factory.created = chunked.factory.created
    return chunked, relayed


def _slices(data: bytes, sizes: list[int]) -> list[bytes]:
    out, position = [], 0
    for size in sizes:
        out.append(data[position : position + size])
        position += size
    return [*out, data[position:]]


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("split", ["whole", "bytes", "random"])
def test_relay_sends_exactly_what_the_chunk_path_sends(name, split):
    data = STREAMS[name]
    chunked, relayed = _pair()
    slices = _slices(data, split_sizes(split, data, seed=11, most=300))
    expected = b"".join(sse_event(chunk) for piece in slices for chunk in chunked.feed(piece))
    sent = b"".join(relayed.relay(piece) for piece in slices)
    assert sent == expected and expected.count(b"data: ") > 3
    assert (relayed.usage, relayed.finished, relayed.usage_complete) == (
        chunked.usage,
        chunked.finished,
        chunked.usage_complete,
    )


def test_relay_takes_over_from_the_chunk_path_mid_stream():
    """The pump parses the preamble as chunks, then relays the rest: the role stays sent once."""
    data = STREAMS["mixed"]
    chunked, relayed = _pair()
    cut = random.Random(3).randint(len(data) // 4, len(data) // 2)
    expected = b"".join(map(sse_event, chunked.feed(data)))
    sent = b"".join(map(sse_event, relayed.feed(data[:cut]))) + relayed.relay(data[cut:])
    assert sent == expected
    assert sent.count(b'"role":"assistant"') == 2  # choice 0 and choice 1, once each


def test_relay_of_a_cut_stream_bills_the_text_streamed_so_far():
    data = STREAMS["text"]
    cut = data.index(b'"content": " help"')
    chunked, relayed = _pair()
    chunked.feed(data[:cut])
    relayed.relay(data[:cut])
    assert not relayed.usage_complete and not relayed.finished
    assert relayed.usage == chunked.usage and relayed.usage.output_tokens > 0


def test_relay_raises_on_an_error_event_and_on_a_malformed_one():
    streamed = _event([_choice({"role": "assistant", "content": ""})]) + _event(
        [_choice({"content": "Partial answer"})]
    )
    parser = adapter.stream_parser(model="m", request_id="r")
    parser.relay(streamed)
    with pytest.raises(ProviderError) as error:
        parser.relay(b'data: {"error": {"message": "overloaded"}}\n\n')
    assert "overloaded" in error.value.message and error.value.usage.output_tokens == 4
    with pytest.raises(ProviderError) as malformed:
        parser.relay(b"data: {not json\n\n")
    assert malformed.value.kind == "malformed" and malformed.value.usage.output_tokens == 4


async def _reads(*pieces: bytes):
    for piece in pieces:
        yield piece


@pytest.mark.parametrize("split", ["whole", "bytes", "random"])
async def test_the_preamble_stops_at_the_first_content_in_both_modes(split):
    """Held back until content arrives (another candidate may still take over), then handed to
    the pump: as chunks, or as the client's bytes when the pump relays."""
    data = STREAMS["text"]
    slices = _slices(data, split_sizes(split, data, seed=5, most=300))
    chunked, relayed = _pair()
    reads_chunked, reads_relayed = _reads(*slices), _reads(*slices)
    first, none = await _read_preamble(chunked, reads_chunked, relay=False)
    nothing, encoded = await _read_preamble(relayed, reads_relayed, relay=True)
    assert none == b"" and nothing == []
    assert encoded == b"".join(map(sse_event, first))
    assert b'"content":"Hello"' in encoded and chunked.content_seen and relayed.content_seen
    rest = [piece async for piece in reads_relayed]
    assert rest == [piece async for piece in reads_chunked]
    if split != "whole":
        assert rest and b'"content": " help"' in b"".join(rest)


async def test_a_preamble_without_content_is_a_malformed_stream():
    parser = adapter.stream_parser(model="m", request_id="r")
    role_only = _event([_choice({"role": "assistant", "content": ""})])
    with pytest.raises(ProviderError) as error:
        await _read_preamble(parser, _reads(role_only), relay=True)
    assert error.value.kind == "malformed" and not parser.content_seen
