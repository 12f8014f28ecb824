"""Google Gemini generateContent / streamGenerateContent?alt=sse to and from OpenAI's shape.

Roles become `user` / `model`, system messages `systemInstruction`, tool calls `functionCall`
parts and tool results `functionResponse` parts (named after the call they answer). The key
travels in the `x-goog-api-key` header, never in the URL, so it cannot end up in access logs.
"""

import contextlib
import copy
import json
import mimetypes
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from llm.providers.contract import ChatResult, ProviderError, UpstreamRequest, Usage
from llm.providers.errors import make_error, unsupported
from llm.providers.message_folding import Part, ToolCall, fold_messages
from llm.providers.openai_shapes import chat_completion, openai_tool_call
from llm.providers.reasoning import gemini_thinking_config
from llm.providers.request_options import (
    function_definitions,
    json_schema,
    max_output_tokens,
    require_single_choice,
    stop_sequences,
)
from llm.providers.sse import BaseStreamParser
from llm.providers.wire_helpers import parse_data_url, request_headers, text_of

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}

# Gemini 3 rejects replayed function calls without the thought signature it issued. The
# OpenAI shape has no place to carry it back, so replayed calls carry Google's documented
# placeholder that skips the check.
THOUGHT_SIGNATURE_PLACEHOLDER = "skip_thought_signature_validator"

