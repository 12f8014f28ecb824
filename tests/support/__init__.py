"""Test support shared by every package: fixture plugins (tenancy, catalog, api, upstreams; the
root conftest registers them) and the mock upstream LLM servers (mock_upstreams/)."""
