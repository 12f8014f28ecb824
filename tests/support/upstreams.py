"""Pytest fixtures for the mock upstreams: one server per wire format per test module, reset
before each test. Registered in the root conftest's `pytest_plugins`, so any test can ask for
`openai_upstream`, `anthropic_upstream` or `gemini_upstream`.
"""

from collections.abc import Iterator

import pytest

from tests.support.mock_upstreams import MockUpstream


def _server(wire_format: str) -> Iterator[MockUpstream]:
    with MockUpstream(wire_format) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def _openai_upstream_server() -> Iterator[MockUpstream]:
    yield from _server("openai_chat")


@pytest.fixture(scope="module")
def _anthropic_upstream_server() -> Iterator[MockUpstream]:
    yield from _server("anthropic_messages")


@pytest.fixture(scope="module")
def _gemini_upstream_server() -> Iterator[MockUpstream]:
    yield from _server("gemini")


@pytest.fixture
def openai_upstream(_openai_upstream_server: MockUpstream) -> Iterator[MockUpstream]:
    _openai_upstream_server.reset()
    yield _openai_upstream_server
    _openai_upstream_server.reset()


@pytest.fixture
def anthropic_upstream(_anthropic_upstream_server: MockUpstream) -> Iterator[MockUpstream]:
    _anthropic_upstream_server.reset()
    yield _anthropic_upstream_server
    _anthropic_upstream_server.reset()


@pytest.fixture
def gemini_upstream(_gemini_upstream_server: MockUpstream) -> Iterator[MockUpstream]:
    _gemini_upstream_server.reset()
    yield _gemini_upstream_server
    _gemini_upstream_server.reset()
