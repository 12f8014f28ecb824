"""The record of a request's upstream attempts: one `Attempt` per call made or candidate
skipped, and the `AttemptLog` that sums them up (calls made, what the provider billed for the
attempts that failed). Stored with the usage event and summarised in the all-failed error."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.money import money_text
from llm.providers.contract import Usage

ZERO = Decimal(0)


@dataclass
class Attempt:
    model: str
    provider: str
    status: str  # ok | error | skipped
    kind: str = ""
    http_status: int | None = None
    latency_ms: int = 0
    usage: Usage | None = None  # only when the provider billed a failed attempt
    cost_usd: Decimal = ZERO
    note: str = ""
    credential_id: int | None = None  # the tenant's BYOK key used (its health, from ingestion)

    def as_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "model": self.model,
            "provider": self.provider,
            "status": self.status,
            "latency_ms": self.latency_ms,
        }
        if self.kind:
            item["kind"] = self.kind
        if self.http_status is not None:
            item["http_status"] = self.http_status
        if self.usage is not None:
            item.update(
                input_tokens=self.usage.input_tokens,
                output_tokens=self.usage.output_tokens,
                cached_tokens=self.usage.cached_tokens,
                cache_write_tokens=self.usage.cache_write_tokens,
                reasoning_tokens=self.usage.reasoning_tokens,
                cost_usd=money_text(self.cost_usd),
            )
        if self.note:
            item["note"] = self.note[:300]
        if self.credential_id is not None:
            item["credential_id"] = self.credential_id
        return item

    def describe(self) -> str:
        text = f"{self.model}: {self.status}"
        if self.kind:
            text += f" ({self.kind}"
            text += f" {self.http_status})" if self.http_status else ")"
        if self.note:
            text += f" - {self.note[:160]}"
        return text


@dataclass
class AttemptLog:
    attempts: list[Attempt] = field(default_factory=list)
    calls: int = 0  # upstream calls made (X-Tollgate-Attempts); a skipped candidate is no call
    upstream_seconds: float = 0.0  # time in upstream calls (the overhead metric: the rest)

    @property
    def billed_failed_cost(self) -> Decimal:
        """What the provider charged for failed attempts: billed even when the request fails."""
        return sum((a.cost_usd for a in self.attempts), ZERO)

    @property
    def billed_failed_tokens(self) -> int:
        return sum(
            a.usage.input_tokens + a.usage.output_tokens
            for a in self.attempts
            if a.cost_usd and a.usage is not None
        )

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None
