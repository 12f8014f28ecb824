"""Test support: mock upstream LLM servers and their pytest fixtures."""
