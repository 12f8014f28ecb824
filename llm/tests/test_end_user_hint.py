"""The end user of a request: X-Tollgate-User, else body `user`, else `metadata.user_id`;
printable and at most 128 characters, else 400 naming where it came from."""

import pytest

from core.errors import InvalidRequest
from llm.services.routing_hints import routing_hints_from


def _user(body=None, headers=None):
    return routing_hints_from(body=body or {}, headers=headers or {}).user


def test_sources_in_order():
    body = {"user": "body-user", "metadata": {"user_id": "meta-user"}}
    assert _user(body, {"X-Tollgate-User": " header-user "}) == "header-user"
    assert _user(body, {"X-Tollgate-User": "  "}) == "body-user"
    assert _user({"metadata": {"user_id": "meta-user"}}) == "meta-user"
    assert _user({"user": ""}) is None
    assert _user({"user": "x" * 128}) == "x" * 128


@pytest.mark.parametrize(
    ("body", "headers", "named"),
    [
        ({"user": "x" * 129}, {}, "'user'"),
        ({"user": "tab\there"}, {}, "'user'"),
        ({"user": 42}, {}, "'user'"),
        ({}, {"x-tollgate-user": "a\x00b"}, "X-Tollgate-User"),
        ({"metadata": {"user_id": "é" * 129}}, {}, "'metadata.user_id'"),
    ],
)
def test_bad_end_user_is_invalid_request_naming_it(body, headers, named):
    with pytest.raises(InvalidRequest) as excinfo:
        _user(body, headers)
    assert named in excinfo.value.message
    assert excinfo.value.code == "invalid_request"
