"""Gemini embeddings: `models/{model}:embedContent` for one input, `:batchEmbedContents` for
several (one request per input, answers in input order). `dimensions` is Gemini's
`outputDimensionality`. Gemini takes text only (no token arrays) and reports no token count.
"""

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from llm.providers.contract import EmbeddingResult, ProviderError, UpstreamRequest, Usage
from llm.providers.gemini import GeminiAdapter
from llm.providers.wire_helpers import request_headers

_CHAT = GeminiAdapter()


def _values(embedding: Any) -> list[float]:
    values = embedding.get("values") if isinstance(embedding, dict) else None
    if not isinstance(values, list) or not all(isinstance(x, int | float) for x in values):
        raise ProviderError("upstream embedding has no values", kind="malformed", retryable=True)
    return [float(x) for x in values]


class GeminiEmbeddingsAdapter:
    wire_format = "gemini"
    token_input = False

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
        name = model_id.removeprefix("models/")
        requests = []
        for text in inputs:
            if not isinstance(text, str):
                raise ProviderError("Gemini embeds text only", kind="bad_request", retryable=False)
            request: dict[str, Any] = {"content": {"parts": [{"text": text}]}}
            if dimensions is not None:
                request["outputDimensionality"] = dimensions
            requests.append(request)
        url = f"{base_url.rstrip('/')}/models/{quote(name, safe='-._')}"
        if len(requests) == 1:
            url, payload = url + ":embedContent", requests[0]
        else:
            payload = {"requests": [{"model": f"models/{name}", **r} for r in requests]}
            url += ":batchEmbedContents"
        return UpstreamRequest(
            method="POST",
            url=url,
            headers=request_headers(stream=False, auth_style=auth_style, api_key=api_key),
            json=payload,
        )

    def parse_response(self, *, payload: Mapping[str, Any], model: str) -> EmbeddingResult:
        if "embeddings" in payload:
            embeddings = payload["embeddings"]
            if not isinstance(embeddings, list) or not embeddings:
                raise ProviderError("upstream sent no embeddings", kind="malformed", retryable=True)
            vectors = [_values(item) for item in embeddings]
        else:
            vectors = [_values(payload.get("embedding"))]
        tokens = int((payload.get("usageMetadata") or {}).get("promptTokenCount") or 0)
        return EmbeddingResult(vectors=vectors, usage=Usage(input_tokens=tokens))

    def map_error(self, *, status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
        return _CHAT.map_error(status=status, body=body, headers=headers)