CONTEXT_LENGTH_SIGNALS = (
    "exceeds the maximum number of tokens",
    "input token count",
    "context window",
    "too many tokens",
)
RPC_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def usage_from_gemini(raw: Mapping[str, Any] | None) -> Usage:
    """promptTokenCount already includes cached tokens; candidatesTokenCount leaves the thinking
    out (thoughtsTokenCount), which is billed as output."""
    if not raw:
        return Usage()
    thoughts = int(raw.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=int(raw.get("promptTokenCount") or 0)
        + int(raw.get("toolUsePromptTokenCount") or 0),
        output_tokens=int(raw.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=int(raw.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


class _GeminiParts:
    """Gemini's parts, for the message folding it shares with Anthropic; `model` is the assistant.

    A tool result is a `functionResponse` named after the call it answers.
    """

    assistant_role = "model"

    def text_part(self, text: str) -> Part:
        return {"text": text}

    def image_part(self, url: str) -> Part:
        inline = parse_data_url(url)
        if inline:
            media_type, data = inline
            return {"inlineData": {"mimeType": media_type, "data": data}}
        mime_type = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime_type, "fileUri": url}}

    def tool_call_part(self, call: ToolCall) -> Part:
        part: Part = {"functionCall": {"name": call.name, "args": call.arguments}}
        if call.position == 0:
            part["thoughtSignature"] = THOUGHT_SIGNATURE_PLACEHOLDER
        return part

    def tool_result_part(self, message: Mapping[str, Any], call_name: str | None) -> Part:
        name = call_name or message.get("name")
        if not name:
            raise unsupported("a tool message must answer a tool call of an earlier message")
        response = _function_response(message.get("content"))
        return {"functionResponse": {"name": name, "response": response}}

    def cache_marked(self, part: Part, cache_control: Mapping[str, Any]) -> Part:
        """Gemini caches implicitly (or through cachedContent): no breakpoints to set."""
        return part


def _function_response(content: Any) -> dict[str, Any]:
    text = text_of(content)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    return parsed if isinstance(parsed, dict) else {"result": parsed}


_PARTS = _GeminiParts()


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        mode: dict[str, Any] = {"mode": "AUTO"}
    elif choice == "required":
        mode = {"mode": "ANY"}
    elif choice == "none":
        mode = {"mode": "NONE"}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        mode = {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    else:
        raise unsupported("unsupported tool_choice")
    return {"functionCallingConfig": mode}


def _message_from_parts(parts: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """(text, OpenAI tool calls) of a candidate's parts; thought parts are not the answer."""
    texts = []
    calls = []
    for part in parts:
        if part.get("thought"):
            continue
        if "text" in part:
            texts.append(part["text"])
        elif "functionCall" in part:
            call = part["functionCall"]
            calls.append(openai_tool_call(call.get("id"), call.get("name", ""), call.get("args")))
    return "".join(texts), calls


def _thoughts(parts: list[dict[str, Any]]) -> str:
    """The thought summaries among a candidate's parts (sent when includeThoughts is on)."""
    return "".join(str(part.get("text", "")) for part in parts if part.get("thought"))


def _finish_reason(raw: str | None, has_calls: bool) -> str:
    if has_calls and raw in (None, "STOP"):
        return "tool_calls"
    return FINISH_REASONS.get(raw or "STOP", "stop")


def _generation_config(body: Mapping[str, Any]) -> dict[str, Any]:
    """Sampling, length, stop sequences and JSON mode: Gemini's `generationConfig`."""
    config: dict[str, Any] = {}
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    max_tokens = max_output_tokens(body)
    if max_tokens:
        config["maxOutputTokens"] = int(max_tokens)
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = stop_sequences(stop)
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_object":
        config["responseMimeType"] = "application/json"
    elif response_format.get("type") == "json_schema":
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = json_schema(response_format)
    thinking = gemini_thinking_config(body)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def _declaration(function: Mapping[str, Any]) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        declaration["description"] = function["description"]
    if function.get("parameters"):
        declaration["parametersJsonSchema"] = copy.deepcopy(function["parameters"])
    return declaration


def _add_tools(payload: dict[str, Any], body: Mapping[str, Any]) -> None:
    """The function declarations, and the tool config only when there are functions."""
    declarations = [_declaration(function) for function in function_definitions(body)]
    if declarations:
        payload["tools"] = [{"functionDeclarations": declarations}]
        tool_config = _tool_config(body.get("tool_choice"))
        if tool_config:
            payload["toolConfig"] = tool_config


def _url(base_url: str, model_id: str, stream: bool) -> str:
    """The model is a path segment, quoted so a model id cannot reach another path."""
    model_path = quote(model_id.removeprefix("models/"), safe="-._")
    url = f"{base_url.rstrip('/')}/models/{model_path}"
    return url + (":streamGenerateContent?alt=sse" if stream else ":generateContent")


class GeminiAdapter:
    wire_format = "gemini"

    def build_request(
        self,
        *,
        body: Mapping[str, Any],
        model_id: str,
        base_url: str,
        api_key: str | None,
        auth_style: str,
        stream: bool,
    ) -> UpstreamRequest:
        require_single_choice(body)
        system, turns = fold_messages(body.get("messages"), _PARTS)
        payload: dict[str, Any] = {
            "contents": [{"role": role, "parts": parts} for role, parts in turns]
        }
        if system:
            payload["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        config = _generation_config(body)
        if config:
            payload["generationConfig"] = config
        _add_tools(payload, body)
        headers = request_headers(stream=stream, auth_style=auth_style, api_key=api_key)
        return UpstreamRequest(
            method="POST", url=_url(base_url, model_id, stream), headers=headers, json=payload
        )

    def parse_response(self, *, payload: Mapping[str, Any], model: str) -> ChatResult:
        candidates = payload.get("candidates")
        usage = usage_from_gemini(payload.get("usageMetadata"))
        if not candidates:
            if not (payload.get("promptFeedback") or {}).get("blockReason"):
                raise ProviderError(
                    "upstream response has no candidates", kind="malformed", retryable=True
                )
            calls: list[dict[str, Any]] = []
            text, finish, thoughts = "", "content_filter", ""
        else:
            candidate = candidates[0]
            parts = (candidate.get("content") or {}).get("parts") or []
            text, calls = _message_from_parts(parts)
            thoughts = _thoughts(parts)
            finish = _finish_reason(candidate.get("finishReason"), bool(calls))
        return chat_completion(
            upstream_id=payload.get("responseId"),
            model=model,
            text=text or None,
            tool_calls=calls,
            finish_reason=finish,
            usage=usage,
            reasoning=thoughts or None,
        )

    def stream_parser(self, *, model: str, request_id: str) -> "GeminiStreamParser":
        return GeminiStreamParser(model=model, request_id=request_id)

    def map_error(self, *, status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
        message, rpc_status, reasons, retry_delay = error_fields(body)
        lowered = (message or "").lower()
        return make_error(
            status=status,
            message=message,
            headers=headers,
            context_length=status == 400
            and any(signal in lowered for signal in CONTEXT_LENGTH_SIGNALS),
            # An invalid key is a 400 INVALID_ARGUMENT with reason API_KEY_INVALID.
            auth="API_KEY_INVALID" in reasons
            or rpc_status in ("UNAUTHENTICATED", "PERMISSION_DENIED")
            or "api key not valid" in lowered,
            retry_after=retry_delay,
        )


def error_fields(body: bytes | str) -> tuple[str | None, str | None, set[str], float | None]:
    """(message, RPC status, ErrorInfo reasons, RetryInfo delay) of `{"error": {...}}`."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None, set(), None
    if isinstance(payload, list) and payload:  # the JSON-array framing of some endpoints
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None, None, set(), None
    reasons = set()
    retry_delay = None
    for detail in error.get("details") or ():
        if not isinstance(detail, dict):
            continue
        if detail.get("reason"):
            reasons.add(str(detail["reason"]))
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            with contextlib.suppress(ValueError):
                retry_delay = float(delay[:-1])
    message = error.get("message")
    return (str(message) if message else None, error.get("status"), reasons, retry_delay)


class GeminiStreamParser(BaseStreamParser):
    """Each SSE event is a whole GenerateContentResponse; usageMetadata is cumulative."""

    def __init__(self, *, model: str, request_id: str) -> None:
        super().__init__(model=model, request_id=request_id)
        self._tool_calls = 0

    def _on_event(self, event: str | None, data: str) -> list[dict[str, Any]]:
        payload = self._load_event(data)
        if isinstance(payload.get("error"), dict):
            error = payload["error"]
            status = int(error.get("code") or RPC_STATUS.get(error.get("status"), 500))
            mapped = self._stream_error(status, data)
            raise mapped
        if payload.get("usageMetadata"):
            self._reported = usage_from_gemini(payload["usageMetadata"])
        chunks: list[dict[str, Any]] = []
        candidates = payload.get("candidates") or []
        if not candidates:
            if (payload.get("promptFeedback") or {}).get("blockReason"):
                chunks.append(self._chunk({}, finish_reason="content_filter"))
                self._finish()
            return chunks
        candidate = candidates[0]
        parts = (candidate.get("content") or {}).get("parts") or []
        text, calls = _message_from_parts(parts)
        thoughts = _thoughts(parts)
        if thoughts:
            chunks.append(self._chunk({"reasoning_content": thoughts}))
        if text or 0 not in self._role_sent:
            chunks.append(self._chunk({"content": text}))
        for call in calls:
            call["index"] = self._tool_calls
            self._tool_calls += 1
            chunks.append(self._chunk({"tool_calls": [call]}))
        if candidate.get("finishReason"):
            finish = _finish_reason(candidate["finishReason"], self._tool_calls > 0)
            chunks.append(self._chunk({}, finish_reason=finish))
            self._finish()
        return chunks

    def _finish(self) -> None:
        self.finished = True
        self.usage_complete = True

    def _stream_error(self, status: int, data: str) -> ProviderError:
        mapped = GeminiAdapter().map_error(status=status, body=data.encode(), headers={})
        mapped.usage = self.usage
        return mapped
