"""Wire format -> adapter. Vendors are data (a Provider row names its wire format), not code."""

from collections.abc import Mapping
from typing import Any

from llm.providers.anthropic_messages import AnthropicMessagesAdapter
from llm.providers.anthropic_native import AnthropicNativeAdapter, is_native
from llm.providers.contract import EmbeddingAdapter, ProviderAdapter
from llm.providers.gemini import GeminiAdapter
from llm.providers.gemini_embeddings import GeminiEmbeddingsAdapter
from llm.providers.openai_chat import OpenAIChatAdapter
from llm.providers.openai_embeddings import OpenAIEmbeddingsAdapter
from llm.providers.openai_responses import OpenAIResponsesAdapter, is_responses

ADAPTERS: dict[str, ProviderAdapter] = {
    adapter.wire_format: adapter
    for adapter in (OpenAIChatAdapter(), AnthropicMessagesAdapter(), GeminiAdapter())
}


_NATIVE_ANTHROPIC = AnthropicNativeAdapter()
_NATIVE_RESPONSES = OpenAIResponsesAdapter()


def get_adapter(
    wire_format: str, *, body: Mapping[str, Any] | None = None, responses_api: bool = False
) -> ProviderAdapter:
    """The adapter of a wire format; for a body that came through /v1/messages, Anthropic's
    native one, and through /v1/responses, OpenAI's Responses one when the provider speaks it
    (`responses_api`): the client's request and the provider's answer pass through unchanged."""
    if body is not None and wire_format == _NATIVE_ANTHROPIC.wire_format and is_native(body):
        return _NATIVE_ANTHROPIC
    native_responses = responses_api and wire_format == _NATIVE_RESPONSES.wire_format
    if body is not None and native_responses and is_responses(body):
        return _NATIVE_RESPONSES
    try:
        return ADAPTERS[wire_format]
    except KeyError:
        raise ValueError(f"no adapter for wire format {wire_format!r}") from None


EMBEDDING_ADAPTERS: dict[str, EmbeddingAdapter] = {
    adapter.wire_format: adapter
    for adapter in (OpenAIEmbeddingsAdapter(), GeminiEmbeddingsAdapter())
}


def get_embedding_adapter(wire_format: str) -> EmbeddingAdapter:
    """The embeddings side of a wire format (Anthropic has none)."""
    try:
        return EMBEDDING_ADAPTERS[wire_format]
    except KeyError:
        raise ValueError(f"no embeddings adapter for wire format {wire_format!r}") from None
