"""Request features: a cheap estimate of what a request needs, the input of the router's rules.

It runs on the event loop for every request, so what it costs must not grow with the prompt
beyond len() of its strings: the token estimate is characters / 4 plus per-message and per-image
costs (no tokenizer on the hot path: the estimate picks models and reserves budget, the
provider's reported usage is billed), and the complexity cues are looked for with one compiled
pattern in a bounded slice of the last user message, its head and its tail
(bench/request_features.py), and the gateway asks for them only when a routing rule of the
tenant reads them (`with_complexity`).
"""

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators, per message (OpenAI's published rule of thumb)
REQUEST_OVERHEAD_TOKENS = 3
IMAGE_TOKENS = 765  # a high-detail 512px-tiled image, the common case
IMAGE_TOKENS_LOW_DETAIL = 85
_IMAGE_PART_TYPES = ("image_url", "input_image", "image")
_TEXT_PART_TYPES = ("text", "input_text")

# The instruction of a long prompt is at one end of it, the document it is about in between.
COMPLEXITY_HEAD_CHARS = 1_500
COMPLEXITY_TAIL_CHARS = 1_500
COMPLEXITY_SCAN_MAX_CHARS = COMPLEXITY_HEAD_CHARS + 1 + COMPLEXITY_TAIL_CHARS  # "\n" between

# Every cue in one pass; the group that matched says what it is (its name up to "_"). Each
# alternative starts at a word boundary where it can (a call only at a word's start: `\w+\(\)`
# tried inside a long word made the scan quadratic), and a call may follow `#include` directly.
_CUES = re.compile(
    r"(?P<code_symbol>#include|=>)"
    r"|(?P<strong_steps>step[- ]by[- ]step)"
    r"|\b(?:(?P<strong>prove|proof|derive|theorem|rigorous(?:ly)?"
    r"|think (?:carefully|hard|deeply)|formally)"
    r"|(?P<mild>why|analy[sz]e|analysis|compare|explain|optimi[sz]e|design|trade-?offs?|debug"
    r"|plan|evaluate|architecture|reason(?:ing)?)"
    r"|(?P<code_word>def|class|import|return|function|const|lambda|select|insert|python"
    r"|javascript|typescript|java|rust|golang|sql|regex|code|compile|compiler|bug|exception"
    r"|traceback|refactor|unit tests?))\b"
    r"|(?:\b|(?<=#include))(?P<code_call>\w+\(\))",
    re.IGNORECASE,
)
# A reasoning cue called (`explain()`) is a code word too: its last word run with the call.
_CALL_AFTER = re.compile(r"\w*\(\)")
_LAST_WORD = re.compile(r"\w+$")


@dataclass(frozen=True)
class RequestFeatures:
    """What the body says about its size and needs: rule conditions, capability and context
    fit, the budget reservation."""

    estimated_input_tokens: int
    has_tools: bool
    has_images: bool
    json_mode: bool
    complexity: str | None  # low | medium | high; None: not scanned, no rule reads it
    requested_max_tokens: int | None


def int_or_none(value: Any) -> int | None:
    """A non-negative integer from a JSON body, else None (booleans are not counts)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def complexity_scan_text(text: str) -> str:
    """The part of a prompt its cues are looked for in: all of a short one, else its first
    COMPLEXITY_HEAD_CHARS and last COMPLEXITY_TAIL_CHARS characters (so the scan costs the same
    for 5,000 characters and for 5,000,000)."""
    if len(text) <= COMPLEXITY_HEAD_CHARS + COMPLEXITY_TAIL_CHARS:
        return text
    return f"{text[:COMPLEXITY_HEAD_CHARS]}\n{text[-COMPLEXITY_TAIL_CHARS:]}"


def _cues(text: str) -> dict[str, set[str]]:
    """The distinct cues of `text` by kind (strong, mild, code), lowercased; the same sets as
    one scan per kind would find, in one pass."""
    found: dict[str, set[str]] = {"strong": set(), "mild": set(), "code": set()}
    for match in _CUES.finditer(text):
        kind = str(match.lastgroup).split("_")[0]  # every alternative of _CUES is a named group
        token = match.group().lower()
        found[kind].add(token)
        call = _CALL_AFTER.match(text, match.end())
        last_word = _LAST_WORD.search(token) if call is not None and kind != "code" else None
        if call is not None and last_word is not None:
            found["code"].add(last_word.group() + call.group().lower())
    return found


def complexity_estimate(*, text: str, input_tokens: int) -> str:
    """A cheap guess at how hard a prompt is: low | medium | high.

    Score = length (>= 1,500 tokens: 1; >= 8,000: 2) + code (a ``` fence: 1; two or more distinct
    code words: 1) + reasoning cues (each distinct strong cue such as "prove", "step by step": 2;
    each distinct mild cue such as "why", "compare", "design": 1; cues capped at 3).
    0 -> low, 1-2 -> medium, 3+ -> high. Only the last user message is scanned for cues, so a
    boilerplate system prompt does not make every request "high", and of it only
    `complexity_scan_text` (the length counts through `input_tokens`)."""
    text = complexity_scan_text(text)
    score = 2 if input_tokens >= 8000 else 1 if input_tokens >= 1500 else 0
    cues = _cues(text)
    if "```" in text:
        score += 1
    if len(cues["code"]) >= 2:
        score += 1
    score += min(2 * len(cues["strong"]) + len(cues["mild"]), 3)
    if score >= 3:
        return "high"
    return "medium" if score >= 1 else "low"


def _content_parts(content: Any) -> tuple[list[str], int, int]:
    """(text parts, image count, image tokens) of a list content (any other: none)."""
    if not isinstance(content, list):
        return [], 0, 0
    texts, images, image_tokens = [], 0, 0
    for part in content:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind in _TEXT_PART_TYPES and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in _IMAGE_PART_TYPES:
            images += 1
            detail = part.get("image_url")
            low = isinstance(detail, Mapping) and detail.get("detail") == "low"
            image_tokens += IMAGE_TOKENS_LOW_DETAIL if low else IMAGE_TOKENS
    return texts, images, image_tokens


def _tool_call_chars(tool_calls: Any) -> int:
    """Characters of an assistant message's tool calls (names and arguments)."""
    chars = 0
    for call in tool_calls if isinstance(tool_calls, list) else ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            chars += sum(
                len(v)
                for v in (function.get("name"), function.get("arguments"))
                if isinstance(v, str)
            )
    return chars


@dataclass(frozen=True)
class _MessageTotals:
    """What the token estimate and the complexity need from `messages`."""

    chars: int
    count: int
    images: int
    image_tokens: int


def _message_totals(messages: Any) -> _MessageTotals:
    """One pass over the messages, in locals: it runs for every message of every request.
    Text parts count as if joined with "\n" (their lengths, no joined copy)."""
    chars = count = images = image_tokens = 0
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, Mapping):
            continue
        count += 1
        content = message.get("content")
        if isinstance(content, str):  # the common case, without building parts
            chars += len(content)
        else:
            texts, n_images, n_image_tokens = _content_parts(content)
            chars += sum(map(len, texts)) + max(len(texts) - 1, 0)
            images += n_images
            image_tokens += n_image_tokens
        tool_calls = message.get("tool_calls")
        if tool_calls:
            chars += _tool_call_chars(tool_calls)
    return _MessageTotals(chars, count, images, image_tokens)


def _last_user_text(messages: Any) -> str:
    """The text of the last user message (its text parts joined with "\n"), else ""."""
    for message in reversed(messages) if isinstance(messages, list) else ():
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else "\n".join(_content_parts(content)[0])
    return ""


def _compact_json_size(value: Any) -> int:
    try:
        return len(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:  # past orjson: an integer beyond 64 bits, a lone surrogate (a body the
        # management API's parser read, the route preview's)
        return len(json.dumps(value, default=str, separators=(",", ":")))


def request_features_from(*, body: Mapping, scan_complexity: bool = True) -> RequestFeatures:
    """The features of one request body (malformed parts count as absent).

    Linear in the body and cheap: len() of the strings, one pass over the messages; tool
    definitions count as their compact JSON's UTF-8 bytes, the size the provider sees (orjson:
    the stdlib encoder was 5% of a worker's CPU on a 40-turn conversation with tools). Without
    `scan_complexity` the cue scan (most of the cost of a long prompt) is left to
    `with_complexity`, for a request whose routing rules turn out to read it."""
    seen = _message_totals(body.get("messages"))
    tool_defs = [t for t in (body.get("tools"), body.get("functions")) if isinstance(t, list) and t]
    chars = seen.chars
    if tool_defs:
        chars += _compact_json_size(tool_defs)
    response_format = body.get("response_format")
    json_mode = isinstance(response_format, Mapping) and response_format.get("type") in (
        "json_object",
        "json_schema",
    )
    estimated = (
        math.ceil(chars / CHARS_PER_TOKEN)
        + MESSAGE_OVERHEAD_TOKENS * seen.count
        + REQUEST_OVERHEAD_TOKENS
        + seen.image_tokens
    )
    requested = int_or_none(body.get("max_completion_tokens"))
    if requested is None:
        requested = int_or_none(body.get("max_tokens"))
    return RequestFeatures(
        estimated_input_tokens=estimated,
        has_tools=bool(tool_defs),
        has_images=seen.images > 0,
        json_mode=json_mode,
        complexity=complexity_estimate(
            text=_last_user_text(body.get("messages")), input_tokens=estimated
        )
        if scan_complexity
        else None,
        requested_max_tokens=requested,
    )


def with_complexity(features: RequestFeatures, *, body: Mapping) -> RequestFeatures:
    """`features` with the complexity scanned (as `request_features_from` does by default)."""
    if features.complexity is not None:
        return features
    complexity = complexity_estimate(
        text=_last_user_text(body.get("messages")), input_tokens=features.estimated_input_tokens
    )
    return dataclasses.replace(features, complexity=complexity)
