"""The body of `POST /v1/embeddings` (OpenAI's shape), checked before anything is spent on it.

`input` is a string, a list of strings, one token array (a list of integers) or a list of token
arrays; `encoding_format` is `float` (the API's default) or `base64` (what the official SDKs
send: they decode it themselves); `dimensions` a positive integer the model must honour.
"""

from dataclasses import dataclass

import orjson

from core.errors import InvalidRequest
from gateway.services.context import ChatRequest
from gateway.services.request_parsing import requested_model_of
from llm.providers.sse import estimate_tokens

MAX_INPUTS = 2048  # OpenAI's limit per request
ENCODINGS = ("float", "base64")


@dataclass(frozen=True)
class EmbeddingInput:
    inputs: list[str] | list[list[int]]
    token_arrays: bool  # the input came as token ids rather than text
    dimensions: int | None
    encoding_format: str
    user: str | None

    @property
    def estimated_tokens(self) -> int:
        """Text at 4 characters a token, token arrays exactly: for holds and rate limits, and
        the billed count where the provider reports none (Gemini)."""
        if self.token_arrays:
            return sum(len(tokens) for tokens in self.inputs)
        return sum(estimate_tokens(len(text)) for text in self.inputs)


def parse_embedding_body(raw: bytes) -> tuple[ChatRequest, EmbeddingInput]:
    """The request as the pipeline carries it (a ChatRequest: model and body, never streamed)
    and the embedding fields themselves."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = requested_model_of(body=body)
    inputs, token_arrays = _inputs(body.get("input"))
    request = ChatRequest(
        body=body, requested_model=model.strip(), stream=False, include_usage=False
    )
    return request, EmbeddingInput(
        inputs=inputs,
        token_arrays=token_arrays,
        dimensions=_dimensions(body.get("dimensions")),
        encoding_format=_encoding(body.get("encoding_format")),
        user=_user(body.get("user")),
    )


def _inputs(value: object) -> tuple[list, bool]:
    if isinstance(value, str):
        if not value:
            raise InvalidRequest("'input' must not be empty.", extra={"param": "input"})
        return [value], False
    if not isinstance(value, list) or not value:
        raise InvalidRequest(
            "'input' must be a string, a list of strings or token arrays.",
            extra={"param": "input"},
        )
    if all(_is_token(item) for item in value):
        return [value], True
    if len(value) > MAX_INPUTS:
        raise InvalidRequest(
            f"'input' may hold at most {MAX_INPUTS} items.", extra={"param": "input"}
        )
    if all(isinstance(item, str) and item for item in value):
        return value, False
    if all(isinstance(item, list) and item and all(map(_is_token, item)) for item in value):
        return value, True
    raise InvalidRequest(
        "'input' must be a string, a list of non-empty strings, a token array or a list of "
        "token arrays (not a mix).",
        extra={"param": "input"},
    )


def _is_token(item: object) -> bool:
    return isinstance(item, int) and not isinstance(item, bool) and item >= 0


def _dimensions(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(
            "'dimensions' must be a positive integer.", extra={"param": "dimensions"}
        )
    return value


def _encoding(value: object) -> str:
    if value is None:
        return "float"
    if value not in ENCODINGS:
        raise InvalidRequest(
            "'encoding_format' must be 'float' or 'base64'.", extra={"param": "encoding_format"}
        )
    return str(value)


def _user(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 128:
        raise InvalidRequest(
            "'user' must be a string of at most 128 characters.", extra={"param": "user"}
        )
    return value or None
