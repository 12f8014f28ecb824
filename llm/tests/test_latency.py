"""Observed latency: a moving average per model, per process."""

from llm.services.latency import latency_by_model, latency_observe


def test_latency_is_a_moving_average_per_model():
    latency_observe(model="a/x", latency_ms=100)
    assert latency_by_model()["a/x"] == 100
    latency_observe(model="a/x", latency_ms=600)
    assert latency_by_model()["a/x"] == 200  # 100 + 0.2 x (600 - 100)
    latency_observe(model="b/y", latency_ms=5)
    assert dict(latency_by_model()) == {"a/x": 200, "b/y": 5}
