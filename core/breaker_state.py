"""Where a circuit breaker's state is kept, and how to read it from sync code (the providers
health API, the /metrics scrape). The breaker itself is gateway/services/breaker.py; its keys
live here, below every app, so that the readers of the state need not import the gateway.

A breaker per (provider, credential) is a hash {failures, open_until} in Redis, or the same
fields as JSON in the embedded default's shared file: no state is `closed`; `open_until` in the
future is `open`; past it, the next request may probe (`half_open`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import orjson

from core.redis import get_redis
from core.shared_state import get_shared_state

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}  # the /metrics gauge's numbers


PLATFORM_CREDENTIAL = "platform"  # the credential part of a breaker on the platform's key


def byok_credential(credential_id: int) -> str:
    """The credential part of a breaker on a tenant's own key (never the key itself)."""
    return f"byok:{credential_id}"


def breaker_keys(provider: str, credential: str) -> tuple[str, str]:
    """The state hash and the half-open probe marker of one breaker."""
    base = f"tollgate:cb:{provider}:{credential}"
    return base, base + ":probe"


def breaker_state_of(open_until: float | None, *, now: float) -> str:
    if not open_until:
        return CLOSED
    return OPEN if now < open_until else HALF_OPEN


def breaker_states(*, breakers: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The state of each (provider, credential) breaker, in one round trip."""
    wanted = list(dict.fromkeys(breakers))
    now = time.time()
    client = get_redis()
    if client is None:
        store = get_shared_state()
        raws = [store.get(breaker_keys(*ident)[0]) for ident in wanted]
        opens = [orjson.loads(raw).get("open_until") if raw else None for raw in raws]
    else:
        pipe = client.pipeline(transaction=False)
        for ident in wanted:
            pipe.hget(breaker_keys(*ident)[0], "open_until")
        opens = pipe.execute()
    return {
        ident: breaker_state_of(float(value) if value else None, now=now)
        for ident, value in zip(wanted, opens, strict=True)
    }
