"""What one candidate is sent of the request's body: the checks and trims that depend on the
model serving it rather than on the request alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core.errors import UnsupportedFeature
from llm.providers.anthropic_native import is_native
from llm.providers.cache_markers import without_cache_control
from llm.providers.openai_responses import is_responses
from llm.providers.responses_inbound import native_only_feature

if TYPE_CHECKING:
    from llm.services.routing_snapshots import ModelInfo


def translation_refusal(*, model: ModelInfo, body: Mapping[str, Any]) -> UnsupportedFeature | None:
    """Why `model` cannot serve a Responses request that needs OpenAI's own Responses API
    (stored state, built-in tools): it would serve it through translation and drop the feature.
    None when it can (natively, or nothing in the request needs that)."""
    if not is_responses(body) or (model.responses_api and model.wire_format == "openai_chat"):
        return None
    needed = native_only_feature(body)
    if needed is None:
        return None
    feature, param = needed
    return UnsupportedFeature(
        f"{feature} is not supported by {model.qualified_id}: only OpenAI models served "
        "through the Responses API can honour it.",
        param=param,
    )


def upstream_body(*, model: ModelInfo, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The body for `model`: refused when it would lose a feature (`translation_refusal`); a
    reasoning effort translated from Anthropic's `thinking` goes only to reasoning models;
    cache markers only to providers that accept them."""
    refusal = translation_refusal(model=model, body=body)
    if refusal is not None:
        raise refusal
    if model.wire_format != "openai_chat":
        return body
    if "reasoning_effort" in body and is_native(body) and "reasoning" not in model.capabilities:
        # Anthropic `thinking` asked for it: a model without reasoning would refuse the field.
        body = {name: value for name, value in body.items() if name != "reasoning_effort"}
    return body if model.accepts_cache_control else without_cache_control(body)
