"""OpenAI request options that the translating adapters (Anthropic, Gemini) read the same way."""

import copy
from collections.abc import Mapping
from typing import Any

from llm.providers.errors import unsupported


def require_single_choice(body: Mapping[str, Any]) -> None:
    """Only OpenAI itself can return several choices for one request."""
    if body.get("n") not in (None, 1):
        raise unsupported("n > 1 is only supported by OpenAI-format models")


def max_output_tokens(body: Mapping[str, Any]) -> Any:
    """`max_completion_tokens`, else the older `max_tokens`; None (or 0) when neither is set."""
    return body.get("max_completion_tokens") or body.get("max_tokens")


def stop_sequences(stop: Any) -> list[Any]:
    """OpenAI's `stop` (one string or a list of them) as a list."""
    return [stop] if isinstance(stop, str) else list(stop)


def json_schema(response_format: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of a `json_schema` response format, copied so the upstream body owns it."""
    schema = (response_format.get("json_schema") or {}).get("schema")
    if not isinstance(schema, dict):
        raise unsupported("response_format.json_schema.schema must be an object")
    return copy.deepcopy(schema)


def function_definitions(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The `function` of every function tool; other tool types have no counterpart upstream."""
    return [
        tool["function"]
        for tool in body.get("tools") or ()
        if tool.get("type", "function") == "function" and tool.get("function")
    ]
