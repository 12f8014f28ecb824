"""One metered gateway request: the record the gateway hands to the usage buffer.

The gateway builds a `UsageRecord`; the buffer (billing.services.usage) carries it through the
Redis stream in its `to_dict()` form (plain JSON values: ids, decimal strings for money, an ISO
`created_at`), and the writer there maps it to a UsageEvent row. `from_dict` reads that form
back, including entries older gateways wrote, where every field but request_id, tenant_id,
status and created_at may be missing. No Django here: this is the contract between the two.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.money import money_text

REQUESTED_MODEL_MAX_CHARS = 260  # UsageEvent.requested_model
ROUTE_REASON_MAX_CHARS = 500  # UsageEvent.route_reason
END_USER_MAX_CHARS = 128  # UsageEvent.end_user (the gateway refuses longer ones)


@dataclass(frozen=True)
class UsageRecord:
    request_id: str
    tenant_id: int
    status: str  # a UsageEvent.Status value
    created_at: datetime
    api_key_id: int | None = None
    config_id: int | None = None
    requested_model: str = ""
    model: str = ""  # the served model's qualified id
    provider: str = ""
    key_source: str = "platform"  # platform | byok
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # part of input_tokens: cache reads
    cache_write_tokens: int = 0  # part of input_tokens: cache writes
    reasoning_tokens: int = 0  # part of output_tokens
    cost_usd: Decimal = Decimal(0)
    saved_usd: Decimal = Decimal(0)  # what a cache hit avoided
    latency_ms: int = 0
    fallback: bool = False
    attempts: tuple[dict[str, Any], ...] = ()
    route_reason: str = ""
    tags: tuple[str, ...] = ()
    error_code: str = ""
    end_user: str = ""  # the tenant's own customer; "" if the request named none

    def __post_init__(self) -> None:
        # Cut to the row's column widths here, so a client's long model string never travels
        # through the stream either (frozen: the dataclass way to normalise a field).
        requested_model = self.requested_model[:REQUESTED_MODEL_MAX_CHARS]
        object.__setattr__(self, "requested_model", requested_model)
        object.__setattr__(self, "route_reason", self.route_reason[:ROUTE_REASON_MAX_CHARS])
        object.__setattr__(self, "end_user", self.end_user[:END_USER_MAX_CHARS])

    def to_dict(self) -> dict[str, Any]:
        """The stream's wire form (orjson-serialisable)."""
        return {
            "request_id": self.request_id,
            "tenant_id": self.tenant_id,
            "api_key_id": self.api_key_id,
            "config_id": self.config_id,
            "requested_model": self.requested_model,
            "model": self.model,
            "provider": self.provider,
            "key_source": self.key_source,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_usd": money_text(self.cost_usd),
            "saved_usd": money_text(self.saved_usd),
            "latency_ms": self.latency_ms,
            "status": self.status,
            "fallback": self.fallback,
            "attempts": list(self.attempts),
            "route_reason": self.route_reason,
            "tags": list(self.tags),
            "error_code": self.error_code,
            "end_user": self.end_user,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "UsageRecord":
        """The record of a wire dict; KeyError, TypeError, ValueError or ArithmeticError when
        the entry is malformed."""
        return cls(
            request_id=data["request_id"],
            tenant_id=data["tenant_id"],
            status=data["status"],
            created_at=datetime.fromisoformat(data["created_at"]),
            api_key_id=data.get("api_key_id"),
            config_id=data.get("config_id"),
            requested_model=data.get("requested_model") or "",
            model=data.get("model") or "",
            provider=data.get("provider") or "",
            key_source=data.get("key_source") or "platform",
            input_tokens=int(data.get("input_tokens") or 0),
            output_tokens=int(data.get("output_tokens") or 0),
            cached_tokens=int(data.get("cached_tokens") or 0),
            cache_write_tokens=int(data.get("cache_write_tokens") or 0),
            reasoning_tokens=int(data.get("reasoning_tokens") or 0),
            cost_usd=Decimal(str(data.get("cost_usd") or "0")),
            saved_usd=Decimal(str(data.get("saved_usd") or "0")),
            latency_ms=int(data.get("latency_ms") or 0),
            fallback=bool(data.get("fallback")),
            attempts=tuple(data.get("attempts") or ()),
            route_reason=data.get("route_reason") or "",
            tags=tuple(data.get("tags") or ()),
            error_code=data.get("error_code") or "",
            end_user=data.get("end_user") or "",
        )
