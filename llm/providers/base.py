"""Transition: the adapter contract and its helpers moved to contract, errors, sse, wire_helpers
and openai_shapes; these names stay importable here until the lead moves their importers."""

from llm.providers.contract import ProviderError, Usage  # transition: lead moves importers  # noqa: F401
from llm.providers.openai_shapes import usage_to_openai  # transition: lead moves importers  # noqa: F401
from llm.providers.wire_helpers import parse_json_body  # transition: lead moves importers  # noqa: F401
