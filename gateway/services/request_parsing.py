"""The client's request as the gateway takes it: the API key from `Authorization`, and the
chat completion body checked before anything is spent on it."""

from collections.abc import Mapping

import orjson

from core.errors import InvalidApiKey, InvalidRequest, PermissionDenied
from gateway.services import snapshots
from gateway.services.context import ChatRequest
from tenants.services import API_KEY_INVALID_MESSAGE

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def parse_chat_body(raw: bytes) -> ChatRequest:
    """The fields the gateway relies on are checked here; the rest is the adapters' to map."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = requested_model_of(body=body)
    _check_messages(body.get("messages"))
    _check_options(body)
    return ChatRequest(
        body=body,
        requested_model=model.strip(),
        stream=bool(body.get("stream")),
        include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
    )


def requested_model_of(*, body: Mapping) -> str:
    """The body's `model`, as sent: the chat path and the route preview refuse a missing or
    blank one in the same words."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest(
            "'model' is required: a catalog model id, 'auto' or the name of a routing config."
        )
    return model


def _check_messages(messages: object) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list.")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise InvalidRequest(
                f"messages[{i}] must be an object with a role ({', '.join(sorted(_ROLES))})."
            )


def _check_options(body: dict) -> None:
    if "stream" in body and not isinstance(body["stream"], bool | None):
        raise InvalidRequest("'stream' must be true or false.")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InvalidRequest(f"'{name}' must be a positive integer.")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidRequest(f"'{name}' must be a number.")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object.")


def _bearer(authorization: str | None) -> str:
    if not authorization:
        return ""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def authenticate(*, authorization: str | None) -> snapshots.KeyInfo:
    """The key behind `Authorization: Bearer tg_...`, which must have the `inference` scope.

    Only this header carries a key: a query parameter or a body field never does. Every refusal
    is the same 401 with the same words, whatever was sent."""
    secret = _bearer(authorization)
    info = await snapshots.key_info_get(secret=secret) if secret else None
    if info is None:
        raise InvalidApiKey(API_KEY_INVALID_MESSAGE)
    if "inference" not in info.scopes:
        raise PermissionDenied("This API key does not have the 'inference' scope.")
    snapshots.key_mark_used(key_id=info.key_id)
    return info
