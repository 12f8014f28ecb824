"""What the gateway answers: the response value the views render, the contract headers
(X-Tollgate-*), error bodies, and the server-sent-event framing of streamed answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from core.errors import ApplicationError
from core.money import money_text

if TYPE_CHECKING:
    from gateway.services.context import RequestState

ZERO = Decimal(0)
SSE_DONE = b"data: [DONE]\n\n"


@dataclass
class GatewayResponse:
    """A finished answer (`body`) or a streamed one (`stream`), independent of Django or ASGI."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    content_type: str = "application/json"
    stream: AsyncGenerator[bytes, None] | None = None
    abandon: Callable[[], None] | None = None  # called when the client left before it was sent


def new_request_id() -> str:
    return uuid.uuid4().hex


def tollgate_headers(
    state: RequestState,
    *,
    model: str = "",
    provider: str = "",
    cost: Decimal = ZERO,
    fallback: bool = False,
    cache: str = "miss",
) -> dict[str, str]:
    """The contract headers of every chat completion answer, errors included."""
    return {
        "X-Tollgate-Request-Id": state.request_id,
        "X-Tollgate-Model": model or state.model_hint,
        "X-Tollgate-Provider": provider,
        "X-Tollgate-Cost-USD": money_text(cost),
        "X-Tollgate-Fallback": "true" if fallback else "false",
        "X-Tollgate-Attempts": str(state.log.calls),
        "X-Tollgate-Cache": cache,
    }


def error_response(exc: ApplicationError, headers: dict[str, str]) -> GatewayResponse:
    return GatewayResponse(
        status=exc.status, headers={**headers, **exc.headers}, body=orjson.dumps(exc.as_body())
    )


def internal_error_response(headers: dict[str, str]) -> GatewayResponse:
    """A 500 that says nothing about the failure (it is logged, not shown)."""
    exc = ApplicationError("Internal error.")
    exc.status, exc.code, exc.type = 500, "internal_error", "server_error"
    return error_response(exc, headers)


def sse_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def _in_one_write(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


def complete_response(
    *, status: int, headers: dict[str, str], body: bytes, content_type: str
) -> GatewayResponse:
    """An answer known in full (a replay, a cache hit): an event stream goes out as a stream
    of one write, so the client sees the same framing as a live stream."""
    if content_type.startswith("text/event-stream"):
        return GatewayResponse(
            status=status,
            headers=headers,
            content_type=content_type,
            stream=_in_one_write(body),
        )
    return GatewayResponse(status=status, headers=headers, body=body, content_type=content_type)
