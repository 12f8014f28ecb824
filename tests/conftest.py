"""Fixtures for the cross-app tests in tests/: the mock upstream servers (tests/support)."""

from tests.support.fixtures import (  # noqa: F401
    _anthropic_upstream_server,
    _gemini_upstream_server,
    _openai_upstream_server,
    anthropic_upstream,
    gemini_upstream,
    openai_upstream,
)
