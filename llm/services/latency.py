"""Observed upstream latency per model: refines the router's `speed` priority within a tier.

An exponentially weighted moving average of successful attempts, kept per process on purpose:
no extra round trip on the hot path, and each worker learns from its own traffic within a few
requests. For a stream the latency is the time to its first content, what a user waits for.
"""

from collections.abc import Mapping
from types import MappingProxyType

WEIGHT_OF_NEW = 0.2
_MAX_MODELS = 10_000

_average: dict[str, float] = {}
_view = MappingProxyType(_average)


def latency_observe(*, model: str, latency_ms: float) -> None:
    """Fold one successful attempt into the model's average. The table is bounded: it starts
    over at _MAX_MODELS ids, so a stream of unknown ids cannot grow it without end."""
    previous = _average.get(model)
    if previous is None:
        if len(_average) >= _MAX_MODELS:
            _average.clear()
        _average[model] = float(latency_ms)
    else:
        _average[model] = previous + WEIGHT_OF_NEW * (latency_ms - previous)


def latency_by_model() -> Mapping[str, float]:
    """A read-only live view (qualified model id -> average ms), for route_request()."""
    return _view


def latency_reset_local() -> None:
    """Forget this process's averages (between tests)."""
    _average.clear()
