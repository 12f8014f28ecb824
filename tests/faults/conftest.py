"""The fault tests' in-process gateway: the integration tests' uvicorn thread, mock catalog and
tenant (`gw`), shared from tests/integration/conftest.py rather than defined twice."""

from tests.integration.conftest import (  # noqa: F401  (fixtures, registered by import)
    _fresh_gateway_state,
    gateway_server,
    gw,
    mock_catalog,
)
