"""The typed context of one chat completion request.

Set once: `ChatRequest` (what the client's body asks for, once parsed) and `RequestInput`
(everything admission established: key, routing decision, tenant snapshot, deadline, cache
key). Mutable: `RequestState`, what the request holds and records while it runs (its attempt
log, budget reservation, idempotency claim), and how far admission got, which is what a failure
can still name in its headers, log line and usage event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.services.attempt_log import AttemptLog

if TYPE_CHECKING:
    from billing.services.reservation import Reservation
    from gateway.services.idempotency import IdempotencyClaim
    from gateway.services.similarity_probe import SimilarityProbe
    from gateway.services.snapshots import KeyInfo, TenantSnapshot
    from llm.services.request_features import RequestFeatures
    from llm.services.router import RouteDecision
    from llm.services.routing_hints import RoutingHints
    from llm.services.routing_snapshots import ModelInfo


@dataclass(frozen=True)
class ChatRequest:
    body: dict[str, Any]  # the client's JSON body, validated
    requested_model: str  # `model` as sent, stripped: a catalog id, `auto` or a config name
    stream: bool
    include_usage: bool  # stream_options.include_usage: the tokens in the stream's last chunk


@dataclass(frozen=True)
class RequestInput:
    request_id: str
    started: float  # time.monotonic() on arrival
    key: KeyInfo
    chat: ChatRequest
    hints: RoutingHints
    features: RequestFeatures
    snapshot: TenantSnapshot
    decision: RouteDecision
    body: dict[str, Any]  # what goes upstream: the client's fields over the config's params
    deadline: float  # time.monotonic() by which the answer must be complete
    cache_ref: str | None  # the response-cache key when the config caches
    similarity: SimilarityProbe | None = None  # the similarity cache missed: store the answer

    @property
    def stores_answers(self) -> bool:
        """Whether an answer fills a cache (exact or similarity): a stream is then assembled."""
        return self.cache_ref is not None or self.similarity is not None

    def is_fallback(self, model: ModelInfo) -> bool:
        return model.qualified_id != self.decision.candidates[0].qualified_id


@dataclass
class RequestState:
    request_id: str
    started: float  # time.monotonic() on arrival
    key: KeyInfo | None = None  # once authenticated
    chat: ChatRequest | None = None  # once the body parsed
    hints: RoutingHints | None = None  # once the routing hints parsed
    admitted: RequestInput | None = None  # once routed
    log: AttemptLog = field(default_factory=AttemptLog)
    reservation: Reservation | None = None  # the budget hold, until settled or released
    claim: IdempotencyClaim | None = None  # the Idempotency-Key, until finished or aborted

    @property
    def latency_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    @property
    def model_hint(self) -> str:
        """The model headers and log name while none has answered: the first candidate once
        routed, else what the client asked for."""
        if self.admitted is not None:
            return self.admitted.decision.candidates[0].qualified_id
        if self.chat is not None:
            return self.chat.requested_model[:200]
        return ""
