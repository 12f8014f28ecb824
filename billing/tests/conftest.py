"""Billing test fixtures shared by the services and API tests."""

from billing.tests.services.statement_support import priced_catalog  # noqa: F401
