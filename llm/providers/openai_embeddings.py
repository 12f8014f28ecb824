"""OpenAI embeddings (`POST /embeddings`): OpenAI itself and every OpenAI-compatible vendor.

The upstream is always asked for floats: the gateway encodes base64 for the client itself, so
every vendor (some know only floats) answers the same way.
"""

import base64
import struct
from collections.abc import Mapping
from typing import Any

from llm.providers.contract import EmbeddingResult, ProviderError, UpstreamRequest, Usage
from llm.providers.openai_chat import OpenAIChatAdapter
from llm.providers.wire_helpers import request_headers

_CHAT = OpenAIChatAdapter()


def _malformed(message: str) -> ProviderError:
    return ProviderError(f"upstream embeddings {message}", kind="malformed", retryable=True)


def _vector(raw: Any) -> list[float]:
    """A float list, or the base64 little-endian float32 string a vendor sent regardless."""
    if isinstance(raw, str):
        data = base64.b64decode(raw)
        if len(data) % 4:
            raise _malformed("vector is not float32 data")
        return list(struct.unpack(f"<{len(data) // 4}f", data))
    if not isinstance(raw, list) or not all(isinstance(x, int | float) for x in raw):
        raise _malformed("vector is not a list of numbers")
    return [float(x) for x in raw]


class OpenAIEmbeddingsAdapter:
    wire_format = "openai_chat"
    token_input = True

    def build_request(
        self,
        *,
        inputs: list[str] | list[list[int]],
        model_id: str,
        base_url: str,
        api_key: str | None,
        auth_style: str,
        dimensions: int | None,
        user: str | None,
    ) -> UpstreamRequest:
        payload: dict[str, Any] = {"model": model_id, "input": inputs, "encoding_format": "float"}
        if dimensions is not None:
            payload["dimensions"] = dimensions
        if user:
            payload["user"] = user
        return UpstreamRequest(
            method="POST",
            url=base_url.rstrip("/") + "/embeddings",
            headers=request_headers(stream=False, auth_style=auth_style, api_key=api_key),
            json=payload,
        )

    def parse_response(self, *, payload: Mapping[str, Any], model: str) -> EmbeddingResult:
        data = payload.get("data")
        if not isinstance(data, list) or not data:
            raise _malformed("response has no data")
        items = sorted(
            (item for item in data if isinstance(item, dict)),
            key=lambda item: item.get("index", 0),
        )
        usage = payload.get("usage") or {}
        return EmbeddingResult(
            vectors=[_vector(item.get("embedding")) for item in items],
            usage=Usage(input_tokens=int(usage.get("prompt_tokens") or 0)),
        )

    def map_error(self, *, status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
        return _CHAT.map_error(status=status, body=body, headers=headers)
