"""Wire format -> adapter. Vendors are data (a Provider row names its wire format), not code."""

from llm.providers.anthropic_messages import AnthropicMessagesAdapter
from llm.providers.contract import ProviderAdapter
from llm.providers.gemini import GeminiAdapter
from llm.providers.openai_chat import OpenAIChatAdapter

ADAPTERS: dict[str, ProviderAdapter] = {
    adapter.wire_format: adapter
    for adapter in (OpenAIChatAdapter(), AnthropicMessagesAdapter(), GeminiAdapter())
}


def get_adapter(wire_format: str) -> ProviderAdapter:
    try:
        return ADAPTERS[wire_format]
    except KeyError:
        raise ValueError(f"no adapter for wire format {wire_format!r}") from None
