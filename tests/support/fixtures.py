"""Pytest fixtures for the mock upstreams: one server per wire format per test module, reset
before each test. Import these into a conftest (tests/conftest.py does) or list this module in
`pytest_plugins` of the root conftest to use them anywhere.
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
