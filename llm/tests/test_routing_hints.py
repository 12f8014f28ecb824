"""Routing hints from headers and body metadata, and the bounds on them."""

import pytest

from core.errors import InvalidRequest
from llm.services.routing_hints import RoutingHints, routing_hints_from


def test_hints_from_headers():
    hints = routing_hints_from(
        body={"user": "u-42", "metadata": {"task": "ignored", "tags": ["meta"]}},
        headers={
            "x-tollgate-task": " code ",
            "X-TOLLGATE-PRIORITY": "Speed",
            "X-Tollgate-Tags": "a, b,,A",
        },
    )
    assert hints == RoutingHints(
        task="code", tags=("a", "b", "meta"), priority="speed", user="u-42"
    )


def test_hints_from_metadata():
    hints = routing_hints_from(
        body={"metadata": {"task": "sql", "tags": "x,y", "priority": "cost"}}, headers={}
    )
    assert hints == RoutingHints(task="sql", tags=("x", "y"), priority="cost")
    assert routing_hints_from(body={}, headers={}) == RoutingHints()


@pytest.mark.parametrize(
    ("body", "headers", "match"),
    [
        ({}, {"X-Tollgate-Priority": "fastest"}, "cost, speed, quality, balanced"),
        ({"metadata": "code"}, {}, "'metadata' must be an object"),
        ({"metadata": {"tags": 5}}, {}, "metadata.tags"),
        ({"metadata": {"task": 5}}, {}, "metadata.task"),
        ({}, {"X-Tollgate-Tags": ",".join(f"t{i}" for i in range(21))}, "At most 20 tags"),
        ({}, {"X-Tollgate-Tags": "x" * 65}, "longer than 64"),
        ({}, {"X-Tollgate-Task": "x" * 65}, "longer than 64"),
    ],
)
def test_bad_hints(body, headers, match):
    with pytest.raises(InvalidRequest, match=match):
        routing_hints_from(body=body, headers=headers)
